//! Tokens: one contact's position in one flow version, and its lifecycle as a data-carrying enum.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One journey of one contact through one flow version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Unique across the deployment; message ids derive from it, so it must never be reused.
    pub id: String,
    pub contact: String,
    /// The node the token is at, by id (stable across storage and flow edits).
    pub node: String,
    pub state: TokenState,
    pub entered_at: DateTime<Utc>,
    /// The entry's payload (`{{data.…}}` in templates, `data.…` in conditions).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
    /// Messages this journey sent, and the events seen for them, so a `wait_for_event` tied to
    /// a message also counts an event that arrived before the wait began.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<SentMessage>,
    /// The related record this journey is for, when its audience starts one per record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordRef>,
}

/// A contact's related record, by type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    pub node: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
}

/// Where a token is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TokenState {
    /// At `node`, which has not run yet: due at once.
    Ready,
    /// At a `wait` or `wait_until` node until `until`.
    Waiting { until: DateTime<Utc> },
    /// At a `wait_for_event` node since `since`, until the event or `deadline`.
    AwaitingEvent {
        since: DateTime<Utc>,
        deadline: DateTime<Utc>,
    },
    /// Left the flow through an exit or a control group.
    Exited,
    /// Stopped because a step could not be done.
    Failed { reason: String },
}

impl Token {
    /// A new token at `entry`, due at once; the first step journals `entered`.
    pub fn new(
        id: impl Into<String>,
        contact: impl Into<String>,
        entry: &str,
        data: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Self {
        Token {
            id: id.into(),
            contact: contact.into(),
            node: entry.to_string(),
            state: TokenState::Ready,
            entered_at: now,
            data,
            messages: Vec::new(),
            record: None,
        }
    }

    /// When the token next needs a step without any event; `None` when it is ready now
    /// ([`Token::is_ready`]) or finished.
    pub fn wake_at(&self) -> Option<DateTime<Utc>> {
        match self.state {
            TokenState::Waiting { until } => Some(until),
            TokenState::AwaitingEvent { deadline, .. } => Some(deadline),
            TokenState::Ready | TokenState::Exited | TokenState::Failed { .. } => None,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state == TokenState::Ready
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, TokenState::Exited | TokenState::Failed { .. })
    }
}
