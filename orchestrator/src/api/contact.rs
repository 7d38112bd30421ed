//! The `contact` object of an entry, read into a [`ContactInput`]: `id` plus the keys Cairn
//! knows (`email`, `phone`, `timezone`, `country`, and `tags` and `lists` as arrays of names, as
//! in `cairn simulate`'s contacts); any other key is a contact field. Every problem is reported
//! at once, each with its field, and nothing is written when there is one.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::store::contacts::ContactInput;

/// Tags, and lists, one entry may give a contact at most.
pub const MAX_NAMES: usize = 100;

/// Problems found so far: (field, message).
type Found = Vec<(String, String)>;

pub fn contact_input(value: Option<Value>) -> Result<ContactInput, ApiError> {
    let Some(Value::Object(mut map)) = value else {
        return Err(ApiError::field(
            "contact",
            "is required: an object with at least an 'id'",
        ));
    };
    let mut found: Found = Vec::new();
    let id = match map.remove("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            found.push(("contact.id".into(), "is required: a non-empty string".into()));
            String::new()
        }
    };
    if id.chars().any(char::is_control) {
        found.push(("contact.id".into(), "must not contain control characters".into()));
    }
    let email = text(&mut map, "email", &mut found);
    let phone = text(&mut map, "phone", &mut found);
    let country = text(&mut map, "country", &mut found).map(|c| c.to_ascii_uppercase());
    if let Some(c) = &country
        && !(c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
    {
        found.push((
            "contact.country".into(),
            format!("'{c}' is not an ISO 3166 two-letter code such as 'EE'"),
        ));
    }
    let timezone = text(&mut map, "timezone", &mut found).and_then(|z| {
        let zone = z.parse::<chrono_tz::Tz>().ok();
        if zone.is_none() {
            found.push((
                "contact.timezone".into(),
                format!("unknown time zone '{z}' (use an IANA name such as 'Europe/Tallinn')"),
            ));
        }
        zone
    });
    let tags = names(&mut map, "tags", &mut found);
    let lists = names(&mut map, "lists", &mut found);
    if !found.is_empty() {
        return Err(ApiError::fields(found));
    }
    Ok(ContactInput {
        id,
        email,
        phone,
        timezone,
        country,
        fields: map,
        tags,
        lists,
    })
}

/// An optional string key, trimmed; empty is absent.
fn text(map: &mut Map<String, Value>, key: &str, found: &mut Found) -> Option<String> {
    match map.remove(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => {
            found.push((format!("contact.{key}"), "must be a string".into()));
            None
        }
    }
}

/// An optional array of names, each once, in order.
fn names(map: &mut Map<String, Value>, key: &str, found: &mut Found) -> Vec<String> {
    let items = match map.remove(key) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            found.push((
                format!("contact.{key}"),
                "must be an array of names, such as [\"vip\"]".into(),
            ));
            return Vec::new();
        }
    };
    let sound = |item: &Value| {
        item.as_str()
            .is_some_and(|s| !s.trim().is_empty() && !s.chars().any(char::is_control))
    };
    if let Some(i) = items.iter().position(|item| !sound(item)) {
        found.push((
            format!("contact.{key}[{i}]"),
            "must be a non-empty name without control characters".into(),
        ));
        return Vec::new();
    }
    let mut seen = BTreeSet::new();
    let unique: Vec<String> = items
        .iter()
        .filter_map(Value::as_str)
        .map(|s| s.trim().to_string())
        .filter(|s| seen.insert(s.clone()))
        .collect();
    if unique.len() > MAX_NAMES {
        found.push((format!("contact.{key}"), format!("at most {MAX_NAMES} names")));
        return Vec::new();
    }
    unique
}
