//! Flows: storing versions, activating (which opens the runs of segment entries that admit once),
//! pausing, and the secret that signs entries; and what the journey editor reads and keeps:
//! a document checked without storing it, the draft being edited (any JSON object, kept until
//! it is published as a version), the versions, who waits at a node, and how many journeys
//! took each labelled edge.
//!
//! Only a compiled flow is stored: a document is compiled and checked against the workspace
//! policy before it is written, in its canonical form.

use chrono::{DateTime, Utc};
use flows::{CompiledFlow, Policy};
use serde::Serialize;
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
    let _steady = s.policy.steady().await;
    let (flow, text) = compile(&s.policy.get(), document)?;
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
    let _steady = s.policy.steady().await;
    let (compiled, text) = compile(&s.policy.get(), document)?;
    let now = s.clock.now();
    // One writer at a time: the version number is read and written in the same transaction.
    // Publishing ends the draft: it is deleted with the version's write.
    crate::db::in_write(&s.db, async |tx| {
        let version = flow_store::add_version(tx, flow.id, compiled.name(), &text, now).await?;
        if version.is_some() {
            flow_store::delete_draft(tx, flow.id).await?;
        }
        Ok::<_, Error>(version)
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
    // The policy may have changed since the version was stored: it must still fit (its
    // calendars), and it cannot change until the flow is active.
    let steady = s.policy.steady().await;
    if let Some(row) = flow_store::get(&s.db, id).await? {
        if row.status == "archived" {
            return Err(archived(&row));
        }
        let compiled = s
            .flows
            .get(&s.db, id, row.active_version.unwrap_or(row.version))
            .await?;
        saved_segments_exist(s, &compiled).await?;
        // Activation puts the newest version in force.
        let newest = s.flows.get(&s.db, id, row.version).await?;
        s.policy.get().check_flow(&newest)?;
    }
    let now = s.clock.now();
    let (row, runs) = crate::db::in_write(&s.db, async |tx| {
        let row = match flow_store::set_status(tx, id, true, now).await? {
            Some(row) => row,
            None => match flow_store::get(tx, id).await? {
                Some(row) => return Err(archived(&row)),
                None => return Err(Error::NotFound(format!("no flow with id {id}"))),
            },
        };
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
    drop(steady);
    // Committed first: should this process stop now, the scheduler admits the runs.
    let entered = super::campaigns::admit_now(s, &runs).await?;
    s.engine.notify_one();
    s.scheduler.notify_one();
    Ok((row, entered))
}

/// Every saved segment the flow's segment entries and branches name exists: a misspelt or deleted one is
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
    for (node, name) in compiled.branch_segments() {
        let one = flows::condition::Condition::Segment(name.to_string());
        if let Err(Error::Fields(found)) = super::segments::resolve_saved(s, &one).await {
            problems.extend(found.into_iter().map(|(_, message)| flows::Problem {
                node: Some(node.to_string()),
                field: Some("condition".into()),
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
        let Some(row) = flow_store::set_status(tx, id, false, now).await? else {
            // An archived flow is already at rest: pausing it changes nothing.
            return flow_store::get(tx, id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no flow with id {id}")));
        };
        runs::stop_running(tx, id, now).await?;
        matches::forget(tx, id).await?;
        Ok::<_, Error>(row)
    })
    .await
}

fn archived(row: &FlowRow) -> Error {
    Error::Conflict(format!(
        "flow '{}' is archived: restore it before activating it",
        row.name
    ))
}

/// Archives a flow that is not active: it leaves the journeys list (`GET /api/flows?archived=true`
/// lists it), cannot be activated until restored, and its journeys wait as when paused; its
/// history stays. 409 while it is active.
pub async fn archive(s: &Services, raw: &str) -> Result<FlowRow> {
    let flow = existing(s, raw).await?;
    let now = s.clock.now();
    flow_store::set_archived(&s.db, flow.id, true, now)
        .await?
        .ok_or_else(|| Error::Conflict(format!("flow '{}' is active: pause it before archiving it", flow.name)))
}

/// Restores an archived flow to the list, paused (or a draft when it never ran).
pub async fn restore(s: &Services, raw: &str) -> Result<FlowRow> {
    let flow = existing(s, raw).await?;
    let now = s.clock.now();
    flow_store::set_archived(&s.db, flow.id, false, now)
        .await?
        .ok_or_else(|| Error::Conflict(format!("flow '{}' is not archived", flow.name)))
}

/// Deletes a journey that was never activated (a draft, a try), with its versions and draft.
/// One that was activated stays, paused or not: its journeys, journal and messages name it.
pub async fn delete(s: &Services, raw: &str) -> Result<()> {
    let flow = existing(s, raw).await?;
    let kept = || {
        Error::Conflict(format!(
            "flow '{}' has been activated: its journeys and their history keep it; pause it instead",
            flow.name
        ))
    };
    if flow.active_version.is_some() {
        return Err(kept());
    }
    let id = flow.id;
    // Checked again where it is deleted: an activation may have come in between.
    let gone = crate::db::in_write(&s.db, async |tx| {
        Ok::<_, Error>(flow_store::delete_never_activated(tx, id).await?)
    })
    .await?;
    if gone { Ok(()) } else { Err(kept()) }
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

/// Every problem of a flow document, each located, as `create` and `update` would refuse it:
/// empty when it would be stored.
pub fn validate(policy: &Policy, document: Value) -> Vec<flows::Problem> {
    match compile(policy, document) {
        Ok(_) => Vec::new(),
        Err(Error::Flow(problems)) => problems.0,
        Err(e) => vec![flows::Problem {
            node: None,
            field: None,
            message: e.to_string(),
            line: None,
            column: None,
        }],
    }
}

/// The flow's draft and when it was saved; not found when it has none.
pub async fn draft(s: &Services, raw: &str) -> Result<(Value, DateTime<Utc>)> {
    let flow = existing(s, raw).await?;
    let (text, saved_at) = flow_store::draft(&s.db, flow.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("flow {} has no draft", flow.id)))?;
    let document = serde_json::from_str(&text).map_err(|e| Error::Inconsistent {
        what: format!("the draft of flow {} is not JSON", flow.id),
        source: Some(Box::new(e)),
    })?;
    Ok((document, saved_at))
}

/// Saves the flow's draft (any JSON object: it need not compile), replacing the one before.
pub async fn save_draft(s: &Services, raw: &str, document: &Value) -> Result<DateTime<Utc>> {
    if !document.is_object() {
        return Err(Error::field("body", "must be a JSON object"));
    }
    let flow = existing(s, raw).await?;
    let now = s.clock.now();
    flow_store::save_draft(&s.db, flow.id, &document.to_string(), now).await?;
    Ok(now)
}

/// Deletes the flow's draft; deleting one that is not there is no error.
pub async fn delete_draft(s: &Services, raw: &str) -> Result<()> {
    let flow = existing(s, raw).await?;
    flow_store::delete_draft(&s.db, flow.id).await?;
    Ok(())
}

/// One version as the version list shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionSummary {
    pub version: i64,
    pub created_at: DateTime<Utc>,
    /// The version new entries use: the flow is active and this is its active version.
    pub active: bool,
    /// The flow's name in this version.
    pub name: String,
    /// How many nodes this version has.
    pub nodes: usize,
}

/// Every version of the flow, newest first.
pub async fn versions(s: &Services, raw: &str) -> Result<Vec<VersionSummary>> {
    let flow = existing(s, raw).await?;
    let live = (flow.status == "active").then_some(flow.active_version).flatten();
    let rows = flow_store::versions(&s.db, flow.id).await?;
    rows.into_iter()
        .map(|row| {
            let definition: Value = serde_json::from_str(&row.definition).map_err(|e| Error::Inconsistent {
                what: format!("flow {} version {} is not JSON", flow.id, row.version),
                source: Some(Box::new(e)),
            })?;
            Ok(VersionSummary {
                version: row.version,
                created_at: row.created_at,
                active: live == Some(row.version),
                name: definition["name"].as_str().unwrap_or_default().to_string(),
                nodes: definition["nodes"].as_array().map_or(0, Vec::len),
            })
        })
        .collect()
}

/// One version's definition, as re-importable JSON; not found for a version that is not there.
pub async fn version(s: &Services, raw: &str, version: &str) -> Result<Value> {
    let flow = existing(s, raw).await?;
    let unknown = || Error::NotFound(format!("flow {} has no version '{version}'", flow.id));
    let number: i64 = version.parse().map_err(|_| unknown())?;
    let text = flow_store::definition(&s.db, flow.id, number)
        .await?
        .ok_or_else(unknown)?;
    serde_json::from_str(&text).map_err(|e| Error::Inconsistent {
        what: format!("flow {} version {number} is not JSON", flow.id),
        source: Some(Box::new(e)),
    })
}

/// A flow's counts: per node (journal actions, journeys here now), and per labelled edge of
/// the newest version how many journeys took it.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub flow: i64,
    pub nodes: std::collections::BTreeMap<String, crate::store::counts::NodeStats>,
    pub edges: Vec<EdgeCount>,
}

/// How many journeys took one edge.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EdgeCount {
    pub from: String,
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub count: i64,
}

/// The flow's counts, read from the counter rows (a few rows per node, whatever the number of
/// journeys). Edges are the newest version's labelled ones (a `wait_for_event`'s `event` and
/// `timeout`, a `branch`'s `yes` and `no`, a `split`'s arms): a node's only edge takes all who
/// leave it, so it has no share to show.
pub async fn stats(s: &Services, raw: &str) -> Result<Stats> {
    let flow = existing(s, raw).await?;
    let nodes = crate::store::counts::stats(&s.db, flow.id).await?;
    let compiled = s.flows.get(&s.db, flow.id, flow.version).await?;
    let edges = compiled
        .definition()
        .edges
        .iter()
        .filter_map(|e| {
            let label = e.when.as_ref()?;
            let count = nodes
                .get(&e.from)
                .and_then(|n| n.edges.get(label))
                .copied()
                .unwrap_or(0);
            Some(EdgeCount {
                from: e.from.clone(),
                to: e.to.clone(),
                when: Some(label.clone()),
                count,
            })
        })
        .collect();
    Ok(Stats {
        flow: flow.id,
        nodes,
        edges,
    })
}

/// A journey waiting at a node now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Waiting {
    /// The contact's id.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Its last step, which brought it here.
    pub since: DateTime<Utc>,
    /// The flow version it runs on.
    pub version: i64,
}

/// A page of who waits at a node, and how many in all.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AtNode {
    /// The node's count of journeys there (its `here` in the stats: journeys set aside there
    /// count too, though they are not listed).
    pub total: i64,
    pub contacts: Vec<Waiting>,
}

/// The contacts whose journey in the flow is at `node` now (running: waiting, or about to
/// run), oldest journey first. The total is the node's counter; a node that no version of the
/// flow has is not found.
pub async fn at_node(s: &Services, raw: &str, node: &str, page: (u64, u64)) -> Result<AtNode> {
    let flow = existing(s, raw).await?;
    let counts = crate::store::counts::stats(&s.db, flow.id).await?;
    if !counts.contains_key(node) && !in_some_version(s, &flow, node).await? {
        return Err(Error::NotFound(format!("flow {} has no node '{node}'", flow.id)));
    }
    let (limit, offset) = page;
    let rows = crate::store::tokens::at_node(&s.db, (flow.id, node), limit, offset).await?;
    Ok(AtNode {
        total: counts.get(node).map_or(0, |n| n.here),
        contacts: rows
            .into_iter()
            .map(|r| Waiting {
                id: r.contact,
                email: r.email,
                since: r.since,
                version: r.version,
            })
            .collect(),
    })
}

/// Whether any version of `flow` has a node `node`.
async fn in_some_version(s: &Services, flow: &FlowRow, node: &str) -> Result<bool> {
    for version in (1..=flow.version).rev() {
        let compiled = s.flows.get(&s.db, flow.id, version).await?;
        if compiled.index_of(node).is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}
