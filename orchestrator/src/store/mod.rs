//! Storage, by table family. Functions take any `ConnectionTrait` so callers choose the
//! transaction, and speak only storage: rows and their facts in, rows out, [`Error`] when the
//! database fails or a stored row cannot be read.
//!
//! - [`flows`]: flows and their versions, settings, used signatures;
//! - [`contacts`]: contacts with their tags and lists;
//! - [`directory`]: contacts written whole or in part, searched, erased;
//! - [`tags`]: tag definitions, the facts each contact's tags and lists keep, tag expiry;
//! - [`records`]: related records of contacts (contracts, orders…), declared record types;
//! - [`tokens`]: journeys: entering, claiming the due ones, saving them after a step;
//! - [`counts`]: journeys and journal lines counted per node, and the stats read from them;
//! - [`journal`]: what each journey did;
//! - [`outbox`]: messages and their outbox rows, leased for delivery;
//! - [`history`]: recent sends and suppressed addresses, for frequency caps and suppressions;
//! - [`inbox`]: queued events, and those held for paused flows;
//! - [`set_aside`]: work the engine or delivery could not load, step or record;
//! - [`segments`]: saved segments, message history, and the change log segment indexes follow;
//! - [`bulk`]: contacts many at a time: an import's batches, an export's pages;
//! - [`imports`]: contact imports, their counts and refused lines;
//! - [`matches`]: who matched each `on: match` entry, and how far it has read the change log;
//! - [`runs`]: runs of segment entries' audiences, and the journeys re-entry counts;
//! - [`accounts`]: users, their sessions and API keys, found by the hashes of their tokens;
//! - [`bench`]: bulk writes for `cairn bench engine`.

pub mod accounts;
pub mod bench;
pub mod bulk;
pub mod contacts;
pub mod counts;
pub mod directory;
pub mod flows;
pub mod history;
pub mod imports;
pub mod inbox;
pub mod journal;
pub mod matches;
pub mod outbox;
pub mod records;
pub mod runs;
pub mod segments;
pub mod set_aside;
pub mod tags;
pub mod tokens;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use crate::db::{col, from_ms, one};

/// Why a store function failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed or refused the statement, or returned what it should not have.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// A stored row whose JSON does not decode (damaged, or written by hand): `what` names the
    /// row or its column (`event`, `the state of token`), `id` its id.
    #[error("{what} {id} is unreadable: {source}")]
    Unreadable {
        what: &'static str,
        id: i64,
        #[source]
        source: serde_json::Error,
    },
    /// A stored row keyed by a name (a record type) whose JSON does not decode.
    #[error("{what} '{name}' is unreadable: {source}")]
    UnreadableNamed {
        what: &'static str,
        name: String,
        #[source]
        source: serde_json::Error,
    },
    /// A value that does not encode as JSON, so it cannot be stored.
    #[error("{what} cannot be stored: {source}")]
    Unwritable {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// Whether the error says nothing about the rows at hand (the database is busy, locked or
    /// out of reach), so the same work may simply be tried again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Db(e) if crate::db::is_transient(e))
    }

    /// A failure the database did not report but the store found (a row it should have
    /// returned and did not, a value no query writes).
    pub(crate) fn custom(message: impl Into<String>) -> Self {
        Error::Db(DbErr::Custom(message.into()))
    }

    /// For `map_err`: row `id`'s JSON (named by `what`) did not decode.
    pub(crate) fn unreadable(what: &'static str, id: i64) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| Error::Unreadable { what, id, source }
    }

    /// For `map_err`: a value (named by `what`) did not encode.
    pub(crate) fn unwritable(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| Error::Unwritable { what, source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The instant a `SELECT MIN(<millis>) …` query returns, if any.
async fn min_instant(c: &impl ConnectionTrait, sql: &str) -> Result<Option<DateTime<Utc>>> {
    let r = one(c, sql, vec![]).await?;
    Ok(r.as_ref()
        .map(|r| col::<Option<i64>>(r, 0))
        .transpose()?
        .flatten()
        .map(from_ms))
}
