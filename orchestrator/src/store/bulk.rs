//! Contacts many at a time: an import's batches (contacts found by id or e-mail, written with
//! one multi-row upsert, their tags and lists added in one statement each) and an export's pages
//! (the active tags and lists of a page of contacts, the names of the custom fields in use).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::directory::ContactRow;
use super::tags::Source;
use super::{Error, Result};
use crate::db::{all, col, is_postgres, ms, placeholders, upsert_returning, upsert_rows};

/// Ids per `IN (…)` list: below every backend's limit on bound parameters.
const IN_CHUNK: usize = 5000;

/// The contacts with these external ids, by external id; locked until the transaction ends
/// (PostgreSQL).
pub async fn by_ids(c: &impl ConnectionTrait, ids: &[String]) -> Result<HashMap<String, ContactRow>> {
    let lock = if is_postgres(c) { " FOR UPDATE" } else { "" };
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let rows = all(
            c,
            &format!(
                "SELECT id, external_id, email, phone, timezone, country, fields FROM contacts \
                 WHERE external_id IN ({}){lock}",
                placeholders(1, chunk.len())
            ),
            chunk.iter().map(|i| i.clone().into()).collect(),
        )
        .await?;
        for r in &rows {
            let internal_id: i64 = col(r, 0)?;
            let fields: String = col(r, 6)?;
            let row = ContactRow {
                internal_id,
                id: col(r, 1)?,
                email: col(r, 2)?,
                phone: col(r, 3)?,
                timezone: col(r, 4)?,
                country: col(r, 5)?,
                fields: serde_json::from_str(&fields)
                    .map_err(Error::unreadable("the fields of contact", internal_id))?,
            };
            out.insert(row.id.clone(), row);
        }
    }
    Ok(out)
}

/// The external id of the first contact (oldest) with each of these e-mail addresses.
pub async fn ids_by_email(c: &impl ConnectionTrait, emails: &[String]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for chunk in emails.chunks(IN_CHUNK) {
        let rows = all(
            c,
            &format!(
                "SELECT email, external_id FROM contacts WHERE email IN ({}) ORDER BY id DESC",
                placeholders(1, chunk.len())
            ),
            chunk.iter().map(|e| e.clone().into()).collect(),
        )
        .await?;
        // Newest first, so the oldest contact of an address is the one kept.
        for r in &rows {
            out.insert(col(r, 0)?, col(r, 1)?);
        }
    }
    Ok(out)
}

/// Creates the contacts whose external ids are not taken; returns the internal ids of those
/// created, by external id (the others are left as they are).
pub async fn insert_new(
    c: &impl ConnectionTrait,
    rows: &[ContactRow],
    now: DateTime<Utc>,
) -> Result<HashMap<String, i64>> {
    upsert_contacts(
        c,
        rows,
        now,
        "ON CONFLICT (external_id) DO NOTHING RETURNING id, external_id",
    )
    .await
}

/// Writes contacts as given (created, or their row replaced); returns their internal ids by
/// external id. The external ids must be distinct.
pub async fn write_contacts(
    c: &impl ConnectionTrait,
    rows: &[ContactRow],
    now: DateTime<Utc>,
) -> Result<HashMap<String, i64>> {
    upsert_contacts(
        c,
        rows,
        now,
        "ON CONFLICT (external_id) DO UPDATE SET email = excluded.email, phone = excluded.phone, \
         timezone = excluded.timezone, country = excluded.country, fields = excluded.fields, \
         updated_at = excluded.updated_at RETURNING id, external_id",
    )
    .await
}

async fn upsert_contacts(
    c: &impl ConnectionTrait,
    rows: &[ContactRow],
    now: DateTime<Utc>,
    suffix: &str,
) -> Result<HashMap<String, i64>> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let mut values = Vec::with_capacity(rows.len());
    for r in rows {
        let fields = serde_json::to_string(&r.fields).map_err(Error::unwritable("a contact's fields"))?;
        values.push(vec![
            r.id.clone().into(),
            r.email.clone().into(),
            r.phone.clone().into(),
            r.timezone.clone().into(),
            r.country.clone().into(),
            fields.into(),
            ms(now).into(),
            ms(now).into(),
        ]);
    }
    let returned = upsert_returning(
        c,
        "contacts",
        &[
            "external_id",
            "email",
            "phone",
            "timezone",
            "country",
            "fields",
            "created_at",
            "updated_at",
        ],
        values,
        suffix,
    )
    .await?;
    returned.iter().map(|r| Ok((col(r, 1)?, col(r, 0)?))).collect()
}

/// The active tags of these contacts, as (contact, tag).
pub async fn active_tags(c: &impl ConnectionTrait, contacts: &[i64]) -> Result<HashSet<(i64, String)>> {
    pairs(
        c,
        "SELECT contact_id, tag FROM contact_tags WHERE present = 1 AND",
        contacts,
    )
    .await
}

/// The lists these contacts are in, as (contact, list).
pub async fn memberships(c: &impl ConnectionTrait, contacts: &[i64]) -> Result<HashSet<(i64, String)>> {
    pairs(c, "SELECT contact_id, list FROM contact_lists WHERE", contacts).await
}

/// (contact, name) rows of `select` (ending in `WHERE` or `AND`), for these contacts.
async fn pairs(c: &impl ConnectionTrait, select: &str, contacts: &[i64]) -> Result<HashSet<(i64, String)>> {
    let mut out = HashSet::new();
    for chunk in contacts.chunks(IN_CHUNK) {
        let sql = format!("{select} contact_id IN ({})", placeholders(1, chunk.len()));
        let rows = all(c, &sql, chunk.iter().map(|i| (*i).into()).collect()).await?;
        for r in &rows {
            out.insert((col(r, 0)?, col(r, 1)?));
        }
    }
    Ok(out)
}

/// The lifetimes of the tags that have one, in milliseconds, by name.
pub async fn lifetimes(c: &impl ConnectionTrait) -> Result<HashMap<String, i64>> {
    let rows = all(
        c,
        "SELECT name, lifetime FROM tag_definitions WHERE lifetime IS NOT NULL",
        vec![],
    )
    .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// Adds tags (again) as `tags::add` does, many at once: count + 1, the last date `now`, active,
/// `expires_at` by `lifetimes`. The pairs must be distinct.
pub async fn add_tags(
    c: &impl ConnectionTrait,
    added: &[(i64, &str)],
    source: &Source,
    now: DateTime<Utc>,
    lifetimes: &HashMap<String, i64>,
) -> Result<()> {
    let rows = added
        .iter()
        .map(|(contact, tag)| {
            vec![
                (*contact).into(),
                (*tag).into(),
                1i64.into(),
                1i64.into(),
                ms(now).into(),
                ms(now).into(),
                source.kind.clone().into(),
                source.reference.clone().into(),
                lifetimes.get(*tag).map(|l| ms(now) + l).into(),
            ]
        })
        .collect();
    upsert_rows(
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
            "source_ref",
            "expires_at",
        ],
        rows,
        "ON CONFLICT (contact_id, tag) DO UPDATE SET present = 1, times_added = contact_tags.times_added + 1, \
         last_added_at = excluded.last_added_at, source = excluded.source, source_ref = excluded.source_ref, \
         expires_at = excluded.expires_at",
    )
    .await?;
    Ok(())
}

/// Adds contacts to lists, dated `now`; a member already keeps their date and source. The
/// pairs must be distinct.
pub async fn join_lists(
    c: &impl ConnectionTrait,
    joined: &[(i64, &str)],
    source: &Source,
    now: DateTime<Utc>,
) -> Result<()> {
    let rows = joined
        .iter()
        .map(|(contact, list)| {
            vec![
                (*contact).into(),
                (*list).into(),
                ms(now).into(),
                source.kind.clone().into(),
                source.reference.clone().into(),
            ]
        })
        .collect();
    upsert_rows(
        c,
        "contact_lists",
        &["contact_id", "list", "added_at", "source", "source_ref"],
        rows,
        "ON CONFLICT (contact_id, list) DO NOTHING",
    )
    .await?;
    Ok(())
}

/// The active tags and the lists of these contacts, each by name, by contact.
pub async fn tags_and_lists(
    c: &impl ConnectionTrait,
    contacts: &[i64],
) -> Result<(HashMap<i64, Vec<String>>, HashMap<i64, Vec<String>>)> {
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    let mut lists: HashMap<i64, Vec<String>> = HashMap::new();
    for (contact, tag) in active_tags(c, contacts).await? {
        tags.entry(contact).or_default().push(tag);
    }
    for (contact, list) in memberships(c, contacts).await? {
        lists.entry(contact).or_default().push(list);
    }
    for names in tags.values_mut().chain(lists.values_mut()) {
        names.sort_unstable();
    }
    Ok((tags, lists))
}

/// The names of the custom fields any contact has, sorted.
pub async fn field_names(c: &impl ConnectionTrait) -> Result<Vec<String>> {
    let sql = if is_postgres(c) {
        "SELECT DISTINCT json_object_keys(fields::json) FROM contacts"
    } else {
        "SELECT DISTINCT j.key FROM contacts, json_each(contacts.fields) j"
    };
    let rows = all(c, sql, vec![]).await?;
    let mut names = BTreeSet::new();
    for r in &rows {
        names.insert(col::<String>(r, 0)?);
    }
    Ok(names.into_iter().collect())
}
