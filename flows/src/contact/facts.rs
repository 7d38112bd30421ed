//! What a contact's tags and lists remember, and the related records a contact has.
//!
//! A tag is never forgotten once added: removing it (or its lifetime running out) makes it
//! inactive and keeps how many times it was added and when. [`Tags`] reads like a set of the
//! active names (`contains`, `iter`, `insert`, `remove`) and keeps each tag's [`TagFact`]
//! beside it; [`Lists`] likewise for list memberships and their [`ListFact`].

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::channel::Channel;

/// What added a tag or a list membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Api,
    Flow,
    Link,
    Form,
    Import,
    User,
}

impl SourceKind {
    pub const ALL: [SourceKind; 6] = [
        SourceKind::Api,
        SourceKind::Flow,
        SourceKind::Link,
        SourceKind::Form,
        SourceKind::Import,
        SourceKind::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Api => "api",
            SourceKind::Flow => "flow",
            SourceKind::Link => "link",
            SourceKind::Form => "form",
            SourceKind::Import => "import",
            SourceKind::User => "user",
        }
    }
}

/// `{"kind": "flow", "ref": "welcome"}`: the kind of what added a fact, and which one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub kind: SourceKind,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl Source {
    pub fn of(kind: SourceKind) -> Self {
        Source { kind, reference: None }
    }

    /// Reads the stored text form, `kind` or `kind:ref` (`flow`, `import:crm.csv`).
    pub fn from_text(text: &str) -> Option<Source> {
        let (kind, reference) = match text.split_once(':') {
            Some((k, r)) => (k, Some(r.to_string())),
            None => (text, None),
        };
        let kind = SourceKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
        Some(Source { kind, reference })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Some(r) => write!(f, "{}:{r}", self.kind.as_str()),
            None => f.write_str(self.kind.as_str()),
        }
    }
}

/// One contact × tag. Dates are unknown (`None`) only for tags given by name alone. `active`
/// is what conditions read: whoever keeps the facts makes a tag inactive when it expires;
/// `expires_at` is read only by `expires` tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFact {
    /// Times added, removals and expiries notwithstanding.
    pub count: u32,
    pub first_added_at: Option<DateTime<Utc>>,
    pub last_added_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the contact has the tag now.
    pub active: bool,
    /// What added it last.
    pub source: Option<Source>,
}

impl TagFact {
    /// The fact after one more addition at `at` (when known): active, counted, dated.
    pub fn added(&self, at: Option<DateTime<Utc>>, source: Option<Source>) -> TagFact {
        let mut next = self.clone();
        next.count = next.count.saturating_add(1);
        next.active = true;
        if let Some(at) = at {
            next.first_added_at.get_or_insert(at);
            next.last_added_at = Some(at);
        }
        if source.is_some() {
            next.source = source;
        }
        next
    }
}

/// A contact's tags: the active ones read like a set of names, every fact is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(BTreeMap<String, TagFact>);

impl Tags {
    /// Adds the tag once more (no date known); `true` when it was not active before.
    pub fn insert(&mut self, name: String) -> bool {
        self.add(name, None, None)
    }

    /// Adds the tag once more at `at`, by `source`; `true` when it was not active before.
    pub fn add(&mut self, name: String, at: Option<DateTime<Utc>>, source: Option<Source>) -> bool {
        let fact = self.0.entry(name).or_default();
        let was = fact.active;
        *fact = fact.added(at, source);
        !was
    }

    /// Makes the tag inactive, keeping its count and dates; `true` when it was active.
    pub fn remove(&mut self, name: &str) -> bool {
        match self.0.get_mut(name) {
            Some(fact) => std::mem::replace(&mut fact.active, false),
            None => false,
        }
    }

    /// Whether the tag is active.
    pub fn contains(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|f| f.active)
    }

    /// The active tags' names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter().filter(|(_, f)| f.active).map(|(n, _)| n)
    }

    /// How many tags are active.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tag's fact, active or not.
    pub fn get(&self, name: &str) -> Option<&TagFact> {
        self.0.get(name)
    }

    /// Sets the tag's fact as given.
    pub fn set(&mut self, name: String, fact: TagFact) {
        self.0.insert(name, fact);
    }

    /// Every tag ever added, active or not, with its fact.
    pub fn facts(&self) -> impl Iterator<Item = (&String, &TagFact)> {
        self.0.iter()
    }
}

/// One contact × list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFact {
    pub added_at: Option<DateTime<Utc>>,
    pub source: Option<Source>,
}

/// A contact's lists: reads like a set of names, each with its [`ListFact`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lists(BTreeMap<String, ListFact>);

impl Lists {
    /// Joins the list (no date known); `true` when not a member before.
    pub fn insert(&mut self, name: String) -> bool {
        self.add(name, None, None)
    }

    /// Joins the list at `at`; a member already keeps its first date. `true` when new.
    pub fn add(&mut self, name: String, at: Option<DateTime<Utc>>, source: Option<Source>) -> bool {
        let new = !self.0.contains_key(&name);
        if new {
            self.0.insert(name, ListFact { added_at: at, source });
        }
        new
    }

    pub fn remove(&mut self, name: &str) -> bool {
        self.0.remove(name).is_some()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&ListFact> {
        self.0.get(name)
    }

    pub fn set(&mut self, name: String, fact: ListFact) {
        self.0.insert(name, fact);
    }

    pub fn facts(&self) -> impl Iterator<Item = (&String, &ListFact)> {
        self.0.iter()
    }
}

impl<S: Into<String>> FromIterator<S> for Tags {
    fn from_iter<I: IntoIterator<Item = S>>(names: I) -> Self {
        let mut tags = Tags::default();
        for n in names {
            tags.insert(n.into());
        }
        tags
    }
}

impl<S: Into<String>> FromIterator<S> for Lists {
    fn from_iter<I: IntoIterator<Item = S>>(names: I) -> Self {
        let mut lists = Lists::default();
        for n in names {
            lists.insert(n.into());
        }
        lists
    }
}

/// Tags and lists travel as the names that are active, as the API has always shown them.
macro_rules! names_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.iter())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Vec::<String>::deserialize(d)?.into_iter().collect())
            }
        }
    };
}
names_serde!(Tags);
names_serde!(Lists);

/// A record related to a contact (a contract, an order…): its id and fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub fields: Map<String, Value>,
}

/// A contact's records by type.
pub type Records = BTreeMap<String, Vec<Record>>;

/// A message a provider accepted for the contact, and when it was last opened and clicked:
/// what `message` conditions read. `flow` is the flow's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFact {
    pub flow: String,
    pub node: String,
    pub channel: Channel,
    pub sent_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicked_at: Option<DateTime<Utc>>,
}

/// A message as a condition sees it, borrowed from wherever the facts are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSeen<'a> {
    pub flow: &'a str,
    pub node: &'a str,
    pub channel: Channel,
    pub sent_at: DateTime<Utc>,
    pub opened_at: Option<DateTime<Utc>>,
    pub clicked_at: Option<DateTime<Utc>>,
}

impl MessageFact {
    pub fn seen(&self) -> MessageSeen<'_> {
        MessageSeen {
            flow: &self.flow,
            node: &self.node,
            channel: self.channel,
            sent_at: self.sent_at,
            opened_at: self.opened_at,
            clicked_at: self.clicked_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_reads_back_from_its_stored_text() {
        let flow = Source::from_text("flow").unwrap();
        assert_eq!((flow.kind, flow.reference), (SourceKind::Flow, None));
        let import = Source::from_text("import:crm.csv").unwrap();
        assert_eq!(import.reference.as_deref(), Some("crm.csv"));
        assert_eq!(import.to_string(), "import:crm.csv");
        assert_eq!(Source::from_text("robot"), None);
    }

    #[test]
    fn removing_a_tag_keeps_its_count_and_adding_it_again_counts_once_more() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let mut tags = Tags::default();
        assert!(tags.add("t".into(), Some(at("2026-01-01T00:00:00Z")), None));
        assert!(!tags.add("t".into(), Some(at("2026-01-02T00:00:00Z")), None));
        assert!(tags.remove("t") && !tags.contains("t") && tags.is_empty());
        assert!(tags.add(
            "t".into(),
            Some(at("2026-01-03T00:00:00Z")),
            Some(Source::of(SourceKind::User))
        ));
        let fact = tags.get("t").unwrap();
        assert_eq!(fact.count, 3);
        assert_eq!(fact.first_added_at, Some(at("2026-01-01T00:00:00Z")));
        assert_eq!(fact.last_added_at, Some(at("2026-01-03T00:00:00Z")));
        assert_eq!(serde_json::to_value(&tags).unwrap(), serde_json::json!(["t"]));
    }
}
