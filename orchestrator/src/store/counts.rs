//! Counts per flow node: running journeys at each node (`tokens_here`) and journal lines by
//! action (`journal_counts`), kept as the journeys move so stats never scan the journal.
//!
//! Invariants: the `tokens_here` count of a node is the number of journeys there that have not
//! ended (running or set aside), and the `journal_counts` of a node and action the number of
//! such journal lines; the `journal_counts` of a node and `edge:<label>` count the lines that
//! say a journey took the node's edge with that label ([`flows::Action::edge`]); each moves in the transaction that moves what it counts. Counter rows
//! are spread over [`COUNT_SHARDS`] shards per key (see there for the deadlock rule).

use std::borrow::Cow;
use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::Result;
use crate::db::{all, col};

/// Counter rows are spread over this many shards per key, so engines sharing PostgreSQL do not
/// all queue for one hot row; readers sum the shards.
///
/// Deadlock rule: a transaction takes counter rows only at its end, `tokens_here` (one sorted
/// statement) before `journal_counts` (one sorted statement), and locks nothing after them. A
/// transaction holding a counter row then waits for nobody, so no cycle can form.
pub const COUNT_SHARDS: i64 = 8;

fn count_shard() -> i64 {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .rem_euclid(COUNT_SHARDS)
}

/// Adds `n` new journeys at `node` of `flow` to the `tokens_here` counts (bulk entry).
pub async fn count_arrivals(c: &impl ConnectionTrait, flow: i64, node: &str, n: i64) -> Result<()> {
    count_here(c, BTreeMap::from([((flow, node.to_string()), n)])).await
}

/// Applies `(flow, node) → change` to the running journeys per node. Keys are written in
/// order, so two transactions never wait for each other's counter rows crosswise.
pub async fn count_here(c: &impl ConnectionTrait, deltas: BTreeMap<(i64, String), i64>) -> Result<()> {
    let shard = count_shard();
    let rows = deltas
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((flow, node), n)| vec![flow.into(), node.into(), shard.into(), n.into()])
        .collect();
    crate::db::upsert_rows(
        c,
        "tokens_here",
        &["flow_id", "node", "shard", "n"],
        rows,
        "ON CONFLICT (flow_id, node, shard) DO UPDATE SET n = tokens_here.n + excluded.n",
    )
    .await?;
    Ok(())
}

/// The `journal_counts` action under which the journeys that took a node's edge labelled
/// `label` are counted.
pub fn edge_key(label: &str) -> String {
    format!("{EDGE_PREFIX}{label}")
}

/// What starts an edge's key; no action name has a `:`.
const EDGE_PREFIX: &str = "edge:";

/// Adds `(flow, node, action) → lines` to the journal counts, keys in order as above.
pub(super) async fn count_journal(
    c: &impl ConnectionTrait,
    deltas: BTreeMap<(i64, String, Cow<'static, str>), i64>,
) -> Result<()> {
    let shard = count_shard();
    let rows = deltas
        .into_iter()
        .map(|((flow, node, action), n)| vec![flow.into(), node.into(), action.into(), shard.into(), n.into()])
        .collect();
    crate::db::upsert_rows(
        c,
        "journal_counts",
        &["flow_id", "node", "action", "shard", "n"],
        rows,
        "ON CONFLICT (flow_id, node, action, shard) DO UPDATE SET n = journal_counts.n + excluded.n",
    )
    .await?;
    Ok(())
}

/// Per-node counts of a flow: journal actions, and journeys currently at the node.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeStats {
    /// Journal lines at this node by action (`entered`, `sent`, `exited`, …).
    pub actions: BTreeMap<String, i64>,
    /// Journeys at this node now (waiting, or about to run).
    pub here: i64,
    /// Journeys that left this node by each labelled edge (`event`, `timeout`, `yes`, an arm).
    #[serde(skip)]
    pub edges: BTreeMap<String, i64>,
}

/// The counts of `flow_id` by node, nodes with nothing counted left out.
pub async fn stats(c: &impl ConnectionTrait, flow_id: i64) -> Result<BTreeMap<String, NodeStats>> {
    let mut out: BTreeMap<String, NodeStats> = BTreeMap::new();
    let rows = all(
        c,
        "SELECT node, action, CAST(SUM(n) AS BIGINT) FROM journal_counts WHERE flow_id = $1 GROUP BY node, action HAVING SUM(n) <> 0",
        vec![flow_id.into()],
    )
    .await?;
    for r in rows {
        let stats = out.entry(col(&r, 0)?).or_default();
        let action: String = col(&r, 1)?;
        match action.strip_prefix(EDGE_PREFIX) {
            Some(label) => stats.edges.insert(label.to_string(), col(&r, 2)?),
            None => stats.actions.insert(action, col(&r, 2)?),
        };
    }
    let rows = all(
        c,
        "SELECT node, CAST(SUM(n) AS BIGINT) FROM tokens_here WHERE flow_id = $1 GROUP BY node HAVING SUM(n) <> 0",
        vec![flow_id.into()],
    )
    .await?;
    for r in rows {
        out.entry(col(&r, 0)?).or_default().here = col(&r, 1)?;
    }
    Ok(out)
}
