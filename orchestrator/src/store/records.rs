//! Related records a contact has (contracts, products, orders, loyalty status…), and the
//! declared field types of record types.
//!
//! `contact_records` holds one row per contact × type × record id, its fields a JSON object;
//! [`load_into`] gives a batch of loaded contacts their records with one query, so conditions
//! and templates read them. `record_types` holds each declared type's fields (name → `date`,
//! `number`, `text` or `bool`); checking a record against them is the caller's.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use flows::Contact;
use flows::contact::Record;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Error, Result};
use crate::db::Packed::{Int, Json, Text};
use crate::db::{all, all_packed, col, exec, from_ms, ms, one};

/// One stored record of a contact, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredRecord {
    /// The record type (`contract`, `order`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// The record's id, unique among the contact's records of its type.
    pub id: String,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which record a statement is about: `(contact's internal id, type, record id)`.
pub type RecordKey<'a> = (i64, &'a str, &'a str);

/// Writes a record whole (its fields replace the stored ones); returns it as stored and whether
/// it was created.
pub async fn put(
    c: &impl ConnectionTrait,
    (contact, kind, id): RecordKey<'_>,
    fields: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(StoredRecord, bool)> {
    let key = || -> Vec<sea_orm::Value> { vec![contact.into(), kind.into(), id.into()] };
    let existed = one(
        c,
        "SELECT 1 FROM contact_records WHERE contact_id = $1 AND type = $2 AND record_id = $3",
        key(),
    )
    .await?
    .is_some();
    let text = serde_json::to_string(fields).map_err(Error::unwritable("a record's fields"))?;
    let mut values = key();
    values.extend([text.into(), ms(now).into()]);
    let r = one(
        c,
        "INSERT INTO contact_records (contact_id, type, record_id, fields, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (contact_id, type, record_id) \
         DO UPDATE SET fields = excluded.fields, updated_at = excluded.updated_at RETURNING created_at, updated_at",
        values,
    )
    .await?
    .ok_or_else(|| {
        Error::custom(format!(
            "record {kind}/{id} of contact {contact} was written and not returned"
        ))
    })?;
    let record = StoredRecord {
        kind: kind.to_string(),
        id: id.to_string(),
        fields: fields.clone(),
        created_at: from_ms(col(&r, 0)?),
        updated_at: from_ms(col(&r, 1)?),
    };
    Ok((record, !existed))
}

/// Deletes a record; `false` when there was none.
pub async fn delete(c: &impl ConnectionTrait, (contact, kind, id): RecordKey<'_>) -> Result<bool> {
    let n = exec(
        c,
        "DELETE FROM contact_records WHERE contact_id = $1 AND type = $2 AND record_id = $3",
        vec![contact.into(), kind.into(), id.into()],
    )
    .await?;
    Ok(n > 0)
}

/// How many records a contact has, of every type.
pub async fn count_of(c: &impl ConnectionTrait, contact: i64) -> Result<i64> {
    let r = one(
        c,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM contact_records WHERE contact_id = $1",
        vec![contact.into()],
    )
    .await?
    .ok_or_else(|| Error::custom("COUNT(*) returned no row"))?;
    Ok(col(&r, 0)?)
}

/// A contact's records, by type then id.
pub async fn of_contact(c: &impl ConnectionTrait, contact: i64) -> Result<Vec<StoredRecord>> {
    let rows = all(
        c,
        "SELECT type, record_id, fields, created_at, updated_at FROM contact_records \
         WHERE contact_id = $1 ORDER BY type, record_id",
        vec![contact.into()],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let fields: String = col(r, 2)?;
            Ok(StoredRecord {
                kind: col(r, 0)?,
                id: col(r, 1)?,
                fields: serde_json::from_str(&fields).map_err(Error::unreadable("a record of contact", contact))?,
                created_at: from_ms(col(r, 3)?),
                updated_at: from_ms(col(r, 4)?),
            })
        })
        .collect()
}

/// Gives loaded contacts their records (by type, each type's in id order) with one query for
/// the batch: `ids` are internal ids (at most a thousand), `placeholders` their `IN` list.
pub(super) async fn load_into(
    c: &impl ConnectionTrait,
    contacts: &mut HashMap<i64, Contact>,
    ids: Vec<sea_orm::Value>,
    placeholders: &str,
) -> Result<()> {
    let rows: Vec<(i64, String, String, Map<String, Value>)> = all_packed(
        c,
        &format!(
            "SELECT contact_id AS c0, type AS c1, record_id AS c2, fields AS c3 FROM contact_records \
             WHERE contact_id IN ({placeholders}) ORDER BY contact_id, type, record_id"
        ),
        &[Int, Text, Text, Json],
        ids,
    )
    .await?;
    for (contact, kind, id, fields) in rows {
        if let Some(contact) = contacts.get_mut(&contact) {
            contact.records.entry(kind).or_default().push(Record { id, fields });
        }
    }
    Ok(())
}

/// A record type's declaration: its fields' types by name (`date`, `number`, `text`, `bool`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordType {
    pub kind: String,
    pub fields: BTreeMap<String, String>,
    pub description: Option<String>,
}

/// Declares a record type (or changes its declaration); returns whether it was new.
pub async fn define(c: &impl ConnectionTrait, declared: &RecordType, now: DateTime<Utc>) -> Result<bool> {
    let existed = one(
        c,
        "SELECT 1 FROM record_types WHERE type = $1",
        vec![declared.kind.clone().into()],
    )
    .await?
    .is_some();
    let fields = serde_json::to_string(&declared.fields).map_err(Error::unwritable("a record type's fields"))?;
    exec(
        c,
        "INSERT INTO record_types (type, fields, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (type) DO UPDATE SET fields = excluded.fields, description = excluded.description, \
         updated_at = excluded.updated_at",
        vec![
            declared.kind.clone().into(),
            fields.into(),
            declared.description.clone().into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(!existed)
}

fn record_type(r: &sea_orm::QueryResult) -> Result<RecordType> {
    let kind: String = col(r, 0)?;
    let fields: String = col(r, 1)?;
    let fields = serde_json::from_str(&fields).map_err(|source| Error::UnreadableNamed {
        what: "the fields of record type",
        name: kind.clone(),
        source,
    })?;
    Ok(RecordType {
        kind,
        fields,
        description: col(r, 2)?,
    })
}

/// A record type's declaration, if it has one.
pub async fn declared(c: &impl ConnectionTrait, kind: &str) -> Result<Option<RecordType>> {
    let r = one(
        c,
        "SELECT type, fields, description FROM record_types WHERE type = $1",
        vec![kind.into()],
    )
    .await?;
    r.as_ref().map(record_type).transpose()
}

/// A record type in use or declared: its declaration if any, its records and the contacts
/// that have one.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeUse {
    pub kind: String,
    pub declared: Option<RecordType>,
    pub records: i64,
    pub contacts: i64,
}

/// Every declared record type and every type in use, by name.
pub async fn types(c: &impl ConnectionTrait) -> Result<Vec<TypeUse>> {
    let mut out: BTreeMap<String, TypeUse> = BTreeMap::new();
    for r in all(c, "SELECT type, fields, description FROM record_types", vec![]).await? {
        let declared = record_type(&r)?;
        out.insert(
            declared.kind.clone(),
            TypeUse {
                kind: declared.kind.clone(),
                declared: Some(declared),
                records: 0,
                contacts: 0,
            },
        );
    }
    let used = all(
        c,
        "SELECT type, CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT contact_id) AS BIGINT) \
         FROM contact_records GROUP BY type",
        vec![],
    )
    .await?;
    for r in used {
        let kind: String = col(&r, 0)?;
        let e = out.entry(kind.clone()).or_insert(TypeUse {
            kind,
            declared: None,
            records: 0,
            contacts: 0,
        });
        e.records = col(&r, 1)?;
        e.contacts = col(&r, 2)?;
    }
    Ok(out.into_values().collect())
}
