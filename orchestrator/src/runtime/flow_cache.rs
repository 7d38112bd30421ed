//! Compiled flow versions, compiled once per process and shared by the engine and the API.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use flows::CompiledFlow;
use sea_orm::ConnectionTrait;

use crate::store::{self, flows as flow_store};

/// Why a flow version cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("flow {flow} version {version} is missing")]
    Missing { flow: i64, version: i64 },
    #[error("flow {flow} version {version} no longer compiles: {problems}")]
    Broken {
        flow: i64,
        version: i64,
        #[source]
        problems: flows::Problems,
    },
}

impl Error {
    /// The version itself cannot run (missing or no longer compiling), as opposed to the
    /// database failing to read it: journeys on it fail, and its entries are skipped.
    pub fn is_unusable(&self) -> bool {
        !matches!(self, Error::Store(_))
    }
}

/// Compiled flow versions, compiled once per process. Versions never change once written.
#[derive(Debug, Default)]
pub struct FlowCache {
    compiled: RwLock<HashMap<(i64, i64), Arc<CompiledFlow>>>,
}

impl FlowCache {
    pub async fn get(&self, c: &impl ConnectionTrait, flow: i64, version: i64) -> Result<Arc<CompiledFlow>, Error> {
        if let Some(f) = self.compiled.read().expect("flow cache lock").get(&(flow, version)) {
            return Ok(f.clone());
        }
        let text = flow_store::definition(c, flow, version)
            .await?
            .ok_or(Error::Missing { flow, version })?;
        let compiled = Arc::new(CompiledFlow::from_json(&text).map_err(|problems| Error::Broken {
            flow,
            version,
            problems,
        })?);
        self.compiled
            .write()
            .expect("flow cache lock")
            .insert((flow, version), compiled.clone());
        Ok(compiled)
    }
}
