//! The contacts API's use cases: writing a contact whole (`PUT`) or in part (`PATCH`),
//! searching, erasing, and the tags and lists a contact is given or loses.
//!
//! Every tag or list change is journaled for the contact (node `contact`: `tag_added` with its
//! source, `tag_removed`, `list_added`, `list_removed`) and queued as an event
//! (`tag_added`, …), so it can start or wake journeys; the event carries `recorded: true`
//! ([`tags::RECORDED`]) and `source`, and the engine does not apply the change again.

use chrono::{DateTime, Utc};
use flows::contact::SourceKind;
use flows::{ContactPatch, Event, FieldProblem};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};

use super::{Error, Result, Services};
use crate::store::contacts::ContactInput;
use crate::store::directory::{self, ContactRow};
use crate::store::tags::{self, ListFact, Source, TagFact};
use crate::store::{contacts, inbox, journal};

/// Checks a source as a body gives it (`field` names it in a 422).
pub fn source(field: &str, kind: Option<String>, reference: Option<String>) -> Result<Source> {
    let kind = kind.unwrap_or_else(|| "api".into());
    let kinds = || SourceKind::ALL.map(SourceKind::as_str);
    if !kinds().contains(&kind.as_str()) {
        return Err(Error::field(
            &format!("{field}.kind"),
            format!("'{kind}' is not a source kind: one of {}", kinds().join(", ")),
        ));
    }
    if let Some(problem) = reference
        .as_deref()
        .and_then(|r| super::contact::name_problem(&format!("{field}.ref"), r))
    {
        return Err(Error::Fields(vec![problem]));
    }
    Ok(Source { kind, reference })
}

/// A name given in a path or a body is a name ([`super::contact::name_problem`]).
fn name(field: &str, value: &str) -> Result<()> {
    match super::contact::name_problem(field, value) {
        Some(problem) => Err(Error::Fields(vec![problem])),
        None => Ok(()),
    }
}

pub(super) fn problems(found: Vec<FieldProblem>) -> Error {
    Error::Fields(found.into_iter().map(|p| (p.field, p.message)).collect())
}

/// The body's `id`, when given, is the path's.
fn same_id(path_id: &str, map: &mut Map<String, Value>) -> Result<()> {
    match map.get("id") {
        None | Some(Value::Null) => {
            map.insert("id".into(), path_id.into());
            Ok(())
        }
        Some(Value::String(s)) if s.trim() == path_id => Ok(()),
        Some(_) => Err(Error::field(
            "id",
            format!("must be the path's id '{path_id}' when given"),
        )),
    }
}

/// Addresses as they are checked at send time: an e-mail address that can be sent to, a phone
/// number in international format.
fn check_addresses(email: Option<&str>, phone: Option<&str>) -> Result<()> {
    let found = address_problems(email, phone);
    if found.is_empty() {
        Ok(())
    } else {
        Err(Error::Fields(found))
    }
}

/// What is wrong with the addresses as they are checked at send time, as (field, message).
pub fn address_problems(email: Option<&str>, phone: Option<&str>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    if let Some(Err(message)) = email.map(flows::geo::check_email) {
        found.push(("email".to_string(), message));
    }
    if let Some(Err(message)) = phone.map(flows::geo::phone_digits) {
        found.push(("phone".to_string(), message));
    }
    found
}

fn parse(map: Map<String, Value>) -> Result<ContactInput> {
    let patch = ContactPatch::parse(map).map_err(problems)?;
    check_addresses(patch.email.as_deref(), patch.phone.as_deref())?;
    Ok(patch.into())
}

fn object(body: Value) -> Result<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(Error::field(
            "contact",
            "must be an object: the contact's keys and fields",
        )),
    }
}

/// `PUT`: writes the contact whole (what the body leaves out is cleared; tags and lists given
/// are added when the contact does not have them). Returns whether it was created.
pub async fn put(s: &Services, id: &str, body: Value) -> Result<bool> {
    name("id", id)?;
    let mut map = object(body)?;
    same_id(id, &mut map)?;
    let input = parse(map)?;
    let now = s.clock.now();
    let created = crate::db::in_write(&s.db, async |tx| {
        let (contact, created) = directory::replace(tx, &input, now).await?;
        memberships(tx, (contact, &input.id), &input, now).await?;
        Ok::<_, Error>(created)
    })
    .await?;
    s.engine.notify_one();
    Ok(created)
}

/// `PATCH`: only the keys given change; `null` clears a known key or removes a field.
pub async fn patch(s: &Services, id: &str, body: Value) -> Result<()> {
    name("id", id)?;
    let mut map = object(body)?;
    same_id(id, &mut map)?;
    let cleared: Vec<String> = map
        .iter()
        .filter(|(k, v)| v.is_null() && k.as_str() != "id")
        .map(|(k, _)| k.clone())
        .collect();
    map.retain(|_, v| !v.is_null());
    let input = parse(map)?;
    let now = s.clock.now();
    crate::db::in_write(&s.db, async |tx| {
        let mut row = directory::get(tx, id, true).await?.ok_or_else(|| missing(id))?;
        for key in &cleared {
            match key.as_str() {
                "email" => row.email = None,
                "phone" => row.phone = None,
                "timezone" => row.timezone = None,
                "country" => row.country = None,
                "tags" | "lists" => {}
                field => {
                    row.fields.remove(field);
                }
            }
        }
        row.email = input.email.clone().or(row.email);
        row.phone = input.phone.clone().or(row.phone);
        row.timezone = input.timezone.map(|z| z.name().to_string()).or(row.timezone);
        row.country = input.country.clone().or(row.country);
        row.fields.extend(input.fields.clone());
        if row.fields.len() > flows::contact::MAX_FIELDS {
            return Err(Error::field(
                "contact",
                format!(
                    "would have {} custom fields; at most {}",
                    row.fields.len(),
                    flows::contact::MAX_FIELDS
                ),
            ));
        }
        directory::update(tx, &row, now).await?;
        memberships(tx, (row.internal_id, id), &input, now).await?;
        Ok(())
    })
    .await?;
    s.engine.notify_one();
    Ok(())
}

/// Tags and lists a contact object gives: added with source `api` unless the contact has them
/// already (an active tag is not counted again), so the same `PUT` twice changes nothing.
async fn memberships(
    c: &impl ConnectionTrait,
    (contact, external): (i64, &str),
    input: &ContactInput,
    now: DateTime<Utc>,
) -> Result<()> {
    if input.tags.is_empty() && input.lists.is_empty() {
        return Ok(());
    }
    let active: std::collections::HashSet<String> = tags::facts(c, contact)
        .await?
        .into_iter()
        .filter(|f| f.active)
        .map(|f| f.tag)
        .collect();
    for tag in input.tags.iter().filter(|t| !active.contains(*t)) {
        add_tag_in(c, (contact, external), tag, &Source::api(), now).await?;
    }
    for list in &input.lists {
        join_in(c, (contact, external), list, &Source::api(), now).await?;
    }
    Ok(())
}

fn missing(id: &str) -> Error {
    Error::NotFound(format!("no contact with id '{id}'"))
}

/// A page of contacts and the cursor of the next, if there is one.
pub struct Page {
    pub contacts: Vec<ContactRow>,
    pub next_cursor: Option<String>,
}

/// Cursors are opaque: the last internal id of a page, encoded.
fn cursor_of(id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("c:{id}"))
}

fn cursor_id(cursor: &str) -> Option<i64> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("c:")?.parse().ok()
}

/// Contacts whose id, e-mail, phone or name holds `q` (case-insensitive substring), in the
/// order they were created, `limit` at a time (1–1000).
pub async fn search(s: &Services, q: Option<&str>, cursor: Option<&str>, limit: u64) -> Result<Page> {
    let after = match cursor {
        None => 0,
        Some(c) => cursor_id(c).ok_or_else(|| Error::field("cursor", "is not a cursor this API returned"))?,
    };
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().any(char::is_control) || q.chars().count() > 256) {
        return Err(Error::field(
            "q",
            "must be at most 256 characters, none a control character",
        ));
    }
    let mut contacts = directory::search(&s.db, q, after, limit + 1).await?;
    let next_cursor = if contacts.len() as u64 > limit {
        contacts.truncate(limit as usize);
        contacts.last().map(|c| cursor_of(c.internal_id))
    } else {
        None
    };
    Ok(Page { contacts, next_cursor })
}

/// Erases a contact: their personal data goes from every table; their running journeys end.
pub async fn erase(s: &Services, id: &str) -> Result<()> {
    crate::db::in_write(&s.db, async |tx| {
        let row = directory::get(tx, id, true).await?.ok_or_else(|| missing(id))?;
        let mut contact = flows::Contact::new(row.id.clone());
        contact.email = row.email.clone();
        contact.phone = row.phone.clone();
        let addresses: Vec<String> = flows::geo::suppression_keys(&contact).collect();
        directory::erase(tx, row.internal_id, &addresses).await?;
        Ok::<_, Error>(())
    })
    .await
}

/// A contact as `GET /api/contacts/{id}` shows it: the record, the zone its sends use and which
/// source gave it, its country, suppressed addresses, its tag and list facts and its related
/// records by type.
pub async fn view(s: &Services, id: &str) -> Result<Value> {
    let contact_id = existing(&s.db, id).await?;
    let contact = contacts::load(&s.db, &[contact_id])
        .await?
        .remove(&contact_id)
        .ok_or_else(|| missing(id))?;
    let (zone, zone_source) = flows::geo::contact_zone(&contact, None, s.policy.get().default_timezone);
    let addresses: Vec<String> = flows::geo::suppression_keys(&contact).collect();
    let suppressed = crate::store::history::suppressed(&s.db, &addresses).await?;
    let (tags, lists) = facts(&s.db, contact_id).await?;
    let records = super::records::by_type(&s.db, contact_id).await?;
    Ok(json!({
        "id": contact.id,
        "email": contact.email,
        "phone": contact.phone,
        "country": flows::geo::contact_country(&contact),
        "timezone": zone.name(),
        "timezone_source": zone_source,
        "fields": contact.fields,
        "tags": tags,
        "lists": lists,
        "records": records,
        "suppressed": suppressed,
    }))
}

/// The journal of a contact, as `cairn simulate` prints it (plus `flow`).
pub async fn journal_of(s: &Services, id: &str) -> Result<Vec<Value>> {
    let contact_id = existing(&s.db, id).await?;
    Ok(journal::journal_of(&s.db, contact_id).await?)
}

/// A contact's tags and lists with what each remembers.
pub async fn facts(c: &impl ConnectionTrait, contact: i64) -> Result<(Vec<TagFact>, Vec<ListFact>)> {
    Ok((tags::facts(c, contact).await?, tags::list_facts(c, contact).await?))
}

async fn existing(c: &impl ConnectionTrait, id: &str) -> Result<i64> {
    contacts::find(c, id).await?.ok_or_else(|| missing(id))
}

/// Journals a change for the contact and queues its event.
async fn record(
    c: &impl ConnectionTrait,
    (contact, external): (i64, &str),
    kind: &str,
    (tag, list): (Option<&str>, Option<&str>),
    source: Option<&Source>,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut line = json!({"action": kind});
    let mut data = Map::new();
    data.insert(tags::RECORDED.into(), true.into());
    if let Some(tag) = tag {
        line["tag"] = tag.into();
    }
    if let Some(list) = list {
        line["list"] = list.into();
    }
    if let Some(source) = source {
        let source = json!(source);
        line["source"] = source.clone();
        data.insert("source".into(), source);
    }
    journal::append_contact_lines(c, vec![(contact, now, line)]).await?;
    let event = Event {
        at: now,
        contact: external.to_string(),
        kind: kind.to_string(),
        message: None,
        tag: tag.map(str::to_string),
        list: list.map(str::to_string),
        data,
    };
    inbox::push_event(c, contact, &event, now).await?;
    Ok(())
}

async fn add_tag_in(
    c: &impl ConnectionTrait,
    who: (i64, &str),
    tag: &str,
    source: &Source,
    now: DateTime<Utc>,
) -> Result<()> {
    tags::add(c, who.0, tag, source, now).await?;
    record(c, who, "tag_added", (Some(tag), None), Some(source), now).await
}

async fn join_in(
    c: &impl ConnectionTrait,
    who: (i64, &str),
    list: &str,
    source: &Source,
    now: DateTime<Utc>,
) -> Result<()> {
    if tags::join(c, who.0, list, source, now).await? {
        record(c, who, "list_added", (None, Some(list)), Some(source), now).await?;
    }
    Ok(())
}

/// Adds a tag to a contact (again); returns the tag as it now is.
pub async fn add_tag(s: &Services, id: &str, tag: &str, source: Source) -> Result<TagFact> {
    name("tag", tag)?;
    let now = s.clock.now();
    let fact = crate::db::in_write(&s.db, async |tx| {
        let contact = existing(tx, id).await?;
        add_tag_in(tx, (contact, id), tag, &source, now).await?;
        let fact = tags::facts(tx, contact).await?.into_iter().find(|f| f.tag == tag);
        fact.ok_or_else(|| Error::Inconsistent {
            what: format!("tag '{tag}' of contact '{id}' was added and is not there"),
            source: None,
        })
    })
    .await?;
    s.engine.notify_one();
    Ok(fact)
}

/// Makes a contact's tag inactive (its counter stays); `false` when it was not active.
pub async fn remove_tag(s: &Services, id: &str, tag: &str) -> Result<bool> {
    name("tag", tag)?;
    let now = s.clock.now();
    let removed = crate::db::in_write(&s.db, async |tx| {
        let contact = existing(tx, id).await?;
        let removed = tags::remove(tx, contact, tag).await?;
        if removed {
            record(tx, (contact, id), "tag_removed", (Some(tag), None), None, now).await?;
        }
        Ok::<_, Error>(removed)
    })
    .await?;
    s.engine.notify_one();
    Ok(removed)
}

/// Adds a contact to a list; returns their membership (its date is the first addition's).
pub async fn join_list(s: &Services, id: &str, list: &str, source: Source) -> Result<ListFact> {
    name("list", list)?;
    let now = s.clock.now();
    let fact = crate::db::in_write(&s.db, async |tx| {
        let contact = existing(tx, id).await?;
        join_in(tx, (contact, id), list, &source, now).await?;
        let fact = tags::list_facts(tx, contact)
            .await?
            .into_iter()
            .find(|f| f.list == list);
        fact.ok_or_else(|| Error::Inconsistent {
            what: format!("contact '{id}' joined list '{list}' and is not in it"),
            source: None,
        })
    })
    .await?;
    s.engine.notify_one();
    Ok(fact)
}

/// Takes a contact off a list; `false` when they were not in it.
pub async fn leave_list(s: &Services, id: &str, list: &str) -> Result<bool> {
    name("list", list)?;
    let now = s.clock.now();
    let left = crate::db::in_write(&s.db, async |tx| {
        let contact = existing(tx, id).await?;
        let left = tags::leave(tx, contact, list).await?;
        if left {
            record(tx, (contact, id), "list_removed", (None, Some(list)), None, now).await?;
        }
        Ok::<_, Error>(left)
    })
    .await?;
    s.engine.notify_one();
    Ok(left)
}

/// Defines a tag (or changes its definition); returns whether it was new. A new lifetime
/// applies to active tags from their last addition; no lifetime ends their expiry.
pub async fn define_tag(s: &Services, tag: &str, lifetime: Option<&str>, description: Option<&str>) -> Result<bool> {
    name("name", tag)?;
    let lifetime_ms = match lifetime {
        None => None,
        Some(text) => {
            let d: flows::values::Duration = text.parse().map_err(|e: String| Error::field("lifetime", e))?;
            if d.seconds() == 0 {
                return Err(Error::field("lifetime", "must be longer than 0s (or null: no expiry)"));
            }
            Some(d.seconds() * 1000)
        }
    };
    if let Some(d) = description
        && d.chars().count() > 1000
    {
        return Err(Error::field("description", "is longer than 1000 characters"));
    }
    let now = s.clock.now();
    let created = crate::db::in_write(&s.db, async |tx| {
        Ok::<_, Error>(tags::define(tx, tag, lifetime_ms, description, now).await?)
    })
    .await?;
    Ok(created)
}
