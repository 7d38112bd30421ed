//! The `contact` object of an entry, read into a [`ContactInput`]: `id` plus the keys Cairn
//! knows (`email`, `phone`, `timezone`, `country`, and `tags` and `lists` as arrays of names, as
//! in `cairn simulate`'s contacts); any other key is a contact field. Every problem is reported
//! at once, each with its field, and nothing is written when there is one.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::Error;
use crate::store::contacts::ContactInput;

/// Tags, and lists, one entry may give a contact at most.
pub const MAX_NAMES: usize = 100;

/// Characters of an id or a name: a contact id, an entry key, an event type, a tag, a list, an
/// address.
pub const MAX_NAME: usize = 256;

/// Custom fields of a contact (keys besides `id`, `email`, …).
pub const MAX_FIELDS: usize = 200;

/// What is wrong with a name given for `field`, if anything: blank, too long, or holding
/// control characters.
pub fn name_problem(field: &str, value: &str) -> Option<(String, String)> {
    let problem = if value.trim().is_empty() {
        "is empty".to_string()
    } else if value.chars().count() > MAX_NAME {
        format!("is {} characters long; at most {MAX_NAME}", value.chars().count())
    } else if value.chars().any(char::is_control) {
        "must not contain control characters".to_string()
    } else {
        return None;
    };
    Some((field.to_string(), problem))
}

/// Problems found so far: (field, message).
type Found = Vec<(String, String)>;

pub fn contact_input(value: Option<Value>) -> Result<ContactInput, Error> {
    let Some(Value::Object(mut map)) = value else {
        return Err(Error::field("contact", "is required: an object with at least an 'id'"));
    };
    let mut found: Found = Vec::new();
    let id = match map.remove("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            found.push(("contact.id".into(), "is required: a non-empty string".into()));
            String::new()
        }
        Some(_) => {
            found.push((
                "contact.id".into(),
                "must be a string (an id such as \"c1\" or \"42\", quoted)".into(),
            ));
            String::new()
        }
    };
    if !id.is_empty() {
        found.extend(name_problem("contact.id", &id));
    }
    let email = text(&mut map, "email", &mut found);
    let phone = text(&mut map, "phone", &mut found);
    let country = text(&mut map, "country", &mut found).map(|c| c.to_ascii_uppercase());
    if let Some(c) = &country
        && !flows::countries::is_country(c)
    {
        found.push((
            "contact.country".into(),
            format!("'{c}' is not an ISO 3166 two-letter country code such as 'EE'"),
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
    if map.len() > MAX_FIELDS {
        found.push((
            "contact".into(),
            format!("has {} custom fields; at most {MAX_FIELDS}", map.len()),
        ));
    }
    if !found.is_empty() {
        return Err(Error::Fields(found));
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

/// An optional string key, trimmed; absent or null is none, blank is a mistake.
fn text(map: &mut Map<String, Value>, key: &str, found: &mut Found) -> Option<String> {
    match map.remove(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match name_problem(&format!("contact.{key}"), &s) {
            Some(problem) => {
                found.push((
                    problem.0,
                    format!("{} (leave it out or send null when unknown)", problem.1),
                ));
                None
            }
            None => Some(s.trim().to_string()),
        },
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
    let sound = |item: &Value| item.as_str().is_some_and(|s| name_problem(key, s).is_none());
    if let Some(i) = items.iter().position(|item| !sound(item)) {
        found.push((
            format!("contact.{key}[{i}]"),
            format!("must be a non-empty name of at most {MAX_NAME} characters without control characters"),
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
