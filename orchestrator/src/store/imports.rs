//! The `imports` table: one row per contact import, its status, counts and first refused lines.
//!
//! An import's counts are written in the transaction of each batch it writes
//! ([`progress`]), so after a crash they say what is in the database. A row still `running`
//! whose process stopped is failed by [`fail_running`] when a service starts, or shown as failed
//! once it has made no progress for a while (see `service::imports`).

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::{Error, Result};
use crate::db::{all, col, exec, from_ms, ms, one};

/// A line an import refused: its number in the file and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refused {
    pub line: u64,
    pub message: String,
}

/// What an import has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Lines read (the header not counted), good and bad.
    pub lines_read: u64,
    /// Contacts created.
    pub inserted: u64,
    /// Existing contacts the import changed (their row, a tag or a list).
    pub updated: u64,
    /// Existing contacts it found as they were already (a re-run).
    pub unchanged: u64,
    /// Lines refused.
    pub refused: u64,
}

/// What an import was told.
#[derive(Debug, Clone)]
pub struct NewImport<'a> {
    pub name: &'a str,
    pub format: &'a str,
    pub key: &'a str,
    pub events: bool,
}

/// An `imports` row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportRow {
    pub id: i64,
    pub name: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// `csv` or `ndjson`.
    pub format: String,
    /// `id` or `email`: what finds a line's contact.
    pub key: String,
    /// Whether added tags and lists were queued as events.
    pub events: bool,
    #[serde(flatten)]
    pub counts: Counts,
    /// The first refused lines (at most 100).
    pub errors: Vec<Refused>,
    /// Why the import stopped, when it failed as a whole.
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Its last progress.
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, status, format, key, events, lines_read, inserted, updated, unchanged, refused, \
                       errors, failure, created_at, updated_at, finished_at";

fn row_of(r: &sea_orm::QueryResult) -> Result<ImportRow> {
    let id: i64 = col(r, 0)?;
    let count = |i: usize| col::<i64>(r, i).map(|n| n.max(0) as u64);
    let errors: String = col(r, 11)?;
    Ok(ImportRow {
        id,
        name: col(r, 1)?,
        status: col(r, 2)?,
        format: col(r, 3)?,
        key: col(r, 4)?,
        events: col::<i64>(r, 5)? == 1,
        counts: Counts {
            lines_read: count(6)?,
            inserted: count(7)?,
            updated: count(8)?,
            unchanged: count(9)?,
            refused: count(10)?,
        },
        errors: serde_json::from_str(&errors).map_err(Error::unreadable("the errors of import", id))?,
        failure: col(r, 12)?,
        created_at: from_ms(col(r, 13)?),
        updated_at: from_ms(col(r, 14)?),
        finished_at: col::<Option<i64>>(r, 15)?.map(from_ms),
    })
}

/// Records a new import, `running`; returns its id.
pub async fn create(c: &impl ConnectionTrait, new: &NewImport<'_>, now: DateTime<Utc>) -> Result<i64> {
    let r = one(
        c,
        "INSERT INTO imports (name, status, format, key, events, lines_read, inserted, updated, unchanged, refused, \
         errors, created_at, updated_at) VALUES ($1, 'running', $2, $3, $4, 0, 0, 0, 0, 0, '[]', $5, $5) RETURNING id",
        vec![
            new.name.into(),
            new.format.into(),
            new.key.into(),
            i64::from(new.events).into(),
            ms(now).into(),
        ],
    )
    .await?
    .ok_or_else(|| Error::custom("an import was inserted and returned no id".to_string()))?;
    Ok(col(&r, 0)?)
}

/// Writes an import's counts and first refused lines as they now are.
pub async fn progress(
    c: &impl ConnectionTrait,
    id: i64,
    counts: &Counts,
    errors: &[Refused],
    now: DateTime<Utc>,
) -> Result<()> {
    let errors = serde_json::to_string(errors).map_err(Error::unwritable("an import's errors"))?;
    exec(
        c,
        "UPDATE imports SET lines_read = $2, inserted = $3, updated = $4, unchanged = $5, refused = $6, errors = $7, \
         updated_at = $8 WHERE id = $1",
        vec![
            id.into(),
            (counts.lines_read as i64).into(),
            (counts.inserted as i64).into(),
            (counts.updated as i64).into(),
            (counts.unchanged as i64).into(),
            (counts.refused as i64).into(),
            errors.into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(())
}

/// Ends an import: `done`, or `failed` with why.
pub async fn finish(c: &impl ConnectionTrait, id: i64, failure: Option<&str>, now: DateTime<Utc>) -> Result<()> {
    let status = if failure.is_some() { "failed" } else { "done" };
    exec(
        c,
        "UPDATE imports SET status = $2, failure = $3, finished_at = $4, updated_at = $4 WHERE id = $1",
        vec![
            id.into(),
            status.into(),
            failure.map(str::to_string).into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(())
}

/// Fails every import still `running` whose last progress is before `before`; returns how many.
pub async fn fail_running(
    c: &impl ConnectionTrait,
    before: DateTime<Utc>,
    why: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(exec(
        c,
        "UPDATE imports SET status = 'failed', failure = $2, finished_at = $3 WHERE status = 'running' AND updated_at < $1",
        vec![ms(before).into(), why.into(), ms(now).into()],
    )
    .await?)
}

/// An import by id.
pub async fn get(c: &impl ConnectionTrait, id: i64) -> Result<Option<ImportRow>> {
    let r = one(
        c,
        &format!("SELECT {COLUMNS} FROM imports WHERE id = $1"),
        vec![id.into()],
    )
    .await?;
    r.as_ref().map(row_of).transpose()
}

/// The newest imports first, at most `limit`.
pub async fn recent(c: &impl ConnectionTrait, limit: u64) -> Result<Vec<ImportRow>> {
    let rows = all(
        c,
        &format!("SELECT {COLUMNS} FROM imports ORDER BY id DESC LIMIT $1"),
        vec![(limit as i64).into()],
    )
    .await?;
    rows.iter().map(row_of).collect()
}
