//! Contacts as the core sees them, and [`Facts`]: the read-only view a step evaluates
//! conditions and templates against. [`ContactPatch`] reads a contact object as an entry or an
//! import gives it.
//!
//! A step may add a tag and branch on it in the same call, so `Facts` overlays the step's own
//! pending [`Changes`] on the stored contact; the shell applies the changes afterwards.

use std::collections::{BTreeMap, BTreeSet};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use patch::{ContactPatch, MAX_FIELDS, MAX_NAMES};

mod patch;

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
    pub tags: BTreeSet<String>,
    pub lists: BTreeSet<String>,
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
            tags: BTreeSet::new(),
            lists: BTreeSet::new(),
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
pub struct Facts<'a> {
    contact: &'a Contact,
    data: &'a Map<String, Value>,
    changes: &'a Changes,
}

impl<'a> Facts<'a> {
    pub fn new(contact: &'a Contact, data: &'a Map<String, Value>, changes: &'a Changes) -> Self {
        Facts { contact, data, changes }
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.changes
            .tags
            .get(tag)
            .copied()
            .unwrap_or_else(|| self.contact.tags.contains(tag))
    }

    pub fn in_list(&self, list: &str) -> bool {
        self.changes
            .lists
            .get(list)
            .copied()
            .unwrap_or_else(|| self.contact.lists.contains(list))
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
            "tags" => Some(self.effective(&c.tags, &self.changes.tags)),
            "lists" => Some(self.effective(&c.lists, &self.changes.lists)),
            _ => dig(&c.fields, name).cloned(),
        }
    }

    fn effective(&self, stored: &BTreeSet<String>, changes: &BTreeMap<String, bool>) -> Value {
        let mut set = stored.clone();
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
        out.insert("tags".into(), self.effective(&c.tags, &self.changes.tags));
        out.insert("lists".into(), self.effective(&c.lists, &self.changes.lists));
        out
    }

    pub fn data(&self) -> &Map<String, Value> {
        self.data
    }
}

fn dig<'v>(map: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
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
