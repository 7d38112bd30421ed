//! Runs of segment entries (`flow_runs`), when a flow's runs began to count (`flows.runs_from`),
//! and the journeys a run admitted or a flow already holds, for re-entry.
//!
//! A run is created once (unique per flow, node and key, so of several processes one creates
//! it), then admitted in waves by whichever process holds its lease ([`claim`]). The counts of a
//! wave move with its last write ([`finish_wave`]); `admitted` moves in the transaction of each
//! batch of journeys ([`add_admitted`]), so after a crash it says what is in the database.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::Result;
use crate::db::{all, col, exec, from_ms, ms, one};

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub flow_id: i64,
    pub version: i64,
    pub node: &'a str,
    /// The run's date (`2026-12-07`), or `v<N>` for version N's first activation.
    pub key: String,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The earliest instant a contact of this run may be due at (a run that was under way when
    /// runs began to count admits only those still to come).
    pub opens: DateTime<Utc>,
}

/// A `flow_runs` row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunRow {
    pub id: i64,
    #[serde(skip)]
    pub flow_id: i64,
    /// The flow version the run admitted into.
    pub version: i64,
    /// The segment entry's node id.
    pub node: String,
    /// The run's date, or `v<N>` for the admission when version N was first activated.
    pub key: String,
    /// `running` or `done`.
    pub status: String,
    /// When the first contact was due.
    pub first_at: DateTime<Utc>,
    /// When the last contact was due (the same as `first_at` in a fixed zone).
    pub last_at: DateTime<Utc>,
    #[serde(skip)]
    pub opens_at: DateTime<Utc>,
    #[serde(skip)]
    pub next_at: DateTime<Utc>,
    /// The last wave admitted (contacts due up to then have been looked at).
    pub admitted_until: Option<DateTime<Utc>>,
    /// Contacts in the lists, segments or condition when they were due.
    pub audience: u64,
    /// Journeys started.
    pub admitted: u64,
    /// Of the audience, kept out by the flow's re-entry rule or a holiday.
    pub skipped: u64,
    /// Of the audience, kept out by `exclude_lists` or `exclude_segments`.
    pub excluded: u64,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, flow_id, version, node, run_key, status, first_at, last_at, opens_at, next_at, \
     admitted_until, audience, admitted, skipped, excluded, created_at, finished_at";

fn row(r: &sea_orm::QueryResult) -> Result<RunRow> {
    let count = |i: usize| -> Result<u64> { Ok(col::<i64>(r, i)?.max(0) as u64) };
    Ok(RunRow {
        id: col(r, 0)?,
        flow_id: col(r, 1)?,
        version: col(r, 2)?,
        node: col(r, 3)?,
        key: col(r, 4)?,
        status: col(r, 5)?,
        first_at: from_ms(col(r, 6)?),
        last_at: from_ms(col(r, 7)?),
        opens_at: from_ms(col(r, 8)?),
        next_at: from_ms(col(r, 9)?),
        admitted_until: col::<Option<i64>>(r, 10)?.map(from_ms),
        audience: count(11)?,
        admitted: count(12)?,
        skipped: count(13)?,
        excluded: count(14)?,
        created_at: from_ms(col(r, 15)?),
        finished_at: col::<Option<i64>>(r, 16)?.map(from_ms),
    })
}

/// Creates the run unless it exists; returns its id when this call created it.
pub async fn create(c: &impl ConnectionTrait, run: NewRun<'_>, now: DateTime<Utc>) -> Result<Option<i64>> {
    let r = one(
        c,
        "INSERT INTO flow_runs (flow_id, version, node, run_key, status, first_at, last_at, opens_at, next_at, \
         audience, admitted, skipped, excluded, created_at) \
         VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $7, 0, 0, 0, 0, $8) \
         ON CONFLICT (flow_id, node, run_key) DO NOTHING RETURNING id",
        vec![
            run.flow_id.into(),
            run.version.into(),
            run.node.into(),
            run.key.into(),
            ms(run.first).into(),
            ms(run.last).into(),
            ms(run.opens).into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(r.map(|r| col(&r, 0)).transpose()?)
}

/// The latest scheduled date a run was created for at this segment entry.
pub async fn last_date(c: &impl ConnectionTrait, flow: i64, node: &str) -> Result<Option<String>> {
    let r = one(
        c,
        "SELECT MAX(run_key) FROM flow_runs WHERE flow_id = $1 AND node = $2 AND run_key NOT LIKE 'v%'",
        vec![flow.into(), node.into()],
    )
    .await?;
    Ok(r.map(|r| col::<Option<String>>(&r, 0)).transpose()?.flatten())
}

/// Takes the lease of one running run whose next wave is due at `now` and that no live lease
/// holds, until `until`; of several processes asking at once, one gets each run.
pub async fn claim(c: &impl ConnectionTrait, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<Option<RunRow>> {
    let candidates = all(
        c,
        "SELECT id FROM flow_runs WHERE status = 'running' AND next_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_at, id LIMIT 4",
        vec![ms(now).into()],
    )
    .await?;
    for candidate in candidates {
        if let Some(run) = claim_one(c, col(&candidate, 0)?, now, until).await? {
            return Ok(Some(run));
        }
    }
    Ok(None)
}

/// Takes the lease of the run `id` if it is running and no live lease holds it.
pub async fn claim_one(
    c: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<RunRow>> {
    one(
        c,
        &format!(
            "UPDATE flow_runs SET lease_until = $2 WHERE id = $1 AND status = 'running' \
             AND (lease_until IS NULL OR lease_until < $3) RETURNING {COLUMNS}"
        ),
        vec![id.into(), ms(until).into(), ms(now).into()],
    )
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// Extends the lease of a run being admitted.
pub async fn renew(c: &impl ConnectionTrait, run: i64, until: DateTime<Utc>) -> Result<()> {
    exec(
        c,
        "UPDATE flow_runs SET lease_until = $2 WHERE id = $1",
        vec![run.into(), ms(until).into()],
    )
    .await?;
    Ok(())
}

/// Adds journeys started by a batch of the run (in the batch's transaction).
pub async fn add_admitted(c: &impl ConnectionTrait, run: i64, n: u64) -> Result<()> {
    exec(
        c,
        "UPDATE flow_runs SET admitted = admitted + $2 WHERE id = $1",
        vec![run.into(), (n as i64).into()],
    )
    .await?;
    Ok(())
}

/// What one wave found, besides the journeys it started.
#[derive(Debug, Clone, Copy, Default)]
pub struct WaveCounts {
    pub audience: u64,
    pub skipped: u64,
    pub excluded: u64,
}

/// Records a wave done up to `until`: its counts, and either the next wave's instant or, with
/// `None`, the run's end; releases the lease.
pub async fn finish_wave(
    c: &impl ConnectionTrait,
    run: i64,
    (until, next): (DateTime<Utc>, Option<DateTime<Utc>>),
    counts: WaveCounts,
    now: DateTime<Utc>,
) -> Result<()> {
    let (status, next_at, finished) = match next {
        Some(at) => ("running", ms(at), None),
        None => ("done", ms(until), Some(ms(now))),
    };
    exec(
        c,
        "UPDATE flow_runs SET admitted_until = $2, next_at = $3, status = $4, finished_at = $5, lease_until = NULL, \
         audience = audience + $6, skipped = skipped + $7, excluded = excluded + $8 WHERE id = $1",
        vec![
            run.into(),
            ms(until).into(),
            next_at.into(),
            status.into(),
            finished.into(),
            (counts.audience as i64).into(),
            (counts.skipped as i64).into(),
            (counts.excluded as i64).into(),
        ],
    )
    .await?;
    Ok(())
}

/// Ends every running run of the flow (it was paused, or a new version replaced its entries):
/// what they had not admitted yet is not admitted later.
pub async fn stop_running(c: &impl ConnectionTrait, flow: i64, now: DateTime<Utc>) -> Result<u64> {
    Ok(exec(
        c,
        "UPDATE flow_runs SET status = 'done', finished_at = $2, lease_until = NULL \
         WHERE flow_id = $1 AND status = 'running'",
        vec![flow.into(), ms(now).into()],
    )
    .await?)
}

/// The flow's runs, newest first.
pub async fn list(c: &impl ConnectionTrait, flow: i64, limit: u64) -> Result<Vec<RunRow>> {
    all(
        c,
        &format!("SELECT {COLUMNS} FROM flow_runs WHERE flow_id = $1 ORDER BY first_at DESC, id DESC LIMIT $2"),
        vec![flow.into(), (limit as i64).into()],
    )
    .await?
    .iter()
    .map(row)
    .collect()
}

/// One run by id.
pub async fn get(c: &impl ConnectionTrait, id: i64) -> Result<Option<RunRow>> {
    one(
        c,
        &format!("SELECT {COLUMNS} FROM flow_runs WHERE id = $1"),
        vec![id.into()],
    )
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// When the flow's runs began to count (its last activation or resume), if it is active.
pub async fn runs_from(c: &impl ConnectionTrait, flow: i64) -> Result<Option<DateTime<Utc>>> {
    let r = one(
        c,
        "SELECT runs_from FROM flows WHERE id = $1 AND status = 'active'",
        vec![flow.into()],
    )
    .await?;
    Ok(r.map(|r| col::<Option<i64>>(&r, 0)).transpose()?.flatten().map(from_ms))
}

/// Journeys the flow holds (any with `all`, else only unfinished ones), or that the run
/// started, as (contact, record) keys; the record is empty for a contact's own journey.
pub async fn journey_keys(c: &impl ConnectionTrait, of: KeysOf) -> Result<Vec<(i64, String)>> {
    let (sql, id) = match of {
        KeysOf::Flow {
            flow,
            unfinished_only: false,
        } => (
            "SELECT DISTINCT contact_id, COALESCE(record_id, '') FROM tokens WHERE flow_id = $1",
            flow,
        ),
        KeysOf::Flow {
            flow,
            unfinished_only: true,
        } => (
            "SELECT DISTINCT contact_id, COALESCE(record_id, '') FROM tokens WHERE flow_id = $1 AND finished <> 1",
            flow,
        ),
        KeysOf::Run { flow, run } => {
            let sql = "SELECT contact_id, COALESCE(record_id, '') FROM tokens WHERE flow_id = $1 AND run_id = $2";
            return all(c, sql, vec![flow.into(), run.into()])
                .await?
                .iter()
                .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
                .collect();
        }
    };
    all(c, sql, vec![id.into()])
        .await?
        .iter()
        .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
        .collect()
}

/// Whose journeys [`journey_keys`] reads.
#[derive(Debug, Clone, Copy)]
pub enum KeysOf {
    Flow { flow: i64, unfinished_only: bool },
    Run { flow: i64, run: i64 },
}
