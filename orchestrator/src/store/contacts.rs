//! Contacts with their tags, lists and related records.
//!
//! Tags remember: for each contact × tag, how many times it was added, the first and the last
//! time, and what added it; removing a tag keeps that history (`present = 0`).
//!
//! Contact rows are what serialises the work on one contact across engines (PostgreSQL):
//! entries and passes that read a contact's history lock its row, several in id order
//! ([`lock_contacts`]), so two transactions never wait for each other's contacts crosswise.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use flows::Contact;
use flows::contact::{ListFact, Source, TagFact};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};

use super::{Error, Result};
use crate::db::Packed::{Int, Json, Text};
use crate::db::{all, all_packed, col, exec, from_ms, ms, one, placeholders};

/// A contact as the API receives it: the external id and whatever is known.
#[derive(Debug, Clone, Default)]
pub struct ContactInput {
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<chrono_tz::Tz>,
    pub country: Option<String>,
    pub fields: Map<String, Value>,
    /// Tags and lists the contact is given when their journey starts.
    pub tags: Vec<String>,
    pub lists: Vec<String>,
}

/// Creates the contact or merges what is given into it; returns its internal id. Safe against
/// a concurrent first insert of the same contact (`ON CONFLICT DO NOTHING`, then merge).
pub async fn upsert(c: &impl ConnectionTrait, input: &ContactInput, now: DateTime<Utc>) -> Result<i64> {
    let tz = input.timezone.map(|t| t.name().to_string());
    let inserted = one(
        c,
        "INSERT INTO contacts (external_id, email, phone, timezone, country, fields, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (external_id) DO NOTHING RETURNING id",
        vec![
            input.id.clone().into(),
            input.email.clone().into(),
            input.phone.clone().into(),
            tz.clone().into(),
            input.country.clone().into(),
            Value::Object(input.fields.clone()).to_string().into(),
            ms(now).into(),
        ],
    )
    .await?;
    if let Some(r) = inserted {
        return Ok(col(&r, 0)?);
    }
    let lock = if crate::db::is_postgres(c) { " FOR UPDATE" } else { "" };
    let r = one(
        c,
        &format!("SELECT id, fields FROM contacts WHERE external_id = $1{lock}"),
        vec![input.id.clone().into()],
    )
    .await?
    .ok_or_else(|| Error::custom(format!("contact {} neither inserted nor found", input.id)))?;
    let id: i64 = col(&r, 0)?;
    let mut fields: Map<String, Value> = serde_json::from_str(&col::<String>(&r, 1)?).unwrap_or_default();
    fields.extend(input.fields.clone());
    exec(
        c,
        "UPDATE contacts SET email = COALESCE($2, email), phone = COALESCE($3, phone), \
         timezone = COALESCE($4, timezone), country = COALESCE($5, country), fields = $6, updated_at = $7 WHERE id = $1",
        vec![
            id.into(),
            input.email.clone().into(),
            input.phone.clone().into(),
            tz.into(),
            input.country.clone().into(),
            Value::Object(fields).to_string().into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(id)
}

/// The internal id of a contact by its external id.
pub async fn find(c: &impl ConnectionTrait, external_id: &str) -> Result<Option<i64>> {
    let r = one(
        c,
        "SELECT id FROM contacts WHERE external_id = $1",
        vec![external_id.into()],
    )
    .await?;
    Ok(r.as_ref().map(|r| col(r, 0)).transpose()?)
}

/// The contact a message was sent to: `(internal id, external id)`.
pub async fn of_message(c: &impl ConnectionTrait, message: &str) -> Result<Option<(i64, String)>> {
    let row = one(
        c,
        "SELECT m.contact_id, c.external_id FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE m.id = $1",
        vec![message.into()],
    )
    .await?;
    row.map(|r| Ok((col(&r, 0)?, col(&r, 1)?))).transpose()
}

/// Locks contact rows (PostgreSQL), in the given order, until the transaction ends.
pub async fn lock_contacts(c: &impl ConnectionTrait, sorted_ids: &[i64]) -> Result<()> {
    for chunk in sorted_ids.chunks(1000) {
        let sql = format!(
            "SELECT id FROM contacts WHERE id IN ({}) ORDER BY id FOR UPDATE",
            placeholders(1, chunk.len())
        );
        all(c, &sql, chunk.iter().map(|i| (*i).into()).collect()).await?;
    }
    Ok(())
}

/// Contacts by internal id, with their tag facts (present or not), their lists and their
/// related records.
pub async fn load(c: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, Contact>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let values: Vec<sea_orm::Value> = chunk.iter().map(|i| (*i).into()).collect();
        let list = placeholders(1, chunk.len());
        type ContactRow = (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            serde_json::Map<String, serde_json::Value>,
        );
        let rows: Vec<ContactRow> = all_packed(
            c,
            &format!(
                "SELECT id AS c0, external_id AS c1, email AS c2, phone AS c3, timezone AS c4, country AS c5, fields AS c6 \
                 FROM contacts WHERE id IN ({list})"
            ),
            &[Int, Text, Text, Text, Text, Text, Json],
            values.clone(),
        )
        .await?;
        for (id, external, email, phone, timezone, country, fields) in rows {
            let mut contact = Contact::new(external);
            contact.email = email;
            contact.phone = phone;
            contact.timezone = timezone.and_then(|z| z.parse().ok());
            contact.country = country;
            contact.fields = fields;
            out.insert(id, contact);
        }
        // Every tag a contact was ever given, present or not: what each remembers is a fact
        // conditions read (a removed tag keeps its count and dates).
        type TagRow = (
            i64,
            String,
            i64,
            i64,
            i64,
            i64,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let tags: Vec<TagRow> = all_packed(
            c,
            &format!(
                "SELECT contact_id AS c0, tag AS c1, present AS c2, times_added AS c3, first_added_at AS c4, \
                 last_added_at AS c5, expires_at AS c6, source AS c7, source_ref AS c8 \
                 FROM contact_tags WHERE contact_id IN ({list})"
            ),
            &[Int, Text, Int, Int, Int, Int, Int, Text, Text],
            values.clone(),
        )
        .await?;
        for (id, tag, present, times_added, first, last, expires, source, source_ref) in tags {
            if let Some(contact) = out.get_mut(&id) {
                let fact = TagFact {
                    count: u32::try_from(times_added.max(0)).unwrap_or(u32::MAX),
                    first_added_at: Some(from_ms(first)),
                    last_added_at: Some(from_ms(last)),
                    expires_at: expires.map(from_ms),
                    active: present != 0,
                    source: source.as_deref().and_then(Source::from_text).map(|mut s| {
                        s.reference = s.reference.or(source_ref);
                        s
                    }),
                };
                contact.tags.set(tag, fact);
            }
        }
        type ListRow = (i64, String, i64, Option<String>, Option<String>);
        let lists: Vec<ListRow> = all_packed(
            c,
            &format!(
                "SELECT contact_id AS c0, list AS c1, added_at AS c2, source AS c3, source_ref AS c4 \
                 FROM contact_lists WHERE contact_id IN ({list})"
            ),
            &[Int, Text, Int, Text, Text],
            values.clone(),
        )
        .await?;
        for (id, list, added_at, source, source_ref) in lists {
            if let Some(contact) = out.get_mut(&id) {
                let fact = ListFact {
                    added_at: Some(from_ms(added_at)),
                    source: source.as_deref().and_then(Source::from_text).map(|mut s| {
                        s.reference = s.reference.or(source_ref);
                        s
                    }),
                };
                contact.lists.set(list, fact);
            }
        }
        super::records::load_into(c, &mut out, values, &list).await?;
    }
    Ok(out)
}

/// A batch of tag and list changes in order, written with a few statements. Changes to the same
/// (contact, tag) collapse: every add counts, the last change decides whether it is present.
pub async fn apply_changes(
    c: &impl ConnectionTrait,
    changes: &[(i64, flows::Effect, &'static str)],
    now: DateTime<Utc>,
) -> Result<()> {
    use flows::Effect;
    use std::collections::BTreeMap;
    // (contact, tag) -> (adds, present at the end, source of the last add)
    let mut tags: BTreeMap<(i64, &str), (i64, bool, &str)> = BTreeMap::new();
    let mut lists: BTreeMap<(i64, &str), (bool, &str)> = BTreeMap::new();
    for (contact, change, source) in changes {
        match change {
            Effect::AddTag { tag } => {
                let e = tags.entry((*contact, tag.as_str())).or_insert((0, true, source));
                *e = (e.0 + 1, true, source);
            }
            Effect::RemoveTag { tag } => {
                tags.entry((*contact, tag.as_str())).or_insert((0, false, source)).1 = false;
            }
            Effect::AddToList { list } => {
                lists.insert((*contact, list.as_str()), (true, source));
            }
            Effect::RemoveFromList { list } => {
                lists.insert((*contact, list.as_str()), (false, source));
            }
            Effect::Journal { .. } | Effect::Send(_) => {}
        }
    }
    let added: Vec<Vec<sea_orm::Value>> = tags
        .iter()
        .filter(|(_, (adds, _, _))| *adds > 0)
        .map(|((contact, tag), (adds, present, source))| {
            vec![
                (*contact).into(),
                (*tag).into(),
                i64::from(*present).into(),
                (*adds).into(),
                ms(now).into(),
                ms(now).into(),
                (*source).into(),
            ]
        })
        .collect();
    crate::db::upsert_rows(
        c,
        "contact_tags",
        &[
            "contact_id",
            "tag",
            "present",
            "times_added",
            "first_added_at",
            "last_added_at",
            "source",
        ],
        added,
        "ON CONFLICT (contact_id, tag) DO UPDATE SET present = excluded.present, \
         times_added = contact_tags.times_added + excluded.times_added, last_added_at = excluded.last_added_at, \
         source = excluded.source, source_ref = NULL, expires_at = NULL",
    )
    .await?;
    // A tag with a lifetime runs out its lifetime after this addition.
    let added: Vec<(i64, &str)> = tags
        .iter()
        .filter(|(_, (adds, present, _))| *adds > 0 && *present)
        .map(|((contact, tag), _)| (*contact, *tag))
        .collect();
    super::tags::expire_by_definitions(c, &added, now).await?;
    for ((contact, tag), _) in tags.iter().filter(|(_, (adds, present, _))| *adds == 0 && !present) {
        remove_tag(c, *contact, tag).await?;
    }
    let joined: Vec<Vec<sea_orm::Value>> = lists
        .iter()
        .filter(|(_, (present, _))| *present)
        .map(|((contact, list), (_, source))| vec![(*contact).into(), (*list).into(), ms(now).into(), (*source).into()])
        .collect();
    crate::db::upsert_rows(
        c,
        "contact_lists",
        &["contact_id", "list", "added_at", "source"],
        joined,
        "ON CONFLICT (contact_id, list) DO NOTHING",
    )
    .await?;
    for ((contact, list), _) in lists.iter().filter(|(_, (present, _))| !*present) {
        remove_from_list(c, *contact, list).await?;
    }
    Ok(())
}

/// Adds a tag (or adds it again: the counter and the last date move on, and a lifetime starts
/// over).
pub async fn add_tag(
    c: &impl ConnectionTrait,
    contact: i64,
    tag: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let source = super::tags::Source {
        kind: source.to_string(),
        reference: None,
    };
    super::tags::add(c, contact, tag, &source, now).await
}

pub async fn remove_tag(c: &impl ConnectionTrait, contact: i64, tag: &str) -> Result<()> {
    exec(
        c,
        "UPDATE contact_tags SET present = 0, expires_at = NULL WHERE contact_id = $1 AND tag = $2",
        vec![contact.into(), tag.into()],
    )
    .await?;
    Ok(())
}

pub async fn add_to_list(c: &impl ConnectionTrait, contact: i64, list: &str, now: DateTime<Utc>) -> Result<()> {
    exec(
        c,
        "INSERT INTO contact_lists (contact_id, list, added_at, source) VALUES ($1, $2, $3, 'api') \
         ON CONFLICT (contact_id, list) DO NOTHING",
        vec![contact.into(), list.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

pub async fn remove_from_list(c: &impl ConnectionTrait, contact: i64, list: &str) -> Result<()> {
    exec(
        c,
        "DELETE FROM contact_lists WHERE contact_id = $1 AND list = $2",
        vec![contact.into(), list.into()],
    )
    .await?;
    Ok(())
}
