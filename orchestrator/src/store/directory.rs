//! Contacts as the contacts API sees them: written whole or in part, found by search, and
//! erased with every row that holds their personal data.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::{Map, Value};

use super::contacts::ContactInput;
use super::counts::count_here;
use super::{Error, Result};
use crate::db::{all, col, exec, is_postgres, ms, one, placeholders};

/// A contact's own row, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ContactRow {
    #[serde(skip)]
    pub internal_id: i64,
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
    pub country: Option<String>,
    pub fields: Map<String, Value>,
}

fn row_of(r: &sea_orm::QueryResult) -> Result<ContactRow> {
    let internal_id: i64 = col(r, 0)?;
    let fields: String = col(r, 6)?;
    Ok(ContactRow {
        internal_id,
        id: col(r, 1)?,
        email: col(r, 2)?,
        phone: col(r, 3)?,
        timezone: col(r, 4)?,
        country: col(r, 5)?,
        fields: serde_json::from_str(&fields).map_err(Error::unreadable("the fields of contact", internal_id))?,
    })
}

const COLUMNS: &str = "id, external_id, email, phone, timezone, country, fields";

/// A contact's row by external id, locked until the transaction ends on PostgreSQL.
pub async fn get(c: &impl ConnectionTrait, external_id: &str, lock: bool) -> Result<Option<ContactRow>> {
    let lock = if lock && is_postgres(c) { " FOR UPDATE" } else { "" };
    let r = one(
        c,
        &format!("SELECT {COLUMNS} FROM contacts WHERE external_id = $1{lock}"),
        vec![external_id.into()],
    )
    .await?;
    r.as_ref().map(row_of).transpose()
}

/// Writes a contact whole: what `input` leaves out is cleared. Returns the internal id and
/// whether the contact was created.
pub async fn replace(c: &impl ConnectionTrait, input: &ContactInput, now: DateTime<Utc>) -> Result<(i64, bool)> {
    let tz = input.timezone.map(|t| t.name().to_string());
    let values = vec![
        input.id.clone().into(),
        input.email.clone().into(),
        input.phone.clone().into(),
        tz.into(),
        input.country.clone().into(),
        Value::Object(input.fields.clone()).to_string().into(),
        ms(now).into(),
    ];
    let inserted = one(
        c,
        "INSERT INTO contacts (external_id, email, phone, timezone, country, fields, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (external_id) DO NOTHING RETURNING id",
        values.clone(),
    )
    .await?;
    if let Some(r) = inserted {
        return Ok((col(&r, 0)?, true));
    }
    let r = one(
        c,
        "UPDATE contacts SET email = $2, phone = $3, timezone = $4, country = $5, fields = $6, updated_at = $7 \
         WHERE external_id = $1 RETURNING id",
        values,
    )
    .await?
    .ok_or_else(|| Error::custom(format!("contact {} neither inserted nor found", input.id)))?;
    Ok((col(&r, 0)?, false))
}

/// Writes a contact's row as it is now (after a partial update).
pub async fn update(c: &impl ConnectionTrait, row: &ContactRow, now: DateTime<Utc>) -> Result<()> {
    exec(
        c,
        "UPDATE contacts SET email = $2, phone = $3, timezone = $4, country = $5, fields = $6, updated_at = $7 \
         WHERE id = $1",
        vec![
            row.internal_id.into(),
            row.email.clone().into(),
            row.phone.clone().into(),
            row.timezone.clone().into(),
            row.country.clone().into(),
            Value::Object(row.fields.clone()).to_string().into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(())
}

/// `text` as a `LIKE` pattern matching it anywhere, case-insensitively (with `ESCAPE '\'`).
fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// Contacts after internal id `after`, in id order, at most `limit`; with `q`, only those whose
/// id, e-mail, phone or `name` / `first_name` / `last_name` field holds `q`, case-insensitively.
pub async fn search(c: &impl ConnectionTrait, q: Option<&str>, after: i64, limit: u64) -> Result<Vec<ContactRow>> {
    let (name, first, last) = if is_postgres(c) {
        (
            "(fields::json ->> 'name')",
            "(fields::json ->> 'first_name')",
            "(fields::json ->> 'last_name')",
        )
    } else {
        (
            "json_extract(fields, '$.name')",
            "json_extract(fields, '$.first_name')",
            "json_extract(fields, '$.last_name')",
        )
    };
    let mut values: Vec<sea_orm::Value> = vec![after.into(), (limit as i64).into()];
    let filter = match q {
        Some(q) => {
            values.push(contains_pattern(q).into());
            let like = |e: &str| format!("LOWER({e}) LIKE $3 ESCAPE '\\'");
            format!(
                " AND ({} OR {} OR {} OR {} OR {} OR {} OR {})",
                like("external_id"),
                like("email"),
                like("phone"),
                like(&format!("CAST({name} AS TEXT)")),
                like(&format!("CAST({first} AS TEXT)")),
                like(&format!("CAST({last} AS TEXT)")),
                like(&format!("CAST({first} AS TEXT) || ' ' || CAST({last} AS TEXT)")),
            )
        }
        None => String::new(),
    };
    let rows = all(
        c,
        &format!("SELECT {COLUMNS} FROM contacts WHERE id > $1{filter} ORDER BY id LIMIT $2"),
        values,
    )
    .await?;
    rows.iter().map(row_of).collect()
}

/// Erases a contact: their row, tags, lists, related records, journeys (running ones leave their node's count),
/// journal, messages with their outbox rows, queued and held events, set-aside items and the
/// suppressions of `addresses`. What stays are anonymous counts (`journal_counts`,
/// `tokens_here`). The contact's row must be locked first (PostgreSQL).
pub async fn erase(c: &impl ConnectionTrait, contact: i64, addresses: &[String]) -> Result<()> {
    let id = || vec![sea_orm::Value::from(contact)];
    let running = all(
        c,
        "SELECT flow_id, node FROM tokens WHERE contact_id = $1 AND finished <> 1",
        id(),
    )
    .await?;
    let mut here: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for r in &running {
        *here.entry((col(r, 0)?, col(r, 1)?)).or_default() -= 1;
    }
    for table in ["outbox", "outbox_later"] {
        exec(
            c,
            &format!("DELETE FROM {table} WHERE message_id IN (SELECT id FROM messages WHERE contact_id = $1)"),
            id(),
        )
        .await?;
    }
    for table in [
        "messages",
        "journal",
        "inbox",
        "held_events",
        "set_aside",
        "tokens",
        "contact_tags",
        "contact_lists",
        "contact_records",
    ] {
        exec(c, &format!("DELETE FROM {table} WHERE contact_id = $1"), id()).await?;
    }
    if !addresses.is_empty() {
        exec(
            c,
            &format!(
                "DELETE FROM suppressions WHERE address IN ({})",
                placeholders(1, addresses.len())
            ),
            addresses.iter().map(|a| a.clone().into()).collect(),
        )
        .await?;
    }
    exec(c, "DELETE FROM contacts WHERE id = $1", id()).await?;
    // Counter rows last (see `counts::COUNT_SHARDS`).
    count_here(c, here).await?;
    Ok(())
}
