//! The `cairn.flow/v1` document as Rust types: what a marketer's editor or a JSON file says.
//!
//! These types are the contract of the format. They serialize back to importable JSON and the
//! published JSON Schema ([`json_schema`]) is generated from them. They are *not* runnable: a
//! [`Definition`] becomes a runnable, compiled flow only through the compiler (`compile`), which
//! checks the graph, the edge labels and the templates; reading text into a `Definition` goes
//! through its lenient reader (`compile::parse_definition`), which reports every problem at once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::condition::Condition;
use crate::policy::{Pace, SendRules, SendWindow};
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

/// What a node does, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    /// Contacts enter through `POST /api/flows/{id}/entries` (in `cairn simulate`: every contact at `--start`).
    WebhookEntry(WebhookEntry),
    /// Contacts enter when an event happens to them (`tag_added` with a tag, or a custom event).
    EventEntry(EventEntry),
    /// Contacts enter as an audience: all contacts, or the members of a list.
    SegmentEntry(SegmentEntry),
    SendEmail(SendEmail),
    SendSms(SendSms),
    SendPush(SendPush),
    /// An HTTP call to another system.
    Webhook(Webhook),
    /// Wait a fixed duration.
    Wait(Wait),
    /// Wait until an instant, a local time of day, or a date held in a contact field.
    WaitUntil(WaitUntil),
    /// Wait for an event, at most `timeout`; edges `event` and `timeout`.
    WaitForEvent(WaitForEvent),
    /// Edges `yes` and `no`, by a condition on contact fields, entry data, tags and lists.
    Branch(Branch),
    /// Weighted random arms, the same arm for a contact every time; one edge per arm name.
    Split(Split),
    /// Hold out a percentage of contacts: they are journaled and leave.
    ControlGroup(ControlGroup),
    /// Hold the contact while it is a holiday in their zone: by default the public holidays of
    /// their country, or the days of `calendar`.
    HolidayPause(HolidayPause),
    AddTag(TagStep),
    RemoveTag(TagStep),
    AddToList(ListStep),
    RemoveFromList(ListStep),
    Exit(Exit),
}

/// Every node type name, in the order of [`NodeKind`].
pub const NODE_TYPES: [&str; 19] = [
    "webhook_entry",
    "event_entry",
    "segment_entry",
    "send_email",
    "send_sms",
    "send_push",
    "webhook",
    "wait",
    "wait_until",
    "wait_for_event",
    "branch",
    "split",
    "control_group",
    "holiday_pause",
    "add_tag",
    "remove_tag",
    "add_to_list",
    "remove_from_list",
    "exit",
];

impl NodeKind {
    /// The `type` string of this node.
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::WebhookEntry(_) => "webhook_entry",
            NodeKind::EventEntry(_) => "event_entry",
            NodeKind::SegmentEntry(_) => "segment_entry",
            NodeKind::SendEmail(_) => "send_email",
            NodeKind::SendSms(_) => "send_sms",
            NodeKind::SendPush(_) => "send_push",
            NodeKind::Webhook(_) => "webhook",
            NodeKind::Wait(_) => "wait",
            NodeKind::WaitUntil(_) => "wait_until",
            NodeKind::WaitForEvent(_) => "wait_for_event",
            NodeKind::Branch(_) => "branch",
            NodeKind::Split(_) => "split",
            NodeKind::ControlGroup(_) => "control_group",
            NodeKind::HolidayPause(_) => "holiday_pause",
            NodeKind::AddTag(_) => "add_tag",
            NodeKind::RemoveTag(_) => "remove_tag",
            NodeKind::AddToList(_) => "add_to_list",
            NodeKind::RemoveFromList(_) => "remove_from_list",
            NodeKind::Exit(_) => "exit",
        }
    }

    pub fn is_entry(&self) -> bool {
        matches!(
            self,
            NodeKind::WebhookEntry(_) | NodeKind::EventEntry(_) | NodeKind::SegmentEntry(_)
        )
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
        matches!(
            self,
            NodeKind::SendEmail(_) | NodeKind::SendSms(_) | NodeKind::SendPush(_)
        )
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentEntry {
    /// Members of this list; all contacts when absent. (Full segments come later.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
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
