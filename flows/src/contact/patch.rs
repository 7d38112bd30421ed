//! Reading a contact object, as an entry to the API or a line of an import gives it: `id` plus
//! the keys Cairn knows (`email`, `phone`, `timezone`, `country`, and `tags` and `lists` as
//! arrays of names); any other key is a custom field. Every problem is reported at once, each
//! named by its field.
//!
//! Files for `cairn simulate` may say more ([`ContactPatch::parse_with_facts`]): a tag may be
//! given with what it remembers (`{"tag": "pricing", "count": 2, "first_added_at": …,
//! "last_added_at": …}`), and `records` holds related records by type
//! (`{"contract": [{"id": "k1", "end_date": "2027-01-15"}]}`), and `messages` the messages
//! sent before (`[{"flow": "welcome", "node": "mail", "channel": "email", "sent_at": …,
//! "opened_at": …}]`).

use std::collections::BTreeSet;

use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::{Contact, Record, Records, Source, SourceKind, TagFact};
use crate::countries::is_country;
use crate::names::{MAX_NAME, name_problem};
use crate::problem::FieldProblem;
use crate::time::parse_instant;

/// Tags, and lists, one contact object may give at most.
pub const MAX_NAMES: usize = 100;

/// Custom fields of a contact object at most (keys besides `id`, `email`, …).
pub const MAX_FIELDS: usize = 200;

/// Related records one contact object may give at most, over all types.
pub const MAX_RECORDS: usize = 1_000;

/// What a contact object says about a contact: their id, the keys it gives, and the tags and
/// lists it adds (each once, in the order given). Absent keys leave a stored contact as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<Tz>,
    /// ISO 3166 alpha-2 code, upper case.
    pub country: Option<String>,
    pub fields: Map<String, Value>,
    pub tags: Vec<String>,
    pub lists: Vec<String>,
    /// Tags given with their facts (files only), each also named in `tags`.
    pub tag_facts: Vec<(String, TagFact)>,
    /// Related records by type (files only).
    pub records: Records,
    /// Messages sent before, with their opens and clicks (files only).
    pub messages: Vec<super::MessageFact>,
}

impl ContactPatch {
    /// Reads a contact object. Names (the id, addresses, tags, lists) follow [`name_problem`];
    /// `country` must be a country's code and `timezone` an IANA zone; a key that is absent or
    /// `null` is not given, a blank one is a mistake.
    pub fn parse(map: Map<String, Value>) -> Result<ContactPatch, Vec<FieldProblem>> {
        Self::read(map, false)
    }

    /// Reads a contact object as a file gives it: as [`parse`](Self::parse), and a tag may also
    /// be an object with its facts, and `records` holds related records by type.
    pub fn parse_with_facts(map: Map<String, Value>) -> Result<ContactPatch, Vec<FieldProblem>> {
        Self::read(map, true)
    }

    fn read(mut map: Map<String, Value>, with_facts: bool) -> Result<ContactPatch, Vec<FieldProblem>> {
        let mut found = Vec::new();
        let required = "is required: a non-empty string";
        let id = match map.remove("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            None => {
                found.push(FieldProblem::new("id", required).saying("'id' is missing"));
                String::new()
            }
            Some(Value::String(_)) | Some(Value::Null) => {
                found.push(FieldProblem::new("id", required));
                String::new()
            }
            Some(_) => {
                found.push(FieldProblem::new(
                    "id",
                    "must be a string (an id such as \"c1\" or \"42\", quoted)",
                ));
                String::new()
            }
        };
        if !id.is_empty() {
            found.extend(name_problem("id", &id));
        }
        let email = text(&mut map, "email", &mut found);
        let phone = text(&mut map, "phone", &mut found);
        let given_country = text(&mut map, "country", &mut found);
        let country = given_country.as_ref().map(|c| c.to_ascii_uppercase());
        if let (Some(given), Some(c)) = (&given_country, &country)
            && !is_country(c)
        {
            let not = "is not an ISO 3166 two-letter country code such as 'EE'";
            found.push(FieldProblem::new("country", format!("'{c}' {not}")).saying(format!("country '{given}' {not}")));
        }
        let timezone = text(&mut map, "timezone", &mut found).and_then(|z| {
            let zone = z.parse::<Tz>().ok();
            if zone.is_none() {
                let message = format!("unknown time zone '{z}' (use an IANA name such as 'Europe/Tallinn')");
                found.push(FieldProblem::new("timezone", message.clone()).saying(message));
            }
            zone
        });
        let mut tag_facts = Vec::new();
        if with_facts && let Some(Value::Array(items)) = map.get_mut("tags") {
            for (i, item) in items.iter_mut().enumerate() {
                if let Value::Object(fact) = item {
                    let at = format!("tags[{i}]");
                    let (name, fact) = tag_fact(std::mem::take(fact), &at, &mut found);
                    tag_facts.push((name.clone(), fact));
                    *item = Value::String(name);
                }
            }
        }
        let tags = names(&mut map, "tags", &mut found);
        let lists = names(&mut map, "lists", &mut found);
        let records = if with_facts {
            map.remove("records")
                .map(|r| records(r, &mut found))
                .unwrap_or_default()
        } else {
            Records::new()
        };
        let messages = match map.remove("messages").filter(|_| with_facts) {
            None => Vec::new(),
            Some(value) => match crate::json::typed_at::<Vec<super::MessageFact>>(value) {
                Ok(m) => m,
                Err(e) => {
                    let field = if e.path.is_empty() {
                        "messages".to_string()
                    } else {
                        format!("messages{}{}", if e.path.starts_with('[') { "" } else { "." }, e.path)
                    };
                    found.push(FieldProblem::new(field, e.message));
                    Vec::new()
                }
            },
        };
        if map.len() > MAX_FIELDS {
            let message = format!("has {} custom fields; at most {MAX_FIELDS}", map.len());
            found.push(FieldProblem::new("", message.clone()).saying(format!("the contact {message}")));
        }
        if !found.is_empty() {
            return Err(found);
        }
        Ok(ContactPatch {
            id,
            email,
            phone,
            timezone,
            country,
            fields: map,
            tags,
            lists,
            tag_facts,
            records,
            messages,
        })
    }
}

impl From<ContactPatch> for Contact {
    fn from(p: ContactPatch) -> Contact {
        let mut tags: super::Tags = p.tags.into_iter().collect();
        for (name, fact) in p.tag_facts {
            tags.set(name, fact);
        }
        Contact {
            id: p.id,
            email: p.email,
            phone: p.phone,
            timezone: p.timezone,
            country: p.country,
            fields: p.fields,
            tags,
            lists: p.lists.into_iter().collect(),
            records: p.records,
            messages: p.messages,
        }
    }
}

/// A tag given with its facts: `{"tag", "count"?, "first_added_at"?, "last_added_at"?,
/// "expires_at"?, "active"?, "source"?}`. A problem leaves a placeholder name behind, so the
/// name check that follows does not report the same item twice.
fn tag_fact(mut map: Map<String, Value>, at: &str, found: &mut Vec<FieldProblem>) -> (String, TagFact) {
    let mut fact = TagFact {
        count: 1,
        active: true,
        ..TagFact::default()
    };
    let name = match map.remove("tag") {
        Some(Value::String(s)) if name_problem("tag", &s).is_none() => s.trim().to_string(),
        _ => {
            found.push(FieldProblem::new(format!("{at}.tag"), "is required: the tag's name"));
            "?".to_string()
        }
    };
    match map.remove("count") {
        None => {}
        Some(Value::Number(n)) if n.as_u64().is_some_and(|c| (1..=u64::from(u32::MAX)).contains(&c)) => {
            fact.count = n.as_u64().and_then(|c| u32::try_from(c).ok()).unwrap_or(1);
        }
        Some(_) => found.push(FieldProblem::new(
            format!("{at}.count"),
            "must be a whole number, at least 1",
        )),
    }
    let mut instant = |key: &str| match map.remove(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if parse_instant(&s).is_some() => parse_instant(&s),
        Some(_) => {
            found.push(FieldProblem::new(
                format!("{at}.{key}"),
                "must be an RFC 3339 instant such as '2026-01-15T09:00:00Z' or a date such as '2026-01-15'",
            ));
            None
        }
    };
    fact.first_added_at = instant("first_added_at");
    fact.last_added_at = instant("last_added_at");
    fact.expires_at = instant("expires_at");
    match (fact.first_added_at, fact.last_added_at) {
        (None, Some(last)) => fact.first_added_at = Some(last),
        (Some(first), None) => fact.last_added_at = Some(first),
        (Some(first), Some(last)) if first > last => found.push(FieldProblem::new(
            format!("{at}.first_added_at"),
            "is after 'last_added_at'",
        )),
        _ => {}
    }
    match map.remove("active") {
        None => {}
        Some(Value::Bool(b)) => fact.active = b,
        Some(_) => found.push(FieldProblem::new(format!("{at}.active"), "must be true or false")),
    }
    match map.remove("source") {
        None | Some(Value::Null) => {}
        Some(value) => match serde_json::from_value::<Source>(value) {
            Ok(source) => fact.source = Some(source),
            Err(_) => {
                let kinds: Vec<&str> = SourceKind::ALL.iter().map(|k| k.as_str()).collect();
                found.push(FieldProblem::new(
                    format!("{at}.source"),
                    format!("must be {{\"kind\", \"ref\"?}} with a kind among {}", kinds.join(", ")),
                ));
            }
        },
    }
    for key in map.keys() {
        found.push(FieldProblem::new(
            format!("{at}.{key}"),
            "is not a tag fact (tag, count, first_added_at, last_added_at, expires_at, active, source)",
        ));
    }
    (name, fact)
}

/// `{"contract": [{"id": "k1", …fields}], …}`: records by type, each with a unique `id`.
fn records(value: Value, found: &mut Vec<FieldProblem>) -> Records {
    let mut out = Records::new();
    let Value::Object(types) = value else {
        found.push(FieldProblem::new(
            "records",
            "must be an object of record types, such as {\"contract\": [{\"id\": \"k1\"}]}",
        ));
        return out;
    };
    let mut total = 0;
    for (kind, items) in types {
        let at = format!("records.{kind}");
        if let Some(p) = name_problem(&at, &kind) {
            found.push(p);
            continue;
        }
        let Value::Array(items) = items else {
            found.push(FieldProblem::new(at, "must be an array of records"));
            continue;
        };
        let mut ids = BTreeSet::new();
        let mut list = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("{at}[{i}]");
            let Value::Object(mut fields) = item else {
                found.push(FieldProblem::new(at, "must be an object with an 'id'"));
                continue;
            };
            let id = match fields.remove("id") {
                Some(Value::String(s)) if name_problem("id", &s).is_none() => s.trim().to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    found.push(FieldProblem::new(format!("{at}.id"), "is required: a non-empty string"));
                    continue;
                }
            };
            if !ids.insert(id.clone()) {
                found.push(FieldProblem::new(format!("{at}.id"), format!("'{id}' appears twice")));
                continue;
            }
            list.push(Record { id, fields });
        }
        total += list.len();
        out.insert(kind, list);
    }
    if total > MAX_RECORDS {
        found.push(FieldProblem::new("records", format!("at most {MAX_RECORDS} records")));
    }
    out
}

/// An optional string key, trimmed; absent or null is none, blank is a mistake.
fn text(map: &mut Map<String, Value>, key: &str, found: &mut Vec<FieldProblem>) -> Option<String> {
    match map.remove(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match name_problem(key, &s) {
            Some(problem) => {
                found.push(FieldProblem::new(
                    key,
                    format!("{} (leave it out or send null when unknown)", problem.message),
                ));
                None
            }
            None => Some(s.trim().to_string()),
        },
        Some(_) => {
            found.push(FieldProblem::new(key, "must be a string"));
            None
        }
    }
}

/// An optional array of names, each once, in order.
fn names(map: &mut Map<String, Value>, key: &str, found: &mut Vec<FieldProblem>) -> Vec<String> {
    let items = match map.remove(key) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            found.push(FieldProblem::new(key, "must be an array of names, such as [\"vip\"]"));
            return Vec::new();
        }
    };
    let sound = |item: &Value| item.as_str().is_some_and(|s| name_problem(key, s).is_none());
    if let Some(i) = items.iter().position(|item| !sound(item)) {
        found.push(FieldProblem::new(
            format!("{key}[{i}]"),
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
        found.push(
            FieldProblem::new(key, format!("at most {MAX_NAMES} names"))
                .saying(format!("'{key}' has more than {MAX_NAMES} names")),
        );
        return Vec::new();
    }
    unique
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<ContactPatch, Vec<FieldProblem>> {
        let Value::Object(map) = value else { panic!("an object") };
        ContactPatch::parse(map)
    }

    #[test]
    fn a_contact_object_is_read_with_its_fields_tags_and_lists() {
        let p = parse(
            json!({"id": " c1 ", "email": "a@x.ee", "country": "ee", "timezone": "Europe/Tallinn",
                             "tags": ["vip", "new", "vip"], "lists": null, "plan": "pro"}),
        )
        .unwrap();
        assert_eq!(p.id, "c1");
        assert_eq!(p.country.as_deref(), Some("EE"));
        assert_eq!(p.timezone, Some(chrono_tz::Europe::Tallinn));
        assert_eq!(p.tags, ["vip", "new"]);
        assert!(p.lists.is_empty());
        assert_eq!(p.fields["plan"], "pro");
        let contact = Contact::from(p);
        assert!(contact.tags.contains("vip") && contact.phone.is_none());
    }

    #[test]
    fn every_problem_is_named_by_its_field_and_said_on_its_own() {
        let found = parse(json!({"email": " ", "country": "Estonia", "timezone": "Mars/Base",
                                 "tags": "vip", "lists": ["ok", ""]}))
        .unwrap_err();
        let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["id", "email", "country", "timezone", "tags", "lists[1]"]);
        assert_eq!(found[0].to_string(), "'id' is missing");
        assert_eq!(found[1].message, "is empty (leave it out or send null when unknown)");
        assert_eq!(
            found[2].message,
            "'ESTONIA' is not an ISO 3166 two-letter country code such as 'EE'"
        );
        assert!(
            found[2].to_string().starts_with("country 'Estonia' is not"),
            "{}",
            found[2]
        );
        assert!(
            found[3].to_string().starts_with("unknown time zone 'Mars/Base'"),
            "{}",
            found[3]
        );
        let many: Map<String, Value> = (0..=MAX_FIELDS).map(|i| (format!("f{i}"), json!(i))).collect();
        let mut object = many;
        object.insert("id".into(), json!(7));
        let found = ContactPatch::parse(object).unwrap_err();
        assert_eq!(found[0].field, "id");
        assert_eq!(found[1].field, "");
        assert_eq!(found[1].to_string(), "the contact has 201 custom fields; at most 200");
    }
}
