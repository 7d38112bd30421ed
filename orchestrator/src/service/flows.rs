//! Flows: storing versions, activating (which admits the audiences of segment entries),
//! pausing, and the secret that signs entries.
//!
//! Only a compiled flow is stored: a document is compiled and checked against the workspace
//! policy before it is written, in its canonical form.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use flows::{CompiledFlow, Policy};
use sea_orm::ConnectionTrait;
use serde_json::Value;

use super::{Error, Result, Services};
use crate::store::flows::{self as flow_store, FlowRow};
use crate::store::{counts, inbox, tokens};

/// Compiles a flow document and checks it against the workspace policy (its calendars);
/// returns the flow and its canonical text, as stored.
pub fn compile(policy: &Policy, document: Value) -> Result<(CompiledFlow, String)> {
    let flow = flows::compile::compile_value(document)?;
    policy.check_flow(&flow)?;
    let text = serde_json::to_string(flow.definition()).map_err(|e| Error::Inconsistent {
        what: "a compiled flow could not be written as JSON".into(),
        source: Some(Box::new(e)),
    })?;
    Ok((flow, text))
}

/// Stores a new flow as version 1, a draft; returns its id.
pub async fn create(s: &Services, document: Value) -> Result<i64> {
    let (flow, text) = compile(&s.policy, document)?;
    let now = s.clock.now();
    let id = crate::db::in_write(&s.db, async |tx| flow_store::create(tx, flow.name(), &text, now).await).await?;
    Ok(id)
}

/// The flow with this id (as given in a path), or 404.
pub async fn existing(s: &Services, raw: &str) -> Result<FlowRow> {
    let id = flow_id(raw)?;
    flow_store::get(&s.db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no flow with id {id}")))
}

/// A flow id as given in a path; one that is not a number names no flow.
pub fn flow_id(raw: &str) -> Result<i64> {
    raw.parse()
        .map_err(|_| Error::NotFound(format!("no flow with id '{raw}'")))
}

/// The newest version's definition, as re-importable JSON.
pub async fn newest_definition(s: &Services, raw: &str) -> Result<Value> {
    let flow = existing(s, raw).await?;
    let text = flow_store::definition(&s.db, flow.id, flow.version)
        .await?
        .ok_or_else(|| Error::Inconsistent {
            what: format!("flow {} has no version {}", flow.id, flow.version),
            source: None,
        })?;
    serde_json::from_str(&text).map_err(|e| Error::Inconsistent {
        what: format!("flow {} version {} is not JSON", flow.id, flow.version),
        source: Some(Box::new(e)),
    })
}

/// Stores a new version of `flow`; returns the version.
pub async fn update(s: &Services, flow: &FlowRow, document: Value) -> Result<i64> {
    let (compiled, text) = compile(&s.policy, document)?;
    let now = s.clock.now();
    // One writer at a time: the version number is read and written in the same transaction.
    crate::db::in_write(&s.db, async |tx| {
        flow_store::add_version(tx, flow.id, compiled.name(), &text, now).await
    })
    .await?
    .ok_or_else(|| Error::NotFound(format!("no flow with id {}", flow.id)))
}

/// Activates the newest version; the first activation of a version admits the audience of its
/// segment entries (resuming a paused flow does not admit it again), and events that reached
/// its journeys while it was paused are applied. Returns the flow and how many entered.
pub async fn activate(s: &Services, raw: &str) -> Result<(FlowRow, u64)> {
    let id = flow_id(raw)?;
    let now = s.clock.now();
    let (row, entered) = crate::db::in_write(&s.db, async |tx| {
        let row = flow_store::set_status(tx, id, true, now)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no flow with id {id}")))?;
        let version = row.active_version.unwrap_or(row.version);
        let compiled = s.flows.get(tx, id, version).await?;
        inbox::release_held_events(tx, id).await?;
        let entered = if flow_store::first_admission(tx, id, version).await? {
            admit_audiences(tx, (id, version), &compiled, now).await?
        } else {
            0
        };
        Ok::<_, Error>((row, entered))
    })
    .await?;
    s.engine.notify_one();
    Ok((row, entered))
}

/// Enters the audience of every segment entry of `flow` (a `(flow id, version)` compiled as
/// `compiled`) and counts them at their nodes; returns how many entered. Call it last in the
/// transaction: it takes the shared counter rows (see `counts::count_here`).
pub async fn admit_audiences(
    c: &impl ConnectionTrait,
    (flow_id, version): (i64, i64),
    compiled: &CompiledFlow,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut entered = 0;
    let mut arrivals = BTreeMap::new();
    for segment in flows::entry::audiences(compiled) {
        let audience = tokens::AudienceEntry {
            flow_id,
            version,
            entry_node: &segment.node.id,
            list: segment.entry.list.as_deref(),
            reentry: compiled.definition().reentry,
            now,
        };
        let n = tokens::enter_audience(c, audience).await?;
        arrivals.insert((flow_id, segment.node.id.clone()), n as i64);
        entered += n;
    }
    counts::count_here(c, arrivals).await?;
    Ok(entered)
}

/// Pauses the flow: its journeys wait, and events for them are held until it is active again.
pub async fn pause(s: &Services, raw: &str) -> Result<FlowRow> {
    let id = flow_id(raw)?;
    flow_store::set_status(&s.db, id, false, s.clock.now())
        .await?
        .ok_or_else(|| Error::NotFound(format!("no flow with id {id}")))
}

/// Sets (or with `None` clears) the secret that signs entries into the flow.
pub async fn set_secret(s: &Services, raw: &str, secret: Option<&str>) -> Result<i64> {
    let id = flow_id(raw)?;
    if secret.is_some_and(|s| s.len() < 16) {
        return Err(Error::field("secret", "must be at least 16 characters"));
    }
    if !flow_store::set_secret(&s.db, id, secret, s.clock.now()).await? {
        return Err(Error::NotFound(format!("no flow with id {id}")));
    }
    Ok(id)
}
