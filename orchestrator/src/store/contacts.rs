//! Contacts with their tags and lists.
//!
//! Tags remember: for each contact × tag, how many times it was added, the first and the last
//! time, and what added it; removing a tag keeps that history (`present = 0`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use flows::Contact;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Map, Value};

use crate::db::{all, col, exec, ms, one, placeholders};

/// A contact as the API receives it: the external id and whatever is known.
#[derive(Debug, Clone, Default)]
pub struct ContactInput {
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<chrono_tz::Tz>,
    pub country: Option<String>,
    pub fields: Map<String, Value>,
}

/// Creates the contact or merges what is given into it; returns its internal id.
pub async fn upsert(c: &impl ConnectionTrait, input: &ContactInput, now: DateTime<Utc>) -> Result<i64, DbErr> {
    let existing = one(
        c,
        "SELECT id, fields FROM contacts WHERE external_id = $1",
        vec![input.id.clone().into()],
    )
    .await?;
    let tz = input.timezone.map(|t| t.name().to_string());
    if let Some(r) = existing {
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
        return Ok(id);
    }
    let r = one(
        c,
        "INSERT INTO contacts (external_id, email, phone, timezone, country, fields, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        vec![
            input.id.clone().into(),
            input.email.clone().into(),
            input.phone.clone().into(),
            tz.into(),
            input.country.clone().into(),
            Value::Object(input.fields.clone()).to_string().into(),
            ms(now).into(),
        ],
    )
    .await?
    .ok_or_else(|| DbErr::Custom("INSERT … RETURNING gave no row".into()))?;
    col(&r, 0)
}

/// The internal id of a contact by its external id.
pub async fn find(c: &impl ConnectionTrait, external_id: &str) -> Result<Option<i64>, DbErr> {
    let r = one(
        c,
        "SELECT id FROM contacts WHERE external_id = $1",
        vec![external_id.into()],
    )
    .await?;
    r.as_ref().map(|r| col(r, 0)).transpose()
}

/// Contacts by internal id, with their present tags and their lists.
pub async fn load(c: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, Contact>, DbErr> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let values: Vec<sea_orm::Value> = chunk.iter().map(|i| (*i).into()).collect();
        let list = placeholders(1, chunk.len());
        let rows = all(
            c,
            &format!(
                "SELECT id, external_id, email, phone, timezone, country, fields FROM contacts WHERE id IN ({list})"
            ),
            values.clone(),
        )
        .await?;
        for r in rows {
            let id: i64 = col(&r, 0)?;
            let mut contact = Contact::new(col::<String>(&r, 1)?);
            contact.email = col(&r, 2)?;
            contact.phone = col(&r, 3)?;
            contact.timezone = col::<Option<String>>(&r, 4)?.and_then(|z| z.parse().ok());
            contact.country = col(&r, 5)?;
            contact.fields = serde_json::from_str(&col::<String>(&r, 6)?).unwrap_or_default();
            out.insert(id, contact);
        }
        let tags = all(
            c,
            &format!("SELECT contact_id, tag FROM contact_tags WHERE present = 1 AND contact_id IN ({list})"),
            values.clone(),
        )
        .await?;
        for r in tags {
            if let Some(contact) = out.get_mut(&col::<i64>(&r, 0)?) {
                contact.tags.insert(col(&r, 1)?);
            }
        }
        let lists = all(
            c,
            &format!("SELECT contact_id, list FROM contact_lists WHERE contact_id IN ({list})"),
            values,
        )
        .await?;
        for r in lists {
            if let Some(contact) = out.get_mut(&col::<i64>(&r, 0)?) {
                contact.lists.insert(col(&r, 1)?);
            }
        }
    }
    Ok(out)
}

/// Adds a tag (or adds it again: the counter and the last date move on).
pub async fn add_tag(
    c: &impl ConnectionTrait,
    contact: i64,
    tag: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    exec(
        c,
        "INSERT INTO contact_tags (contact_id, tag, present, times_added, first_added_at, last_added_at, source) \
         VALUES ($1, $2, 1, 1, $3, $3, $4) ON CONFLICT (contact_id, tag) DO UPDATE SET present = 1, \
         times_added = contact_tags.times_added + 1, last_added_at = excluded.last_added_at, source = excluded.source",
        vec![contact.into(), tag.into(), ms(now).into(), source.into()],
    )
    .await?;
    Ok(())
}

pub async fn remove_tag(c: &impl ConnectionTrait, contact: i64, tag: &str) -> Result<(), DbErr> {
    exec(
        c,
        "UPDATE contact_tags SET present = 0 WHERE contact_id = $1 AND tag = $2",
        vec![contact.into(), tag.into()],
    )
    .await?;
    Ok(())
}

pub async fn add_to_list(c: &impl ConnectionTrait, contact: i64, list: &str, now: DateTime<Utc>) -> Result<(), DbErr> {
    exec(
        c,
        "INSERT INTO contact_lists (contact_id, list, added_at) VALUES ($1, $2, $3) ON CONFLICT (contact_id, list) DO NOTHING",
        vec![contact.into(), list.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

pub async fn remove_from_list(c: &impl ConnectionTrait, contact: i64, list: &str) -> Result<(), DbErr> {
    exec(
        c,
        "DELETE FROM contact_lists WHERE contact_id = $1 AND list = $2",
        vec![contact.into(), list.into()],
    )
    .await?;
    Ok(())
}
