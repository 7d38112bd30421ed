//! Bulk writes for `cairn bench engine`: contacts entered straight at a node (as a segment
//! entry admits an audience), and the plain-rows table the benchmark's ceiling is measured on.

use std::ops::Range;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::Result;
use super::counts::count_arrivals;
use super::tokens::{NEW_TOKEN_COLUMNS, new_token_row};
use crate::db::{col, insert_rows, ms};

/// Contacts `c{i}` for `i` in `range`, each with a token at the flow's `start` node, due at
/// `now`, counted as arrivals there.
pub async fn enter_contacts(
    c: &impl ConnectionTrait,
    flow_id: i64,
    range: Range<u64>,
    now: DateTime<Utc>,
) -> Result<()> {
    let rows = range
        .map(|i| {
            vec![
                format!("c{i}").into(),
                format!("c{i}@example.com").into(),
                format!("{{\"first_name\": \"Name{i}\"}}").into(),
                ms(now).into(),
                ms(now).into(),
            ]
        })
        .collect();
    insert_rows(
        c,
        "contacts",
        &["external_id", "email", "fields", "created_at", "updated_at"],
        rows,
    )
    .await?;
    let ids = crate::db::all(
        c,
        "SELECT id, external_id FROM contacts WHERE id > (SELECT COALESCE(MAX(contact_id), 0) FROM tokens) ORDER BY id",
        vec![],
    )
    .await?;
    let mut tokens = Vec::with_capacity(ids.len());
    for r in ids {
        let contact: (i64, String) = (col(&r, 0)?, col(&r, 1)?);
        tokens.push(new_token_row((flow_id, 1), (contact.0, &contact.1), "start", now)?);
    }
    let n = tokens.len() as i64;
    insert_rows(c, "tokens", &NEW_TOKEN_COLUMNS, tokens).await?;
    count_arrivals(c, flow_id, "start", n).await
}

/// The table the ceiling is measured on.
pub async fn create_ceiling(db: &DatabaseConnection) -> Result<()> {
    db.execute_unprepared(
        "CREATE TABLE bench_ceiling (id INTEGER PRIMARY KEY, a BIGINT NOT NULL, b TEXT NOT NULL, c TEXT NOT NULL)",
    )
    .await?;
    Ok(())
}

/// Journal-sized rows numbered `range` into the ceiling's table.
pub async fn insert_ceiling(c: &impl ConnectionTrait, range: Range<u64>) -> Result<()> {
    let payload = r#"{"at":"2026-12-30T08:00:00Z","contact":"c123456","node":"wait","action":"waiting","until":"2026-12-30T09:00:00Z"}"#;
    let chunk = range
        .map(|i| vec![(i as i64).into(), "wait".into(), payload.into()])
        .collect();
    insert_rows(c, "bench_ceiling", &["a", "b", "c"], chunk).await?;
    Ok(())
}

/// `cairn bench import`'s ceiling: contacts numbered `range` with two tags and a list each,
/// written as plain rows (ids given, nothing looked up) — what an import writes, without it.
pub async fn insert_import_ceiling(c: &impl ConnectionTrait, range: Range<u64>, now: DateTime<Utc>) -> Result<()> {
    let at = ms(now);
    let mut contacts = Vec::with_capacity((range.end - range.start) as usize);
    let mut tags = Vec::with_capacity(contacts.capacity() * 2);
    let mut lists = Vec::with_capacity(contacts.capacity());
    for i in range {
        let id = i as i64 + 1;
        contacts.push(vec![
            id.into(),
            format!("c{i}").into(),
            format!("c{i}@example.com").into(),
            format!("{{\"first_name\":\"Name{i}\"}}").into(),
            at.into(),
            at.into(),
        ]);
        for tag in ["vip".to_string(), format!("t{}", i % 10)] {
            tags.push(vec![
                id.into(),
                tag.into(),
                1i64.into(),
                1i64.into(),
                at.into(),
                at.into(),
                "import".into(),
                "bench".into(),
            ]);
        }
        lists.push(vec![
            id.into(),
            format!("l{}", i % 5).into(),
            at.into(),
            "import".into(),
            "bench".into(),
        ]);
    }
    insert_rows(
        c,
        "contacts",
        &["id", "external_id", "email", "fields", "created_at", "updated_at"],
        contacts,
    )
    .await?;
    insert_rows(
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
        ],
        tags,
    )
    .await?;
    insert_rows(
        c,
        "contact_lists",
        &["contact_id", "list", "added_at", "source", "source_ref"],
        lists,
    )
    .await?;
    Ok(())
}
