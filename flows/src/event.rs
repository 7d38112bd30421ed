//! Events: something that happened to a contact (a message opened, a tag added, an order
//! placed). They wake the journeys waiting for them and start the event entries they match.
//! [`Event::check`] holds the rules an event follows wherever it comes from (the API, a file).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::names::name_problem;
use crate::problem::FieldProblem;

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

impl Event {
    /// Whether the event is one Cairn takes: its contact, type and the names it carries
    /// (`message`, `tag`, `list`) are names ([`name_problem`]); once they are, a `tag_added` or
    /// `tag_removed` event must name its tag, and a `list_added` or `list_removed` its list.
    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let named = [
            ("contact", Some(&self.contact)),
            ("type", Some(&self.kind)),
            ("message", self.message.as_ref()),
            ("tag", self.tag.as_ref()),
            ("list", self.list.as_ref()),
        ];
        let problems: Vec<FieldProblem> = named
            .into_iter()
            .filter_map(|(field, value)| name_problem(field, value?))
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        let names = |field: &str| {
            let message = format!("a {} event names its {field}", self.kind);
            Err(vec![FieldProblem::new(field, message.clone()).saying(message)])
        };
        match self.kind.as_str() {
            "tag_added" | "tag_removed" if self.tag.is_none() => names("tag"),
            "list_added" | "list_removed" if self.list.is_none() => names("list"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str) -> Event {
        Event {
            at: "2026-12-30T09:00:00Z".parse().unwrap(),
            contact: "c1".into(),
            kind: kind.into(),
            message: None,
            tag: None,
            list: None,
            data: Map::new(),
        }
    }

    #[test]
    fn a_tag_or_list_event_names_its_tag_or_list_and_its_names_are_names() {
        assert_eq!(event("opened").check(), Ok(()));
        let found = event("tag_added").check().unwrap_err();
        assert_eq!(
            (found[0].field.as_str(), found[0].message.as_str()),
            ("tag", "a tag_added event names its tag")
        );
        assert_eq!(found[0].to_string(), "a tag_added event names its tag");
        assert_eq!(event("list_removed").check().unwrap_err()[0].field, "list");
        let mut e = event("tag_added");
        e.tag = Some("vip".into());
        assert_eq!(e.check(), Ok(()));
        e.contact = " ".into();
        e.tag = Some("x".repeat(300));
        let found = e.check().unwrap_err();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].to_string(), "'contact' is empty");
        assert_eq!(found[1].to_string(), "'tag' is 300 characters long; at most 256");
    }
}
