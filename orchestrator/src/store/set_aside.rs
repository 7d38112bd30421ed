//! Work set aside: a journey, a queued event or a queued message that the engine or delivery
//! could not load, step or record. Setting one aside takes it out of the engine's and
//! delivery's way (every other row of its batch, and every other flow, goes on), journals
//! `failed` with the reason where a journey is concerned, and keeps what is needed to put it
//! back: [`retry`] returns it to where it was taken from, [`cancel`] ends it.
//!
//! Invariants: a set-aside journey's token has `finished = 2` (no query that steps, wakes or
//! counts running journeys reads it) and still counts as "here" at its node until cancelled;
//! a set-aside event or message has left the inbox or outbox, its row kept in `payload`.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::counts::count_here;
use super::journal::{JournalLines, JournalRow, append_journal};
use super::{Error, Result};
use crate::db::{all, col, exec, ms, one};

/// What was set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A journey (its token id).
    Journey,
    /// A queued event (its inbox id).
    Event,
    /// A queued message (its outbox id).
    Message,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Journey => "journey",
            Kind::Event => "event",
            Kind::Message => "message",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "journey" => Some(Kind::Journey),
            "event" => Some(Kind::Event),
            "message" => Some(Kind::Message),
            _ => None,
        }
    }
}

/// One set-aside item, as the API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SetAside {
    pub id: i64,
    pub kind: Kind,
    /// The token, inbox or outbox id it had.
    #[serde(rename = "ref")]
    pub ref_id: i64,
    /// The contact's external id, when known.
    pub contact: Option<String>,
    pub flow: Option<i64>,
    pub node: Option<String>,
    pub reason: String,
    /// When it was set aside (RFC 3339).
    pub at: String,
}

/// The longest reason kept: a database or decoding error can quote a whole row.
const MAX_REASON: usize = 2000;

fn clip(reason: &str) -> String {
    if reason.len() <= MAX_REASON {
        return reason.to_string();
    }
    let mut end = MAX_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &reason[..end])
}

/// Sets a running journey aside: its token stops being due, and its journal says `failed` with
/// the reason. Reads only the token's plain columns, never its state, which may be what is
/// unreadable. With `due_at` (Unix ms), only while the token is still due at that instant: a
/// journey another engine stepped meanwhile is left alone. `false` when nothing was set aside.
pub async fn journey(
    c: &impl ConnectionTrait,
    token: i64,
    reason: &str,
    now: DateTime<Utc>,
    due_at: Option<i64>,
) -> Result<bool> {
    let reason = clip(reason);
    let Some(row) = one(
        c,
        "SELECT t.contact_id, t.flow_id, t.node, c.external_id, t.wake_at FROM tokens t \
         LEFT JOIN contacts c ON c.id = t.contact_id WHERE t.id = $1 AND t.finished = 0",
        vec![token.into()],
    )
    .await?
    else {
        return Ok(false);
    };
    let (contact_id, flow_id, node): (i64, i64, String) = (col(&row, 0)?, col(&row, 1)?, col(&row, 2)?);
    let external: Option<String> = col(&row, 3)?;
    let wake: Option<i64> = col(&row, 4)?;
    if due_at.is_some_and(|due| wake != Some(due)) {
        return Ok(false);
    }
    let changed = exec(
        c,
        "UPDATE tokens SET finished = 2, updated_at = $2 WHERE id = $1 AND finished = 0",
        vec![token.into(), ms(now).into()],
    )
    .await?;
    if changed != 1 {
        return Ok(false);
    }
    record(
        c,
        Item {
            kind: Kind::Journey,
            ref_id: token,
            contact_id: Some(contact_id),
            flow_id: Some(flow_id),
            node: Some(&node),
            reason: &reason,
            payload: None,
        },
        now,
    )
    .await?;
    journal_failed(
        c,
        JournalRow {
            contact_id,
            flow_id,
            token_id: token,
            entries: vec![flows::JournalEntry {
                at: now,
                contact: external.unwrap_or_default(),
                node,
                record: None,
                action: flows::Action::Failed {
                    reason: format!("set aside: {reason}"),
                },
            }],
        },
    )
    .await?;
    tracing::error!(token, %reason, "journey set aside");
    Ok(true)
}

/// The inbox row of a set-aside event, kept to put it back.
#[derive(Debug, Serialize, Deserialize)]
struct InboxRow {
    contact_id: i64,
    event: String,
    created_at: i64,
    token_id: Option<i64>,
}

/// Sets a queued event aside: it leaves the inbox, its row kept. `false` when it is gone.
pub async fn event(c: &impl ConnectionTrait, inbox_id: i64, reason: &str, now: DateTime<Utc>) -> Result<bool> {
    let reason = clip(reason);
    let Some(row) = one(
        c,
        "SELECT contact_id, event, created_at, token_id FROM inbox WHERE id = $1",
        vec![inbox_id.into()],
    )
    .await?
    else {
        return Ok(false);
    };
    let kept = InboxRow {
        contact_id: col(&row, 0)?,
        event: col(&row, 1)?,
        created_at: col(&row, 2)?,
        token_id: col(&row, 3)?,
    };
    // Applied by another engine meanwhile: nothing to set aside.
    if exec(c, "DELETE FROM inbox WHERE id = $1", vec![inbox_id.into()]).await? != 1 {
        return Ok(false);
    }
    let payload = serde_json::to_string(&kept).map_err(Error::unwritable("a set-aside payload"))?;
    record(
        c,
        Item {
            kind: Kind::Event,
            ref_id: inbox_id,
            contact_id: Some(kept.contact_id),
            flow_id: None,
            node: None,
            reason: &reason,
            payload: Some(&payload),
        },
        now,
    )
    .await?;
    tracing::error!(inbox_id, %reason, "event set aside");
    Ok(true)
}

/// The outbox row of a set-aside message, kept to put it back.
#[derive(Debug, Serialize, Deserialize)]
struct OutboxRow {
    message_id: String,
    created_at: i64,
}

/// Sets a queued message aside: it leaves the outbox (or `outbox_later`), the message is
/// `failed` with the reason, and so is its journey's journal. `false` when it is gone.
pub async fn message(c: &impl ConnectionTrait, outbox_id: i64, reason: &str, now: DateTime<Utc>) -> Result<bool> {
    let reason = clip(reason);
    let mut found = None;
    for table in ["outbox", "outbox_later"] {
        let sql = format!("SELECT message_id, created_at FROM {table} WHERE id = $1");
        if let Some(row) = one(c, &sql, vec![outbox_id.into()]).await? {
            found = Some((
                table,
                OutboxRow {
                    message_id: col(&row, 0)?,
                    created_at: col(&row, 1)?,
                },
            ));
            break;
        }
    }
    let Some((table, kept)) = found else {
        return Ok(false);
    };
    if exec(c, &format!("DELETE FROM {table} WHERE id = $1"), vec![outbox_id.into()]).await? != 1 {
        return Ok(false);
    }
    let message = one(
        c,
        "SELECT m.token_id, m.contact_id, m.flow_id, m.node, c.external_id FROM messages m \
         LEFT JOIN contacts c ON c.id = m.contact_id WHERE m.id = $1",
        vec![kept.message_id.clone().into()],
    )
    .await?;
    let (mut contact_id, mut flow_id, mut node) = (None, None, None);
    if let Some(m) = &message {
        let (token_id, contact, flow, at): (i64, i64, i64, String) = (col(m, 0)?, col(m, 1)?, col(m, 2)?, col(m, 3)?);
        (contact_id, flow_id, node) = (Some(contact), Some(flow), Some(at.clone()));
        exec(
            c,
            "UPDATE messages SET status = 'failed', error = $2, updated_at = $3 WHERE id = $1",
            vec![kept.message_id.clone().into(), reason.clone().into(), ms(now).into()],
        )
        .await?;
        journal_failed(
            c,
            JournalRow {
                contact_id: contact,
                flow_id: flow,
                token_id,
                entries: vec![flows::JournalEntry {
                    at: now,
                    contact: col::<Option<String>>(m, 4)?.unwrap_or_default(),
                    node: at,
                    record: None,
                    action: flows::Action::Failed {
                        reason: format!("set aside: {reason}"),
                    },
                }],
            },
        )
        .await?;
    }
    let payload = serde_json::to_string(&kept).map_err(Error::unwritable("a set-aside payload"))?;
    record(
        c,
        Item {
            kind: Kind::Message,
            ref_id: outbox_id,
            contact_id,
            flow_id,
            node: node.as_deref(),
            reason: &reason,
            payload: Some(&payload),
        },
        now,
    )
    .await?;
    tracing::error!(outbox_id, %reason, "message set aside");
    Ok(true)
}

async fn journal_failed(c: &impl ConnectionTrait, row: JournalRow) -> Result<()> {
    append_journal(c, JournalLines::of(vec![row])).await
}

/// A `set_aside` row to write.
struct Item<'a> {
    kind: Kind,
    ref_id: i64,
    contact_id: Option<i64>,
    flow_id: Option<i64>,
    node: Option<&'a str>,
    reason: &'a str,
    payload: Option<&'a str>,
}

async fn record(c: &impl ConnectionTrait, item: Item<'_>, now: DateTime<Utc>) -> Result<()> {
    // Set aside again after a retry: the newer reason replaces the older.
    exec(
        c,
        "DELETE FROM set_aside WHERE kind = $1 AND ref_id = $2",
        vec![item.kind.as_str().into(), item.ref_id.into()],
    )
    .await?;
    exec(
        c,
        "INSERT INTO set_aside (kind, ref_id, contact_id, flow_id, node, reason, payload, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            item.kind.as_str().into(),
            item.ref_id.into(),
            item.contact_id.into(),
            item.flow_id.into(),
            item.node.map(str::to_string).into(),
            item.reason.to_string().into(),
            item.payload.map(str::to_string).into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(())
}

/// Everything set aside, oldest first (at most `limit`).
pub async fn list(c: &impl ConnectionTrait, limit: u64) -> Result<Vec<SetAside>> {
    let rows = all(
        c,
        "SELECT s.id, s.kind, s.ref_id, c.external_id, s.flow_id, s.node, s.reason, s.at FROM set_aside s \
         LEFT JOIN contacts c ON c.id = s.contact_id ORDER BY s.id LIMIT $1",
        vec![(limit as i64).into()],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = col(r, 1)?;
            Ok(SetAside {
                id: col(r, 0)?,
                kind: Kind::parse(&kind).ok_or_else(|| Error::custom(format!("unknown set-aside kind '{kind}'")))?,
                ref_id: col(r, 2)?,
                contact: col(r, 3)?,
                flow: col(r, 4)?,
                node: col(r, 5)?,
                reason: col(r, 6)?,
                at: crate::db::from_ms(col(r, 7)?).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        })
        .collect()
}

/// A set-aside row: kind, ref id, payload.
async fn take(c: &impl ConnectionTrait, id: i64) -> Result<Option<(Kind, i64, Option<String>)>> {
    // Taken and deleted in one statement: of two concurrent retries (or a retry and a cancel),
    // one gets the item and the other finds nothing.
    let Some(r) = one(
        c,
        "DELETE FROM set_aside WHERE id = $1 RETURNING kind, ref_id, payload",
        vec![id.into()],
    )
    .await?
    else {
        return Ok(None);
    };
    let kind: String = col(&r, 0)?;
    let kind = Kind::parse(&kind).ok_or_else(|| Error::custom(format!("unknown set-aside kind '{kind}'")))?;
    Ok(Some((kind, col(&r, 1)?, col(&r, 2)?)))
}

/// The kept row of set-aside item `id`.
fn payload<T: serde::de::DeserializeOwned>(payload: Option<String>, id: i64) -> Result<T> {
    serde_json::from_str(payload.as_deref().unwrap_or("null"))
        .map_err(Error::unreadable("the payload of set-aside item", id))
}

/// Puts an item back where it was taken from: the journey is due at once, the event back in
/// the inbox (at its old place in the order), the message back in the outbox. `false` when
/// there is no such item.
pub async fn retry(c: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<bool> {
    let Some((kind, ref_id, kept)) = take(c, id).await? else {
        return Ok(false);
    };
    match kind {
        Kind::Journey => {
            exec(
                c,
                "UPDATE tokens SET finished = 0, wake_at = $2, updated_at = $2 WHERE id = $1 AND finished = 2",
                vec![ref_id.into(), ms(now).into()],
            )
            .await?;
        }
        Kind::Event => {
            let row: InboxRow = payload(kept, id)?;
            exec(
                c,
                "INSERT INTO inbox (id, contact_id, event, created_at, token_id) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    ref_id.into(),
                    row.contact_id.into(),
                    row.event.into(),
                    row.created_at.into(),
                    row.token_id.into(),
                ],
            )
            .await?;
        }
        Kind::Message => {
            let row: OutboxRow = payload(kept, id)?;
            exec(
                c,
                "INSERT INTO outbox (id, message_id, created_at, attempts, not_before) VALUES ($1, $2, $3, 0, $4)",
                vec![
                    ref_id.into(),
                    row.message_id.clone().into(),
                    row.created_at.into(),
                    ms(now).into(),
                ],
            )
            .await?;
            exec(
                c,
                "UPDATE messages SET status = 'queued', error = NULL, updated_at = $2 WHERE id = $1",
                vec![row.message_id.into(), ms(now).into()],
            )
            .await?;
        }
    }
    Ok(true)
}

/// Gives an item up: a journey ends (it leaves its node's count), an event or a message is
/// dropped (the message stays `failed`). `false` when there is no such item.
pub async fn cancel(c: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<bool> {
    let Some((kind, ref_id, _)) = take(c, id).await? else {
        return Ok(false);
    };
    if kind == Kind::Journey
        && let Some(r) = one(
            c,
            "SELECT flow_id, node FROM tokens WHERE id = $1 AND finished = 2",
            vec![ref_id.into()],
        )
        .await?
    {
        exec(
            c,
            "UPDATE tokens SET finished = 1, wake_at = NULL, updated_at = $2 WHERE id = $1",
            vec![ref_id.into(), ms(now).into()],
        )
        .await?;
        let here = std::collections::BTreeMap::from([((col::<i64>(&r, 0)?, col::<String>(&r, 1)?), -1)]);
        count_here(c, here).await?;
    }
    Ok(true)
}
