//! The records API's use cases: a contact's related records (contracts, products, orders,
//! loyalty status…) written whole, deleted and listed, and record types declared with their
//! fields' types.
//!
//! A record is its type, its id and its fields (a JSON object). When its type declares field
//! types, the fields are checked against them ([`flows::contact::check_fields`]) and stored
//! normalised; a field that does not fit is a 422 naming it, and nothing is written. A
//! declaration applies to the writes after it; records already stored are not checked again.
//!
//! Record changes are not journaled and start or wake no journey: conditions and templates read
//! the records as they are when a journey reaches them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use flows::contact::{FieldType, MAX_FIELDS, MAX_RECORDS, check_fields};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};

use super::{Error, Result, Services};
use crate::store::contacts;
use crate::store::records::{self, RecordType, StoredRecord};

/// Bytes of a record's fields as JSON at most: the engine loads every record of a contact
/// whenever one of their journeys steps.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Characters of a record type's description at most.
const MAX_DESCRIPTION: usize = 1000;

/// A contact's records by type, each type's in id order.
pub type ByType = BTreeMap<String, Vec<StoredRecord>>;

/// Which record a request names: its type and its id.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    pub kind: &'a str,
    pub id: &'a str,
}

impl Named<'_> {
    /// The type and the id are names ([`flows::names::name_problem`]), both checked at once.
    fn check(&self) -> Result<()> {
        let problems: Vec<(String, String)> = [("type", self.kind), ("record_id", self.id)]
            .into_iter()
            .filter_map(|(field, value)| super::contact::name_problem(field, value))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Fields(problems))
        }
    }
}

fn missing_contact(id: &str) -> Error {
    Error::NotFound(format!("no contact with id '{id}'"))
}

async fn contact(c: &impl ConnectionTrait, id: &str) -> Result<i64> {
    contacts::find(c, id).await?.ok_or_else(|| missing_contact(id))
}

/// The body of a record: its fields, as an object of at most [`MAX_FIELDS`] keys, each a name,
/// whose `id`, when given, is the path's (and is not a field).
fn fields_of(record: Named<'_>, body: Value) -> Result<Map<String, Value>> {
    let Value::Object(mut fields) = body else {
        return Err(Error::field(
            "fields",
            "must be an object: the record's fields, such as {\"end_date\": \"2027-01-15\"}",
        ));
    };
    match fields.remove("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.trim() == record.id => {}
        Some(_) => {
            return Err(Error::field(
                "id",
                format!("must be the path's record id '{}' when given", record.id),
            ));
        }
    }
    if fields.len() > MAX_FIELDS {
        return Err(Error::field(
            "fields",
            format!("has {} fields; at most {MAX_FIELDS}", fields.len()),
        ));
    }
    let problems: Vec<(String, String)> = fields
        .keys()
        .filter_map(|key| super::contact::name_problem(&format!("fields.{key}"), key))
        .collect();
    if !problems.is_empty() {
        return Err(Error::Fields(problems));
    }
    Ok(fields)
}

/// The declared field types of a stored declaration; a type name this version does not know
/// (written by hand) declares nothing.
fn field_types(declared: &RecordType) -> BTreeMap<String, FieldType> {
    declared
        .fields
        .iter()
        .filter_map(|(name, kind)| Some((name.clone(), FieldType::from_name(kind)?)))
        .collect()
}

/// Writes a contact's record whole: its fields replace the stored ones. Returns the record as
/// stored and whether it was created.
pub async fn put(s: &Services, contact_id: &str, record: Named<'_>, body: Value) -> Result<(StoredRecord, bool)> {
    record.check()?;
    let mut fields = fields_of(record, body)?;
    let now = s.clock.now();
    crate::db::in_write(&s.db, async |tx| {
        let contact = contact(tx, contact_id).await?;
        if let Some(declared) = records::declared(tx, record.kind).await? {
            let problems = check_fields(&field_types(&declared), &mut fields);
            if !problems.is_empty() {
                return Err(Error::Fields(
                    problems.into_iter().map(|p| (p.field, p.message)).collect(),
                ));
            }
        }
        let bytes = Value::Object(fields.clone()).to_string().len();
        if bytes > MAX_RECORD_BYTES {
            return Err(Error::field(
                "fields",
                format!("are {bytes} bytes as JSON; at most {MAX_RECORD_BYTES}"),
            ));
        }
        write(tx, (contact, contact_id), record, &fields, now).await
    })
    .await
}

/// Writes a record of a found contact, unless it would be one record too many.
async fn write(
    c: &impl ConnectionTrait,
    (contact, external): (i64, &str),
    record: Named<'_>,
    fields: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(StoredRecord, bool)> {
    let (stored, created) = records::put(c, (contact, record.kind, record.id), fields, now).await?;
    if created && records::count_of(c, contact).await? > MAX_RECORDS as i64 {
        // The transaction rolls the insert back.
        return Err(Error::Conflict(format!(
            "contact '{external}' has {MAX_RECORDS} records already, the most one contact may have"
        )));
    }
    Ok((stored, created))
}

/// Deletes a contact's record; 404 when the contact or the record does not exist.
pub async fn remove(s: &Services, contact_id: &str, record: Named<'_>) -> Result<()> {
    record.check()?;
    crate::db::in_write(&s.db, async |tx| {
        let contact = contact(tx, contact_id).await?;
        if records::delete(tx, (contact, record.kind, record.id)).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!(
                "contact '{contact_id}' has no {} record '{}'",
                record.kind, record.id
            )))
        }
    })
    .await
}

/// A contact's records by type; 404 for an unknown contact.
pub async fn of_contact(s: &Services, contact_id: &str) -> Result<ByType> {
    let contact = contact(&s.db, contact_id).await?;
    by_type(&s.db, contact).await
}

/// A found contact's records by type.
pub async fn by_type(c: &impl ConnectionTrait, contact: i64) -> Result<ByType> {
    let mut out = ByType::new();
    for record in records::of_contact(c, contact).await? {
        out.entry(record.kind.clone()).or_default().push(record);
    }
    Ok(out)
}

/// Declares a record type's field types (`{"end_date": "date", "amount": "number"}`), or
/// changes the declaration; returns whether the type was new.
pub async fn define_type(
    s: &Services,
    kind: &str,
    fields: Map<String, Value>,
    description: Option<String>,
) -> Result<bool> {
    let mut problems: Vec<(String, String)> = super::contact::name_problem("type", kind).into_iter().collect();
    if fields.len() > MAX_FIELDS {
        problems.push((
            "fields".into(),
            format!("declares {} fields; at most {MAX_FIELDS}", fields.len()),
        ));
    }
    let names = || FieldType::ALL.map(FieldType::as_str).join(", ");
    let mut declared = BTreeMap::new();
    for (name, value) in fields {
        let at = format!("fields.{name}");
        if let Some(problem) = super::contact::name_problem(&at, &name) {
            problems.push(problem);
            continue;
        }
        match value.as_str().and_then(FieldType::from_name) {
            Some(t) => {
                declared.insert(name, t.as_str().to_string());
            }
            None => problems.push((at, format!("{value} is not a field type: one of {}", names()))),
        }
    }
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        problems.push((
            "description".into(),
            format!("is longer than {MAX_DESCRIPTION} characters"),
        ));
    }
    if !problems.is_empty() {
        return Err(Error::Fields(problems));
    }
    let declaration = RecordType {
        kind: kind.to_string(),
        fields: declared,
        description,
    };
    let now = s.clock.now();
    crate::db::in_write(&s.db, async |tx| {
        Ok::<_, Error>(records::define(tx, &declaration, now).await?)
    })
    .await
}
