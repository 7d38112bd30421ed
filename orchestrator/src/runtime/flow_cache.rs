//! Compiled flow versions, compiled once per process and shared by the engine and the API;
//! and, for versions whose branches name saved segments, the version as it runs now: with each
//! segment's condition put in place as last read ([`FlowCache::runnable`]). A version never
//! changes; a segment may, so the engine reads the segments before each pass that steps such a
//! version ([`FlowCache::refresh_segments`]) and a changed segment is put in place again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use flows::CompiledFlow;
use flows::condition::Condition;
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
    resolved: RwLock<Resolved>,
}

/// The saved segments as last read (by id and by name), and the versions resolved against them.
#[derive(Debug, Default)]
struct Resolved {
    segments: BTreeMap<String, Condition>,
    flows: HashMap<(i64, i64), Arc<CompiledFlow>>,
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

    /// The version as a step runs it: [`FlowCache::get`], with the saved segments its branches
    /// name put in place as last read. A branch naming a segment that no longer exists makes
    /// the version unusable (its journeys fail, saying which), never a silent "no".
    pub async fn runnable(
        &self,
        c: &impl ConnectionTrait,
        flow: i64,
        version: i64,
    ) -> Result<Arc<CompiledFlow>, Error> {
        let compiled = self.get(c, flow, version).await?;
        if !compiled.reads_segments() {
            return Ok(compiled);
        }
        if let Some(f) = self
            .resolved
            .read()
            .expect("flow cache lock")
            .flows
            .get(&(flow, version))
        {
            return Ok(f.clone());
        }
        let mut resolved = self.resolved.write().expect("flow cache lock");
        let segments = &resolved.segments;
        let runs = compiled
            .with_segments(&|key| segments.get(key).cloned())
            .map_err(|problems| Error::Broken {
                flow,
                version,
                problems,
            })?;
        let runs = Arc::new(runs);
        resolved.flows.insert((flow, version), runs.clone());
        Ok(runs)
    }

    /// Reads the saved segments when any of `used` has a branch naming one, so that the pass
    /// about to step them sees each segment as it is now (one query, and only then). Says
    /// whether it read them.
    pub async fn refresh_segments(&self, c: &impl ConnectionTrait, used: &[Arc<CompiledFlow>]) -> Result<bool, Error> {
        if !used.iter().any(|f| f.reads_segments()) {
            return Ok(false);
        }
        let segments = store::segments::conditions(c).await?;
        let mut resolved = self.resolved.write().expect("flow cache lock");
        if resolved.segments != segments {
            resolved.segments = segments;
            resolved.flows.clear();
        }
        Ok(true)
    }
}
