//! Saved segments, the message history conditions read, and the change log (`contact_changes`,
//! written by triggers) that an in-memory segment index follows to stay exact.
//!
//! A change mark says how far a reader has read the log: on SQLite the last row id (writers are
//! serialised, so ids commit in order); on PostgreSQL the oldest transaction that was still
//! running when the reader last looked (`pg_snapshot_xmin`), since ids there do not commit in
//! order: every transaction the reader could not yet see has an id at or above that mark.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use flows::condition::{Condition, parse_condition};
use flows::contact::MessageFact;
use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::Result;
use crate::db::Packed::{Int, Text};
use crate::db::{all, all_packed, col, exec, from_ms, is_postgres, ms, one, placeholders};

/// A saved segment as stored: the condition is kept as the JSON it was given.
#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    pub id: i64,
    pub name: String,
    pub condition: serde_json::Value,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, condition, description, created_at, updated_at";

fn saved(r: &sea_orm::QueryResult) -> Result<Saved> {
    let id: i64 = col(r, 0)?;
    let condition: String = col(r, 2)?;
    Ok(Saved {
        id,
        name: col(r, 1)?,
        condition: serde_json::from_str(&condition).map_err(|source| super::Error::Unreadable {
            what: "the condition of segment",
            id,
            source,
        })?,
        description: col(r, 3)?,
        created_at: from_ms(col(r, 4)?),
        updated_at: from_ms(col(r, 5)?),
    })
}

/// A segment by its id (digits) or its name.
pub async fn get(c: &impl ConnectionTrait, key: &str) -> Result<Option<Saved>> {
    let row = match key.parse::<i64>() {
        Ok(id) => {
            let sql =
                format!("SELECT {COLUMNS} FROM segments WHERE id = $1 OR name = $2 ORDER BY id = $1 DESC LIMIT 1");
            one(c, &sql, vec![id.into(), key.into()]).await?
        }
        Err(_) => {
            one(
                c,
                &format!("SELECT {COLUMNS} FROM segments WHERE name = $1"),
                vec![key.into()],
            )
            .await?
        }
    };
    row.as_ref().map(saved).transpose()
}

/// Every saved segment, by name.
pub async fn list(c: &impl ConnectionTrait) -> Result<Vec<Saved>> {
    let rows = all(c, &format!("SELECT {COLUMNS} FROM segments ORDER BY name"), vec![]).await?;
    rows.iter().map(saved).collect()
}

/// Saves a new segment; `None` when the name is taken.
/// Every saved segment's condition, by its id and by its name, as a `{"segment": …}` names it.
/// A stored condition was read strictly when saved; one that no longer reads is left out, so
/// whatever names it finds no segment.
pub async fn conditions(c: &impl ConnectionTrait) -> Result<BTreeMap<String, Condition>> {
    let mut by_key = BTreeMap::new();
    for saved in list(c).await? {
        if let Ok(condition) = parse_condition(saved.condition) {
            by_key.insert(saved.id.to_string(), condition.clone());
            by_key.insert(saved.name, condition);
        }
    }
    Ok(by_key)
}

pub async fn insert(
    c: &impl ConnectionTrait,
    name: &str,
    condition: &serde_json::Value,
    description: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let row = one(
        c,
        "INSERT INTO segments (name, condition, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (name) DO NOTHING RETURNING id",
        vec![
            name.into(),
            condition.to_string().into(),
            description.map(str::to_string).into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(row.as_ref().map(|r| col(r, 0)).transpose()?)
}

/// What a segment is changed to.
pub struct Change<'a> {
    pub name: &'a str,
    pub condition: &'a serde_json::Value,
    pub description: Option<&'a str>,
}

/// Changes a segment; `false` when the new name belongs to another segment.
pub async fn update(c: &impl ConnectionTrait, id: i64, change: &Change<'_>, now: DateTime<Utc>) -> Result<bool> {
    let taken = one(
        c,
        "SELECT id FROM segments WHERE name = $1 AND id <> $2",
        vec![change.name.into(), id.into()],
    )
    .await?;
    if taken.is_some() {
        return Ok(false);
    }
    exec(
        c,
        "UPDATE segments SET name = $2, condition = $3, description = $4, updated_at = $5 WHERE id = $1",
        vec![
            id.into(),
            change.name.into(),
            change.condition.to_string().into(),
            change.description.map(str::to_string).into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(true)
}

pub async fn delete(c: &impl ConnectionTrait, id: i64) -> Result<bool> {
    Ok(exec(c, "DELETE FROM segments WHERE id = $1", vec![id.into()]).await? > 0)
}

/// The messages providers accepted for these contacts, with their flow's name and their last
/// open and click, by contact. A sent message's `updated_at` is when it was accepted.
pub async fn messages(c: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, Vec<MessageFact>>> {
    let mut out: HashMap<i64, Vec<MessageFact>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        type Row = (i64, String, String, String, i64, Option<i64>, Option<i64>);
        let rows: Vec<Row> = all_packed(
            c,
            &format!(
                "SELECT m.contact_id AS c0, f.name AS c1, m.node AS c2, m.channel AS c3, m.updated_at AS c4, \
                 m.opened_at AS c5, m.clicked_at AS c6 FROM messages m JOIN flows f ON f.id = m.flow_id \
                 WHERE m.status = 'sent' AND m.contact_id IN ({})",
                placeholders(1, chunk.len())
            ),
            &[Int, Text, Text, Text, Int, Int, Int],
            chunk.iter().map(|i| (*i).into()).collect(),
        )
        .await?;
        for (contact, flow, node, channel, sent, opened, clicked) in rows {
            let Ok(channel) = serde_json::from_value(serde_json::Value::String(channel)) else {
                continue;
            };
            out.entry(contact).or_default().push(MessageFact {
                flow,
                node,
                channel,
                sent_at: from_ms(sent),
                opened_at: opened.map(from_ms),
                clicked_at: clicked.map(from_ms),
            });
        }
    }
    Ok(out)
}

/// Records an open or a click (`opened`, `clicked`) of a message at `now`.
pub async fn message_seen(c: &impl ConnectionTrait, message: &str, kind: &str, now: DateTime<Utc>) -> Result<()> {
    let column = match kind {
        "opened" => "opened_at",
        "clicked" => "clicked_at",
        _ => return Ok(()),
    };
    exec(
        c,
        &format!("UPDATE messages SET {column} = $2 WHERE id = $1"),
        vec![message.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

/// Internal ids of contacts after `after`, in order, at most `limit`.
pub async fn contact_ids(c: &impl ConnectionTrait, after: i64, limit: u64) -> Result<Vec<i64>> {
    let rows = all(
        c,
        "SELECT id FROM contacts WHERE id > $1 ORDER BY id LIMIT $2",
        vec![after.into(), (limit as i64).into()],
    )
    .await?;
    rows.iter().map(|r| Ok(col(r, 0)?)).collect()
}

/// The change mark now: everything logged up to it is visible to a reader that reads after.
pub async fn change_mark(c: &impl ConnectionTrait) -> Result<i64> {
    let sql = if is_postgres(c) {
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    } else {
        "SELECT COALESCE(MAX(id), 0) FROM contact_changes"
    };
    let row = one(c, sql, vec![]).await?;
    Ok(row.as_ref().map(|r| col(r, 0)).transpose()?.unwrap_or(0))
}

/// The contacts changed since `mark`, and the mark to read from next time. On PostgreSQL some
/// contacts may come again next time (harmless: reloading a contact is idempotent).
pub async fn changed_since(c: &impl ConnectionTrait, mark: i64) -> Result<(Vec<i64>, i64)> {
    let next = change_mark(c).await?;
    let rows = if is_postgres(c) {
        all(
            c,
            "SELECT DISTINCT contact_id FROM contact_changes WHERE xid >= ($1::bigint)::text::xid8",
            vec![mark.into()],
        )
        .await?
    } else {
        all(
            c,
            "SELECT DISTINCT contact_id FROM contact_changes WHERE id > $1 AND id <= $2",
            vec![mark.into(), next.into()],
        )
        .await?
    };
    let ids = rows
        .iter()
        .map(|r| col(r, 0))
        .collect::<std::result::Result<Vec<i64>, _>>()?;
    Ok((ids, next))
}

/// Forgets changes logged before `before`.
pub async fn prune_changes(c: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64> {
    Ok(exec(c, "DELETE FROM contact_changes WHERE at < $1", vec![ms(before).into()]).await?)
}
