//! Contacts as the core sees them, and [`Facts`]: the read-only view a step evaluates
//! conditions and templates against. [`ContactPatch`] reads a contact object as an entry or an
//! import gives it; [`FieldType`] checks a related record's fields against their declared types.
//!
//! A step may add a tag and branch on it in the same call, so `Facts` overlays the step's own
//! pending [`Changes`] on the stored contact; the shell applies the changes afterwards.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use facts::{ListFact, Lists, MessageFact, MessageSeen, Record, Records, Source, SourceKind, TagFact, Tags};
pub use patch::{ContactPatch, MAX_FIELDS, MAX_NAMES, MAX_RECORDS};
pub use record_type::{FieldType, check_fields};

mod facts;
mod patch;
mod record_type;

/// A person a journey can reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The external id the customer's systems use.
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Their own zone; when absent, the flow's or the workspace default applies.
    pub timezone: Option<Tz>,
    /// ISO 3166 alpha-2 code.
    pub country: Option<String>,
    /// Everything else the import or the API carried.
    pub fields: Map<String, Value>,
    /// Every tag the contact was ever given, with what it remembers; the active ones read
    /// like a set of names.
    pub tags: Tags,
    pub lists: Lists,
    /// Related records (contracts, orders…) by type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub records: Records,
    /// Messages sent to the contact, with their last open and click.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageFact>,
}

impl Contact {
    pub fn new(id: impl Into<String>) -> Self {
        Contact {
            id: id.into(),
            email: None,
            phone: None,
            timezone: None,
            country: None,
            fields: Map::new(),
            tags: Tags::default(),
            lists: Lists::default(),
            records: Records::new(),
            messages: Vec::new(),
        }
    }
}

/// Tag and list changes a step has made but the shell has not yet applied
/// (`true` = added, `false` = removed).
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub tags: BTreeMap<String, bool>,
    pub lists: BTreeMap<String, bool>,
}

/// What a condition or a template can read: the contact with pending changes, and entry data.
/// A tag or list added by the pending changes counts as added at the instant the facts are
/// read [`at`](Facts::at) (once more, active, last added then).
pub struct Facts<'a> {
    contact: &'a Contact,
    data: &'a Map<String, Value>,
    changes: &'a Changes,
    now: Option<DateTime<Utc>>,
}

impl<'a> Facts<'a> {
    pub fn new(contact: &'a Contact, data: &'a Map<String, Value>, changes: &'a Changes) -> Self {
        Facts {
            contact,
            data,
            changes,
            now: None,
        }
    }

    /// The same facts read at `now`, which relative dates in conditions count from.
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = Some(now);
        self
    }

    /// The instant the facts are read at, if given.
    pub fn now(&self) -> Option<DateTime<Utc>> {
        self.now
    }

    pub fn contact(&self) -> &Contact {
        self.contact
    }

    /// Whether the tag is active (pending changes first).
    pub fn has_tag(&self, tag: &str) -> bool {
        self.changes
            .tags
            .get(tag)
            .copied()
            .unwrap_or_else(|| self.contact.tags.contains(tag))
    }

    /// The tag's fact with pending changes applied: added again counts once more, at `now`.
    pub fn tag(&self, tag: &str) -> Option<Cow<'_, TagFact>> {
        let stored = self.contact.tags.get(tag);
        match self.changes.tags.get(tag) {
            None => stored.map(Cow::Borrowed),
            Some(true) => Some(Cow::Owned(stored.cloned().unwrap_or_default().added(self.now, None))),
            Some(false) => {
                let mut fact = stored.cloned().unwrap_or_default();
                fact.active = false;
                Some(Cow::Owned(fact))
            }
        }
    }

    pub fn in_list(&self, list: &str) -> bool {
        self.changes
            .lists
            .get(list)
            .copied()
            .unwrap_or_else(|| self.contact.lists.contains(list))
    }

    /// The list membership with pending changes applied: joined in this step, at `now`.
    pub fn list(&self, list: &str) -> Option<Cow<'_, ListFact>> {
        let stored = self.contact.lists.get(list);
        match self.changes.lists.get(list) {
            None => stored.map(Cow::Borrowed),
            Some(true) => Some(stored.map(Cow::Borrowed).unwrap_or_else(|| {
                Cow::Owned(ListFact {
                    added_at: self.now,
                    source: None,
                })
            })),
            Some(false) => None,
        }
    }

    /// The contact's records of a type (none when it has none).
    pub fn records(&self, kind: &str) -> &[Record] {
        self.contact.records.get(kind).map_or(&[], Vec::as_slice)
    }

    /// The value at `contact.<name>`, `data.<a.b.c>` or a bare contact field name.
    pub fn lookup(&self, path: &str) -> Option<Value> {
        if let Some(rest) = path.strip_prefix("data.") {
            return dig(self.data, rest).cloned();
        }
        let name = path.strip_prefix("contact.").unwrap_or(path);
        let c = self.contact;
        let text = |s: &Option<String>| s.as_ref().map(|v| Value::String(v.clone()));
        match name {
            "id" => Some(Value::String(c.id.clone())),
            "email" => text(&c.email),
            "phone" => text(&c.phone),
            "country" => text(&c.country),
            "timezone" => c.timezone.map(|z| Value::String(z.name().to_string())),
            "tags" => Some(self.effective(c.tags.iter(), &self.changes.tags)),
            "lists" => Some(self.effective(c.lists.iter(), &self.changes.lists)),
            _ => dig(&c.fields, name).cloned(),
        }
    }

    fn effective<'s>(&self, stored: impl Iterator<Item = &'s String>, changes: &BTreeMap<String, bool>) -> Value {
        let mut set: std::collections::BTreeSet<String> = stored.cloned().collect();
        for (name, present) in changes {
            if *present {
                set.insert(name.clone());
            } else {
                set.remove(name);
            }
        }
        Value::Array(set.into_iter().map(Value::String).collect())
    }

    /// The template context's `contact` object.
    pub fn contact_object(&self) -> Map<String, Value> {
        let c = self.contact;
        let mut out = c.fields.clone();
        out.insert("id".into(), Value::String(c.id.clone()));
        for (key, value) in [("email", &c.email), ("phone", &c.phone), ("country", &c.country)] {
            if let Some(v) = value {
                out.insert(key.into(), Value::String(v.clone()));
            }
        }
        if let Some(z) = c.timezone {
            out.insert("timezone".into(), Value::String(z.name().into()));
        }
        out.insert("tags".into(), self.effective(c.tags.iter(), &self.changes.tags));
        out.insert("lists".into(), self.effective(c.lists.iter(), &self.changes.lists));
        out
    }

    /// The template context's `records`: each type's records, each as its fields plus `id`
    /// (`{% for c in records.contract %}{{ c.id }}: {{ c.end_date }}{% endfor %}`).
    pub fn records_object(&self) -> Map<String, Value> {
        self.contact
            .records
            .iter()
            .map(|(kind, records)| {
                let items = records
                    .iter()
                    .map(|r| {
                        let mut item = r.fields.clone();
                        item.insert("id".into(), Value::String(r.id.clone()));
                        Value::Object(item)
                    })
                    .collect();
                (kind.clone(), Value::Array(items))
            })
            .collect()
    }

    pub fn data(&self) -> &Map<String, Value> {
        self.data
    }
}

/// The value at a dotted path inside a map (`a.b.0`).
pub fn dig<'v>(map: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    let mut parts = path.split('.');
    let mut current = map.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Value::Object(m) => m.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}
