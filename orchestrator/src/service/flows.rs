//! Flows: storing versions, activating (which opens the runs of segment entries that admit once),
//! pausing, and the secret that signs entries.
//!
//! Only a compiled flow is stored: a document is compiled and checked against the workspace
//! policy before it is written, in its canonical form.

use flows::{CompiledFlow, Policy};
use serde_json::Value;

use super::{Error, Result, Services};
use crate::store::flows::{self as flow_store, FlowRow};
use crate::store::{inbox, matches, runs};

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
/// segment entries that admit once (resuming a paused flow does not admit it again), and events
/// that reached its journeys while it was paused are applied. Scheduled runs count from now: a
/// run that fell due while the flow was paused does not run. A version whose segment entries
/// name a saved segment that does not exist is not activated. Returns the flow and how many
/// entered.
pub async fn activate(s: &Services, raw: &str) -> Result<(FlowRow, u64)> {
    let id = flow_id(raw)?;
    if let Some(row) = flow_store::get(&s.db, id).await? {
        let compiled = s
            .flows
            .get(&s.db, id, row.active_version.unwrap_or(row.version))
            .await?;
        saved_segments_exist(s, &compiled).await?;
    }
    let now = s.clock.now();
    let (row, runs) = crate::db::in_write(&s.db, async |tx| {
        let row = flow_store::set_status(tx, id, true, now)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no flow with id {id}")))?;
        let version = row.active_version.unwrap_or(row.version);
        let compiled = s.flows.get(tx, id, version).await?;
        inbox::release_held_events(tx, id).await?;
        let runs = if flow_store::first_admission(tx, id, version).await? {
            super::campaigns::open_activation_runs(tx, (id, version), &compiled, now).await?
        } else {
            Vec::new()
        };
        Ok::<_, Error>((row, runs))
    })
    .await?;
    // Committed first: should this process stop now, the scheduler admits the runs.
    let entered = super::campaigns::admit_now(s, &runs).await?;
    s.engine.notify_one();
    s.scheduler.notify_one();
    Ok((row, entered))
}

/// Every saved segment the flow's segment entries name exists: a misspelt or deleted one is
/// refused (naming the node and the field) rather than admitting no one.
async fn saved_segments_exist(s: &Services, compiled: &CompiledFlow) -> Result<()> {
    let mut problems = Vec::new();
    for audience in flows::entry::audiences(compiled) {
        let e = audience.entry;
        for name in audience.condition().segments() {
            let one = flows::condition::Condition::Segment(name.to_string());
            let Err(Error::Fields(found)) = super::segments::resolve_saved(s, &one).await else {
                continue;
            };
            let field = [("segments", &e.segments), ("exclude_segments", &e.exclude_segments)]
                .iter()
                .find_map(|(key, names)| names.iter().position(|n| n == name).map(|i| format!("{key}[{i}]")))
                .unwrap_or_else(|| "condition".to_string());
            problems.extend(found.into_iter().map(|(_, message)| flows::Problem {
                node: Some(audience.node.id.clone()),
                field: Some(field.clone()),
                message,
                line: None,
                column: None,
            }));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(flows::Problems(problems).into())
    }
}

/// Pauses the flow: its journeys wait, events for them are held until it is active again, and
/// runs under way stop (what they had not admitted is not admitted later); `on: match` entries
/// start afresh when it is active again (who matches then is taken as already matching).
pub async fn pause(s: &Services, raw: &str) -> Result<FlowRow> {
    let id = flow_id(raw)?;
    let now = s.clock.now();
    crate::db::in_write(&s.db, async |tx| {
        let row = flow_store::set_status(tx, id, false, now)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no flow with id {id}")))?;
        runs::stop_running(tx, id, now).await?;
        matches::forget(tx, id).await?;
        Ok::<_, Error>(row)
    })
    .await
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
