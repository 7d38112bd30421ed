//! Use cases: what the service does on behalf of a caller, each owning its transaction.
//! Handlers (`http`), the command line (`cli`) and the demo call these; they call the store
//! for every read and write and the pure `flows` core for every decision.
//!
//! - [`flows`]: storing flow versions, activating (which admits segment audiences), pausing,
//!   and entry secrets; what the editor reads and keeps: validation, drafts, versions, who is
//!   at a node, how many journeys took each edge.
//! - [`campaigns`]: runs of segment entries: planning the due ones, admitting them wave by
//!   wave, the next runs of a schedule.
//! - [`journeys`]: starting a journey at a webhook entry, and recording an event.
//! - [`set_aside`]: retrying or cancelling what the engine and delivery set aside.
//! - [`tracking`]: recording a verified open or click, and using an entry's signature up.
//! - [`contacts`]: the contacts API: writing, searching and erasing contacts, their tags and
//!   lists, tag definitions.
//! - [`records`]: a contact's related records (contracts, orders…), record types and the
//!   types they declare for their fields.
//! - [`contact`]: the `contact` object of an entry, and what makes a name a name.
//! - [`import`]: contacts and events read from files, with line-numbered errors.
//! - [`imports`]: contact imports (`cairn import contacts`, `POST /api/imports`), line by line.
//! - [`export`]: contacts exported as CSV or NDJSON, a page at a time.
//! - [`refusal`]: why an entry was refused, in the API's words.
//! - [`accounts`]: users, the first owner, logging in and out, sessions; [`keys`]: API keys;
//!   [`credentials`]: password hashes, random tokens and their digests; [`attempts`]: failed
//!   logins remembered in memory, to slow down guessing.
//! - [`simulate`]: a flow simulated for given contacts and events (`cairn simulate`,
//!   `POST /api/simulate`), their inputs read and checked alike.
//! - [`preview`]: a message rendered for a contact, as a send would render it.
//! - [`policy`]: the send policy in force at start, and replacing it through the API.
//!
//! Errors are [`Error`]: what the caller got wrong (not found, conflict, a field), or what
//! failed underneath, with its cause. `http::error` is the one place they become responses.

pub mod accounts;
pub mod attempts;
pub mod campaigns;
pub mod contact;
pub mod contacts;
pub mod credentials;
pub mod export;
pub mod flows;
pub mod import;
pub mod imports;
pub mod journeys;
pub mod keys;
pub mod policy;
pub mod preview;
pub mod records;
pub mod refusal;
pub mod segments;
pub mod set_aside;
pub mod simulate;
pub mod tracking;

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::runtime::flow_cache::{self, FlowCache};

/// What the use cases work with; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Compiled flow versions, shared with the engine.
    pub flows: Arc<FlowCache>,
    /// The workspace send policy in force (its calendars, contacts' default zone), and where
    /// it came from; `PUT /api/policy` replaces it.
    pub policy: crate::send_policy::SendPolicy,
    /// Poked when an entry or an event is accepted: the engine takes it at once.
    pub engine: Arc<Notify>,
    /// Poked when a flow is activated: the scheduler plans its runs at once.
    pub scheduler: Arc<Notify>,
    /// Every contact's facts in memory, following every write: what segments are answered from.
    pub segments: crate::runtime::segments::Segments,
}

/// Why a use case did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What it was asked about does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It exists, but its state does not allow this.
    #[error("{0}")]
    Conflict(String),
    /// Fields of the request are wrong: every problem at once, as (field, message).
    #[error("{}", fields_message(.0))]
    Fields(Vec<(String, String)>),
    /// The caller is not known (no credentials, or wrong ones).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts lately: the caller may try again after `retry_after`.
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after: std::time::Duration,
    },
    /// A flow document has problems, each located.
    #[error(transparent)]
    Flow(#[from] ::flows::Problems),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A store function failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// A stored flow version cannot be loaded.
    #[error(transparent)]
    FlowVersion(#[from] flow_cache::Error),
    /// Something that cannot happen with consistent data did.
    #[error("{what}")]
    Inconsistent {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Error::Fields(vec![(field.to_string(), message.into())])
    }
}

/// `field 'a': …; field 'b': …`.
pub fn fields_message(problems: &[(String, String)]) -> String {
    problems
        .iter()
        .map(|(field, message)| format!("field '{field}': {message}"))
        .collect::<Vec<_>>()
        .join("; ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
