//! The `cairn.flow/v1` document as Rust types: what a marketer's editor or a JSON file says.
//!
//! These types are the contract of the format. They serialize back to importable JSON and the
//! published JSON Schema ([`json_schema`]) is generated from them. They are *not* runnable: a
//! [`Definition`] becomes a runnable, compiled flow only through the compiler (`compile`), which
//! checks the graph, the edge labels and the templates; reading text into a `Definition` goes
//! through its lenient reader (`compile::parse_definition`), which reports every problem at once.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channel::Channel;
use crate::condition::Condition;
use crate::json::{TypeError, typed_at};
use crate::policy::{Pace, SendRules, SendWindow};
use crate::schedule::Schedule;
use crate::values::{Duration, LocalTime, Weekday, Zone};

/// The one format tag this version of Cairn reads.
pub const FORMAT_V1: &str = "cairn.flow/v1";

/// A journey: nodes joined by edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "cairn.flow/v1", description = "A Cairn journey definition.")]
pub struct Definition {
    /// Always `cairn.flow/v1`.
    pub format: String,
    /// The journey's name. It also seeds random splits and control groups, so renaming a flow
    /// reshuffles who lands in which arm.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Zone for contacts that have none of their own (default: the workspace default, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Zone>,
    /// When a contact who already entered may enter again.
    #[serde(default, skip_serializing_if = "Reentry::is_default")]
    pub reentry: Reentry,
    /// Send rules per channel for this flow (windows, holidays, caps, throttles, pacing);
    /// they override the configuration's, and a send node's own settings override them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policy: BTreeMap<Channel, SendRules>,
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
}

/// Re-entry rule for a contact who is, or was, in this flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reentry {
    /// Enter again only once the previous journey in this flow has finished (default).
    #[default]
    AfterExit,
    /// Enter at most once, ever.
    Never,
    /// Every entry starts a new journey, even while one is running.
    Always,
}

impl Reentry {
    fn is_default(&self) -> bool {
        *self == Reentry::AfterExit
    }
}

/// One step of the journey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Node {
    /// Unique within the flow; edges, journals and events name nodes by it.
    pub id: String,
    /// Where the editor draws the node; ignored by the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(flatten)]
    pub kind: NodeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub x: f64,
    pub y: f64,
}

/// Declares the node types once: [`NodeKind`] (a node's settings, tagged by `type`), [`NodeType`]
/// (the type alone) and everything derived from the list — the `type` names, which types are
/// entries, and reading a node's body by its type.
macro_rules! node_types {
    ($( $(#[$meta:meta])* $variant:ident($body:ident) = $name:literal, entry: $entry:literal; )*) => {
        /// What a node does, tagged by `type`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(tag = "type")]
        pub enum NodeKind {
            $( $(#[$meta])* #[serde(rename = $name)] $variant($body), )*
        }

        /// A node's type, without its settings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum NodeType {
            $( $variant, )*
        }

        impl NodeType {
            /// Every node type, in the order of [`NodeKind`].
            pub const ALL: [NodeType; NODE_TYPES.len()] = [$( NodeType::$variant ),*];

            /// The `type` name, e.g. `send_email`.
            pub fn name(self) -> &'static str {
                match self {
                    $( NodeType::$variant => $name, )*
                }
            }

            /// Whether contacts enter a flow through nodes of this type.
            pub fn is_entry(self) -> bool {
                match self {
                    $( NodeType::$variant => $entry, )*
                }
            }
        }

        /// Every node type name, in the order of [`NodeKind`].
        pub const NODE_TYPES: [&str; [$( $name ),*].len()] = [$( $name ),*];

        impl NodeKind {
            /// This node's type.
            pub fn node_type(&self) -> NodeType {
                match self {
                    $( NodeKind::$variant(_) => NodeType::$variant, )*
                }
            }

            /// A node's body (its fields besides `id`, `type` and `position`) read as `node_type`.
            pub fn read(node_type: NodeType, body: Value) -> Result<NodeKind, TypeError> {
                match node_type {
                    $( NodeType::$variant => typed_at(body).map(NodeKind::$variant), )*
                }
            }
        }
    };
}

node_types! {
    /// Contacts enter through `POST /api/flows/{id}/entries` (in `cairn simulate`: every contact at `--start`).
    WebhookEntry(WebhookEntry) = "webhook_entry", entry: true;
    /// Contacts enter when an event happens to them (`tag_added` with a tag, or a custom event).
    EventEntry(EventEntry) = "event_entry", entry: true;
    /// Contacts enter as an audience (lists, segments, a condition, minus exclusions), once at
    /// activation, on a schedule, or the moment they match.
    SegmentEntry(SegmentEntry) = "segment_entry", entry: true;
    SendEmail(SendEmail) = "send_email", entry: false;
    SendSms(SendSms) = "send_sms", entry: false;
    SendPush(SendPush) = "send_push", entry: false;
    /// An HTTP call to another system.
    Webhook(Webhook) = "webhook", entry: false;
    /// Wait a fixed duration.
    Wait(Wait) = "wait", entry: false;
    /// Wait until an instant, a local time of day, or a date held in a contact field.
    WaitUntil(WaitUntil) = "wait_until", entry: false;
    /// Wait for an event, at most `timeout`; edges `event` and `timeout`.
    WaitForEvent(WaitForEvent) = "wait_for_event", entry: false;
    /// Edges `yes` and `no`, by a condition on contact fields, entry data, tag and list facts and
    /// related records (see [`Condition`]).
    Branch(Branch) = "branch", entry: false;
    /// Weighted random arms, the same arm for a contact every time; one edge per arm name.
    Split(Split) = "split", entry: false;
    /// Hold out a percentage of contacts: they are journaled and leave.
    ControlGroup(ControlGroup) = "control_group", entry: false;
    /// Hold the contact while it is a holiday in their zone: by default the public holidays of
    /// their country, or the days of `calendar`.
    HolidayPause(HolidayPause) = "holiday_pause", entry: false;
    AddTag(TagStep) = "add_tag", entry: false;
    RemoveTag(TagStep) = "remove_tag", entry: false;
    AddToList(ListStep) = "add_to_list", entry: false;
    RemoveFromList(ListStep) = "remove_from_list", entry: false;
    Exit(Exit) = "exit", entry: false;
}

impl NodeType {
    /// Whether nodes of this type send a message a `wait_for_event` can refer to.
    pub fn is_message(self) -> bool {
        matches!(self, NodeType::SendEmail | NodeType::SendSms | NodeType::SendPush)
    }

    /// The names of the types `keep` selects, as a list in words: `a, b or c`.
    pub fn names_where(keep: impl Fn(NodeType) -> bool) -> String {
        let names: Vec<&str> = NodeType::ALL
            .into_iter()
            .filter(|t| keep(*t))
            .map(NodeType::name)
            .collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `type` that names no node type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNodeType(pub String);

impl fmt::Display for UnknownNodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown node type '{}' (known: {})", self.0, NODE_TYPES.join(", "))
    }
}

impl std::error::Error for UnknownNodeType {}

impl FromStr for NodeType {
    type Err = UnknownNodeType;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        NodeType::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| UnknownNodeType(name.to_string()))
    }
}

impl NodeKind {
    /// The `type` string of this node.
    pub fn type_name(&self) -> &'static str {
        self.node_type().name()
    }

    pub fn is_entry(&self) -> bool {
        self.node_type().is_entry()
    }

    /// The send rules written on a send node (empty for other nodes).
    pub fn send_rules(&self) -> SendRules {
        let (window, holidays, pace) = match self {
            NodeKind::SendEmail(n) => (&n.window, &n.holidays, &n.pace),
            NodeKind::SendSms(n) => (&n.window, &n.holidays, &n.pace),
            NodeKind::SendPush(n) => (&n.window, &n.holidays, &n.pace),
            NodeKind::Webhook(n) => (&n.window, &n.holidays, &n.pace),
            _ => return SendRules::default(),
        };
        SendRules {
            window: window.clone(),
            holidays: holidays.clone(),
            pace: pace.clone(),
            ..SendRules::default()
        }
    }

    /// Nodes that send a message a `wait_for_event` can refer to.
    pub fn is_message(&self) -> bool {
        self.node_type().is_message()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEntry {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventEntry {
    /// The event type, e.g. `tag_added`, `list_added`, `clicked` or a custom `order_placed`.
    pub event: String,
    /// Only events carrying this tag (for `tag_added` / `tag_removed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Only events carrying this list (for `list_added` / `list_removed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
}

/// An audience entering: the members of `lists`, of saved `segments` and those matching
/// `condition` (any of them; every contact when none is given), minus the members of
/// `exclude_lists` and `exclude_segments`. Without `schedule` or `on`, the audience enters once,
/// when a version is first activated; with `schedule`, it is evaluated again at each run; with
/// `"on": "match"`, a contact enters as soon as they start to match. Who enters again follows
/// the flow's `reentry`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentEntry {
    /// One list (the same as `"lists": [list]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// Members of any of these lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lists: Vec<String>,
    /// Members of any of these saved segments (by id or name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    /// Contacts matching this condition (the language of `branch` and segments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Box<Condition>>,
    /// Members of these lists never enter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_lists: Vec<String>,
    /// Members of these saved segments never enter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_segments: Vec<String>,
    /// When the audience is evaluated again (see [`Schedule`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Box<Schedule>>,
    /// `match`: a contact enters within about a second of starting to match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<EntryOn>,
    /// A record type (e.g. `contract`): one journey per matching record of a matching contact
    /// (`{{record.<field>}}` in templates), re-entry counted per contact and record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<String>,
}

/// What else admits a segment entry's audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryOn {
    /// A contact enters when a change makes them match.
    Match,
}

/// Templates use `{{contact.field}}` and `{{data.field}}` (minijinja syntax); `html` is
/// HTML-escaped, the other fields are plain text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEmail {
    pub subject: String,
    pub html: String,
    /// Plain-text alternative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Sender address; the configured default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Allowed hours for this send in the contact's zone (overrides the flow's and the
    /// configuration's window for the channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<SendWindow>,
    /// Calendars of days without sends: `public` or custom calendar names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays: Option<Vec<String>>,
    /// Spread these sends over time, e.g. `{"over": "3d"}` or `{"days": 2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<Pace>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendSms {
    pub text: String,
    /// Allowed hours for this send in the contact's zone (overrides the flow's and the
    /// configuration's window for the channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<SendWindow>,
    /// Calendars of days without sends: `public` or custom calendar names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays: Option<Vec<String>>,
    /// Spread these sends over time, e.g. `{"over": "3d"}` or `{"days": 2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<Pace>,
}

/// A push notification, addressed to the contact's id (push providers map it to devices).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendPush {
    pub title: String,
    pub body: String,
    /// Opened when the notification is tapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Allowed hours for this send in the contact's zone (overrides the flow's and the
    /// configuration's window for the channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<SendWindow>,
    /// Calendars of days without sends: `public` or custom calendar names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays: Option<Vec<String>>,
    /// Spread these sends over time, e.g. `{"over": "3d"}` or `{"days": 2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<Pace>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://`; may use templates.
    pub url: String,
    #[serde(default)]
    pub method: HttpMethod,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request body template; by default `{"contact": …, "data": …}` as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Allowed hours for this send in the contact's zone (overrides the flow's and the
    /// configuration's window for the channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<SendWindow>,
    /// Calendars of days without sends: `public` or custom calendar names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays: Option<Vec<String>>,
    /// Spread these sends over time, e.g. `{"over": "3d"}` or `{"days": 2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<Pace>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    pub duration: Duration,
}

/// An RFC 3339 instant, refused with its expected form rather than chrono's bare "input contains
/// invalid characters".
fn instant<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    // chrono's own parse, as its serde did: RFC 3339 and its relaxed forms (`+0200`, ` UTC`).
    text.trim()
        .parse::<DateTime<chrono::FixedOffset>>()
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid instant '{text}' ({e}): expected RFC 3339, such as 2026-12-24T09:00:00Z"
            ))
        })
}

/// Exactly one of `at`, `field` or `time` sets the target:
/// - `at`: a fixed instant;
/// - `field`: a date (or date-time) in a contact or entry-data field, e.g. `contact.birthday`,
///   at `time` (default 00:00) local; with `anniversary` its next yearly return;
/// - `time` alone: the next occurrence of that local time of day, on `days` if given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitUntil {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "instant")]
    pub at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anniversary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<LocalTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<Weekday>>,
    /// Read `time` in this zone instead of the contact's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Zone>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitForEvent {
    /// Event type, e.g. `opened`, `clicked`, `delivered` or a custom one.
    pub event: String,
    /// Id of a send node: only events about the message that node sent count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    pub condition: Condition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub arms: Vec<Arm>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    /// The edge label (`when`) of this arm.
    pub name: String,
    /// Relative weight, > 0.
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlGroup {
    /// Share of contacts held out, 0–100 (fractions allowed, to 0.01).
    pub percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayPause {
    /// A custom calendar from the configuration; the contact's public holidays when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagStep {
    pub tag: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListStep {
    pub list: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exit {}

/// A connection between two nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The label: `event`/`timeout` after `wait_for_event`, `yes`/`no` after `branch`, an arm
    /// name after `split`; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// The JSON Schema of `cairn.flow/v1`, generated from these types.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Definition);
    serde_json::to_value(schema).expect("a JSON Schema is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_type_is_read_back_from_its_name() {
        for t in NodeType::ALL {
            assert_eq!(t.name().parse::<NodeType>(), Ok(t));
        }
        assert_eq!(NodeType::ALL.map(NodeType::name), NODE_TYPES);
        assert_eq!(
            NodeType::names_where(NodeType::is_entry),
            "webhook_entry, event_entry or segment_entry"
        );
        let unknown = "send_fax".parse::<NodeType>().unwrap_err().to_string();
        assert!(
            unknown.starts_with("unknown node type 'send_fax' (known: webhook_entry, event_entry, "),
            "{unknown}"
        );
        let exit = serde_json::to_value(NodeKind::Exit(Exit {})).unwrap();
        assert_eq!(exit["type"], NodeType::Exit.name());
    }
}
