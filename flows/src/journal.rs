//! The journal: the append-only record of every action taken for every contact.
//!
//! `cairn simulate` prints these lines and the service's `GET /api/contacts/{id}/journal`
//! returns the same objects, so what a simulation shows is what the service does.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::channel::Channel;

/// One line: at `at`, for `contact`, at `node`, this `action` happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    #[serde(serialize_with = "rfc3339_seconds")]
    pub at: DateTime<Utc>,
    pub contact: String,
    pub node: String,
    /// The related record's id, for a journey started per record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(flatten)]
    pub action: Action,
}

/// What happened. Serialized with an `action` tag: `{"action": "sent", "channel": "email", …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The contact entered the flow at this entry node.
    Entered,
    /// A provider accepted the message.
    Sent {
        channel: Channel,
        message: String,
        to: String,
    },
    /// An awaited event arrived.
    Event {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A `wait_for_event` ran out of time.
    TimedOut {
        #[serde(rename = "type")]
        kind: String,
    },
    /// A branch took the `yes` or `no` edge.
    Branched {
        edge: String,
    },
    /// A split sent the contact down this arm.
    Split {
        arm: String,
    },
    /// A control group held the contact out (`held_out`, and they leave) or let them pass.
    ControlGroup {
        held_out: bool,
    },
    TagAdded {
        tag: String,
    },
    TagRemoved {
        tag: String,
    },
    ListAdded {
        list: String,
    },
    ListRemoved {
        list: String,
    },
    /// The contact waits until `until` (for `event`, when it is a `wait_for_event`).
    Waiting {
        #[serde(serialize_with = "rfc3339_seconds")]
        until: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<String>,
    },
    /// A send waits for its policy (window, holiday, cap, pace) until `until`.
    Deferred {
        #[serde(serialize_with = "rfc3339_seconds")]
        until: DateTime<Utc>,
        reason: String,
        /// The contact's zone and which source gave it, when the reason depends on it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone_source: Option<crate::geo::ZoneSource>,
    },
    /// A send was not made, for `reason` (a cap, an invalid or suppressed address, no open time).
    Skipped {
        reason: String,
    },
    /// Something the contact's journey went on without, e.g. public holidays that could not be
    /// applied because the contact's country is unknown.
    Notice {
        reason: String,
    },
    /// The journey ended.
    Exited,
    /// This step could not be done. After a failed send the journey goes on (so a fallback such
    /// as "not opened → SMS" still runs); after any other failure it ends.
    Failed {
        reason: String,
    },
}

impl Action {
    /// The `action` tag, e.g. `sent`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Entered => "entered",
            Action::Sent { .. } => "sent",
            Action::Event { .. } => "event",
            Action::TimedOut { .. } => "timed_out",
            Action::Branched { .. } => "branched",
            Action::Split { .. } => "split",
            Action::ControlGroup { .. } => "control_group",
            Action::TagAdded { .. } => "tag_added",
            Action::TagRemoved { .. } => "tag_removed",
            Action::ListAdded { .. } => "list_added",
            Action::ListRemoved { .. } => "list_removed",
            Action::Waiting { .. } => "waiting",
            Action::Deferred { .. } => "deferred",
            Action::Skipped { .. } => "skipped",
            Action::Notice { .. } => "notice",
            Action::Exited => "exited",
            Action::Failed { .. } => "failed",
        }
    }

    /// The label of the edge this line says the journey took out of its node: `event` or
    /// `timeout` after a `wait_for_event`, `yes` or `no` after a `branch`, the arm after a
    /// `split`; `None` for a line that chooses no edge. Nodes with several ways on journal
    /// exactly one such line when a journey leaves them, so counting these lines counts each
    /// labelled edge's journeys (the service's per-edge stats).
    pub fn edge(&self) -> Option<&str> {
        match self {
            Action::Event { .. } => Some("event"),
            Action::TimedOut { .. } => Some("timeout"),
            Action::Branched { edge } => Some(edge),
            Action::Split { arm } => Some(arm),
            _ => None,
        }
    }
}

fn rfc3339_seconds<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}
