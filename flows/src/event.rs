//! Events: something that happened to a contact (a message opened, a tag added, an order
//! placed). They wake the journeys waiting for them and start the event entries they match.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Something that happened to a contact: a message was opened, a tag was added, an order placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub contact: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The message the event is about: its message id, or (in simulations) its node id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// Carried into a journey the event starts, as its entry data.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
}
