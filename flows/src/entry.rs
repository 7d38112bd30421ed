//! Where journeys start: which entry nodes an event starts, which contacts a segment entry's
//! audience holds, and which webhook entry an HTTP entry goes through. The simulator and the
//! service both ask here, so a flow admits the same contacts in both.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::compiled::{CompiledFlow, Ix};
use crate::condition::{Condition, Known};
use crate::contact::{ListFact, MessageSeen, Record, TagFact};
use crate::definition::{EntryOn, Node, NodeKind, SegmentEntry};
use crate::event::Event;
use crate::schedule::Schedule;

/// Whether `node` starts a journey when `event` happens: an `event_entry` for the event's type,
/// whose `tag` and `list`, when it names them, are the event's.
pub fn starts_on(node: &Node, event: &Event) -> bool {
    match &node.kind {
        NodeKind::EventEntry(e) => {
            e.event == event.kind
                && e.tag.as_ref().is_none_or(|t| event.tag.as_ref() == Some(t))
                && e.list.as_ref().is_none_or(|l| event.list.as_ref() == Some(l))
        }
        _ => false,
    }
}

/// The entry nodes `event` starts a journey at, in definition order.
pub fn entries_for_event<'a>(flow: &'a CompiledFlow, event: &'a Event) -> impl Iterator<Item = (Ix, &'a Node)> + 'a {
    flow.entries().filter(move |(_, node)| starts_on(node, event))
}

/// A segment entry and the audience it admits.
#[derive(Debug, Clone, Copy)]
pub struct Audience<'a> {
    pub ix: Ix,
    pub node: &'a Node,
    pub entry: &'a SegmentEntry,
}

impl<'a> Audience<'a> {
    /// The audience as one condition: `lists`, `segments` and `condition` (any of them, or
    /// everyone when none is given), minus the excluded lists and segments. Saved segments are
    /// left for whoever keeps them to resolve ([`Condition::resolve`]).
    pub fn condition(&self) -> Condition {
        match self.parts() {
            (include, None) => include,
            (include, Some(exclude)) => Condition::All(vec![include, Condition::Not(Box::new(exclude))]),
        }
    }

    /// The audience's two parts: who is in (lists, segments, condition: any of them; everyone
    /// when none is given) and, when there are exclusions, who is kept out.
    pub fn parts(&self) -> (Condition, Option<Condition>) {
        let e = self.entry;
        let mut include: Vec<Condition> = e
            .list
            .iter()
            .chain(&e.lists)
            .map(|l| Condition::InList(l.clone()))
            .chain(e.segments.iter().map(|s| Condition::Segment(s.clone())))
            .chain(e.condition.iter().map(|c| (**c).clone()))
            .collect();
        let include = match include.len() {
            0 => Condition::All(Vec::new()),
            1 => include.pop().expect("one"),
            _ => Condition::Any(include),
        };
        let exclude: Vec<Condition> = e
            .exclude_lists
            .iter()
            .map(|l| Condition::InList(l.clone()))
            .chain(e.exclude_segments.iter().map(|s| Condition::Segment(s.clone())))
            .collect();
        (include, (!exclude.is_empty()).then_some(Condition::Any(exclude)))
    }

    pub fn schedule(&self) -> Option<&'a Schedule> {
        self.entry.schedule.as_deref()
    }

    /// Whether a contact enters as soon as they start to match.
    pub fn on_match(&self) -> bool {
        self.entry.on == Some(EntryOn::Match)
    }

    /// Whether the audience enters only once, when a version is first activated.
    pub fn once(&self) -> bool {
        self.entry.schedule.is_none() && !self.on_match()
    }

    /// The record type journeys start per, if not per contact.
    pub fn per(&self) -> Option<&'a str> {
        self.entry.per.as_deref()
    }
}

/// One journey an audience starts: the contact's, or the contact's per matching record.
pub enum Admitted<'r> {
    Contact,
    Records(Vec<&'r Record>),
}

/// Who of a contact `condition` (resolved) admits: nobody, the contact, or with `per` the
/// records of that type for which the contact matches with that record as their only one of
/// the type (so `{"records": {"type": "contract", "any": …}}` picks the contracts that pass).
pub fn admitted<'r, K: Known + ?Sized>(condition: &Condition, facts: &'r K, per: Option<&str>) -> Option<Admitted<'r>> {
    let Some(kind) = per else {
        return condition.holds_for(facts).then_some(Admitted::Contact);
    };
    let records: Vec<&Record> = facts
        .records(kind)
        .iter()
        .filter(|r| {
            condition.holds_for(&OneRecord {
                facts,
                kind,
                record: std::slice::from_ref(*r),
            })
        })
        .collect();
    (!records.is_empty()).then_some(Admitted::Records(records))
}

/// A contact's facts with one record standing for all of a type.
struct OneRecord<'f, 'r, K: ?Sized> {
    facts: &'f K,
    kind: &'f str,
    record: &'r [Record],
}

impl<K: Known + ?Sized> Known for OneRecord<'_, '_, K> {
    fn now(&self) -> Option<DateTime<Utc>> {
        self.facts.now()
    }
    fn tag(&self, name: &str) -> Option<Cow<'_, TagFact>> {
        self.facts.tag(name)
    }
    fn list(&self, name: &str) -> Option<Cow<'_, ListFact>> {
        self.facts.list(name)
    }
    fn records(&self, kind: &str) -> &[Record] {
        if kind == self.kind {
            self.record
        } else {
            self.facts.records(kind)
        }
    }
    fn messages(&self, each: &mut dyn FnMut(MessageSeen<'_>)) {
        self.facts.messages(each)
    }
    fn lookup(&self, path: &str) -> Option<Cow<'_, Value>> {
        self.facts.lookup(path)
    }
}

/// The flow's segment entries, in definition order.
pub fn audiences(flow: &CompiledFlow) -> impl Iterator<Item = Audience<'_>> {
    flow.entries().filter_map(|(ix, node)| match &node.kind {
        NodeKind::SegmentEntry(entry) => Some(Audience { ix, node, entry }),
        _ => None,
    })
}

/// The flow's webhook entries, in definition order.
pub fn webhook_entries(flow: &CompiledFlow) -> impl Iterator<Item = (Ix, &Node)> {
    flow.entries()
        .filter(|(_, node)| matches!(node.kind, NodeKind::WebhookEntry(_)))
}

/// Why an HTTP entry has no webhook entry to go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEntryError {
    /// The entry named is not a webhook entry of the flow.
    Unknown(String),
    /// The flow has no webhook entry.
    Missing,
    /// None was named and the flow has several (their ids, in definition order).
    Several(Vec<String>),
}

/// The webhook entry an HTTP entry goes through: the one `named`, or else the flow's only one.
pub fn webhook_entry<'a>(flow: &'a CompiledFlow, named: Option<&str>) -> Result<&'a Node, WebhookEntryError> {
    let mut webhooks = webhook_entries(flow).map(|(_, node)| node);
    match named {
        Some(name) => webhooks
            .find(|node| node.id == name)
            .ok_or_else(|| WebhookEntryError::Unknown(name.to_string())),
        None => match (webhooks.next(), webhooks.next()) {
            (Some(only), None) => Ok(only),
            (None, _) => Err(WebhookEntryError::Missing),
            (Some(_), Some(_)) => Err(WebhookEntryError::Several(
                webhook_entries(flow).map(|(_, node)| node.id.clone()).collect(),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::*;
    use crate::compile::compile_value;
    use crate::contact::{Contact, Facts};

    fn flow(nodes: serde_json::Value, edges: serde_json::Value) -> CompiledFlow {
        compile_value(json!({"format": "cairn.flow/v1", "name": "T", "nodes": nodes, "edges": edges})).unwrap()
    }

    fn event(kind: &str, tag: Option<&str>) -> Event {
        Event {
            at: "2026-12-30T09:00:00Z".parse::<DateTime<Utc>>().unwrap(),
            contact: "c1".into(),
            kind: kind.into(),
            message: None,
            tag: tag.map(str::to_string),
            list: None,
            data: Default::default(),
        }
    }

    #[test]
    fn an_event_starts_the_event_entries_of_its_type_tag_and_list() {
        let f = flow(
            json!([
                {"id": "any", "type": "event_entry", "event": "tag_added"},
                {"id": "vip", "type": "event_entry", "event": "tag_added", "tag": "vip"},
                {"id": "order", "type": "event_entry", "event": "order_placed"},
                {"id": "hook", "type": "webhook_entry"},
                {"id": "done", "type": "exit"}
            ]),
            json!([{"from": "any", "to": "done"}, {"from": "vip", "to": "done"},
                   {"from": "order", "to": "done"}, {"from": "hook", "to": "done"}]),
        );
        let ids = |e: &Event| -> Vec<String> { entries_for_event(&f, e).map(|(_, n)| n.id.clone()).collect() };
        assert_eq!(ids(&event("tag_added", Some("vip"))), ["any", "vip"]);
        assert_eq!(ids(&event("tag_added", Some("new"))), ["any"]);
        assert_eq!(ids(&event("order_placed", None)), ["order"]);
        assert!(ids(&event("opened", None)).is_empty());
    }

    #[test]
    fn an_http_entry_goes_through_the_named_or_the_only_webhook_entry() {
        let two = flow(
            json!([{"id": "a", "type": "webhook_entry"}, {"id": "b", "type": "webhook_entry"},
                   {"id": "s", "type": "segment_entry"}, {"id": "done", "type": "exit"}]),
            json!([{"from": "a", "to": "done"}, {"from": "b", "to": "done"}, {"from": "s", "to": "done"}]),
        );
        assert_eq!(webhook_entry(&two, Some("b")).unwrap().id, "b");
        assert_eq!(
            webhook_entry(&two, Some("s")).unwrap_err(),
            WebhookEntryError::Unknown("s".into())
        );
        assert_eq!(
            webhook_entry(&two, None).unwrap_err(),
            WebhookEntryError::Several(vec!["a".into(), "b".into()])
        );
        let segment = flow(
            json!([{"id": "s", "type": "segment_entry", "list": "news"}, {"id": "done", "type": "exit"}]),
            json!([{"from": "s", "to": "done"}]),
        );
        assert_eq!(webhook_entry(&segment, None).unwrap_err(), WebhookEntryError::Missing);
        let audience: Vec<Audience<'_>> = audiences(&segment).collect();
        let condition = audience[0].condition();
        let mut member = Contact::new("c1");
        assert!(!condition.holds(&Facts::new(&member, &Default::default(), &Default::default())));
        member.lists.insert("news".into());
        assert!(condition.holds(&Facts::new(&member, &Default::default(), &Default::default())));
    }
}
