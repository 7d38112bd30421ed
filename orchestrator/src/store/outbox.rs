//! Messages and their outbox rows: what a step sends, from `queued` to `sent` or `failed`.
//!
//! A message is written once, as `queued`, with an outbox row in the same transaction. The row
//! is in `outbox` while it is due or leased, or in `outbox_later` while it waits for a retry or
//! a deferral (keeping its id, so an outcome of the attempt that moved it is stale from then
//! on); the lease brings due rows back first. A leased row (`leased_until`) is invisible to
//! other leases until the lease runs out; outcomes are checked against the row's attempt count,
//! message id and lease ([`RowState`]) before they change anything. A row leaves the outbox
//! when its message is `sent` or `failed`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use flows::Outbound;
use sea_orm::ConnectionTrait;

use super::{Error, Result, min_instant};
use crate::db::Packed::{Int, Json, Text};
use crate::db::{Packed, all, all_packed, col, exec, from_ms, insert_rows, is_postgres, ms, one, placeholders};

/// A message written by a step.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub token_id: i64,
    pub contact_id: i64,
    /// The contact's external id (for the journal of its delivery).
    pub contact: String,
    pub flow_id: i64,
    pub message: Outbound,
}

/// Messages serialised for writing as `queued`, with their outbox rows (built before the
/// transaction, as [`SavedTokens`](super::tokens::SavedTokens) are), and the messages themselves for a hand-over.
pub struct QueuedMessages {
    messages: Vec<Vec<sea_orm::Value>>,
    rows: Vec<MessageRow>,
    now: DateTime<Utc>,
}

impl QueuedMessages {
    pub fn of(rows: Vec<MessageRow>, now: DateTime<Utc>) -> Result<Self> {
        let mut messages = Vec::with_capacity(rows.len());
        for r in &rows {
            let content =
                serde_json::to_string(&r.message.content).map_err(Error::unwritable("a message's content"))?;
            let guard = r
                .message
                .guard
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(Error::unwritable("a message's guard"))?;
            messages.push(vec![
                r.message.id.clone().into(),
                r.token_id.into(),
                r.contact_id.into(),
                r.flow_id.into(),
                r.message.node.clone().into(),
                r.message.channel.as_str().into(),
                r.message.to.clone().into(),
                content.into(),
                guard.into(),
                "queued".into(),
                ms(now).into(),
                ms(now).into(),
            ]);
        }
        Ok(QueuedMessages { messages, rows, now })
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Stores messages as `queued` and puts them in the outbox for delivery. With `leased_until`,
/// their outbox rows are leased until then, and the messages come back as [`Leased`] (for this
/// process's delivery to send without leasing them again); without it, delivery leases them
/// when it finds them.
pub async fn queue_messages(
    c: &impl ConnectionTrait,
    queued: QueuedMessages,
    leased_until: Option<DateTime<Utc>>,
) -> Result<Vec<Leased>> {
    let QueuedMessages { messages, rows, now } = queued;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    insert_rows(
        c,
        "messages",
        &[
            "id",
            "token_id",
            "contact_id",
            "flow_id",
            "node",
            "channel",
            "recipient",
            "content",
            "guard",
            "status",
            "created_at",
            "updated_at",
        ],
        messages,
    )
    .await?;
    let Some(until) = leased_until else {
        let outbox = rows
            .iter()
            .map(|r| vec![r.message.id.clone().into(), ms(now).into()])
            .collect();
        insert_rows(c, "outbox", &["message_id", "created_at"], outbox).await?;
        return Ok(Vec::new());
    };
    let outbox = rows
        .iter()
        .map(|r| vec![r.message.id.clone().into(), ms(now).into(), ms(until).into()])
        .collect();
    let inserted = crate::db::insert_returning(
        c,
        "outbox",
        &["message_id", "created_at", "leased_until"],
        outbox,
        "id, message_id",
    )
    .await?;
    let mut ids = HashMap::with_capacity(inserted.len());
    for r in &inserted {
        ids.insert(col::<String>(r, 1)?, col::<i64>(r, 0)?);
    }
    rows.into_iter()
        .map(|r| {
            let outbox_id = *ids
                .get(&r.message.id)
                .ok_or_else(|| Error::custom(format!("outbox row of message {} not returned", r.message.id)))?;
            Ok(Leased {
                outbox_id,
                attempts: 0,
                token_id: r.token_id,
                contact_id: r.contact_id,
                contact: r.contact,
                flow_id: r.flow_id,
                message: r.message,
                leased_until: from_ms(ms(until)),
            })
        })
        .collect()
}

/// A message leased from the outbox for one delivery attempt: the row, its message, and the
/// lease the attempt holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    pub outbox_id: i64,
    /// Attempts counted before this one; an outcome for another attempt is stale.
    pub attempts: i64,
    pub token_id: i64,
    pub contact_id: i64,
    /// The contact's external id, for the journal.
    pub contact: String,
    pub flow_id: i64,
    pub message: Outbound,
    /// Until when the row is leased for this attempt (the service clock's time, to the
    /// millisecond as stored).
    pub leased_until: DateTime<Utc>,
}

/// What an outcome is checked against: an outbox row's attempt count, message id and lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowState {
    pub attempts: i64,
    pub message: String,
    /// Unix ms, when leased.
    pub leased_until: Option<i64>,
}

/// The state of each outbox row that still exists, by row id.
pub async fn outbox_rows(c: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, RowState>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let inner = format!(
            "SELECT id AS c0, attempts AS c1, message_id AS c2, leased_until AS c3 FROM outbox WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(i64, i64, String, Option<i64>)> = all_packed(
            c,
            &inner,
            &[Int, Int, Text, Int],
            chunk.iter().map(|i| (*i).into()).collect(),
        )
        .await?;
        for (id, attempts, message, leased_until) in rows {
            let state = RowState {
                attempts,
                message,
                leased_until,
            };
            out.insert(id, state);
        }
    }
    Ok(out)
}

/// Gives a row back (due as it was) if it still holds the lease `lease_until`.
pub async fn release_outbox(c: &impl ConnectionTrait, id: i64, lease_until: DateTime<Utc>) -> Result<()> {
    exec(
        c,
        "UPDATE outbox SET leased_until = NULL WHERE id = $1 AND leased_until = $2",
        vec![id.into(), ms(lease_until).into()],
    )
    .await?;
    Ok(())
}

/// A row of the lease query, its columns in order (a packed row is a JSON array).
#[derive(serde::Deserialize)]
struct LeasedRow {
    outbox_id: i64,
    attempts: i64,
    message_id: String,
    token_id: i64,
    contact_id: i64,
    contact: String,
    flow_id: i64,
    node: String,
    channel: String,
    to: String,
    /// Packed as JSON (see `db::all_packed`).
    content: flows::Content,
    guard: Option<flows::policy::Guard>,
}

/// How the lease query's columns are packed, in [`LeasedRow`]'s order.
const LEASED_COLUMNS: [Packed; 12] = [Int, Int, Text, Int, Int, Text, Int, Text, Text, Text, Json, Json];

/// Leases up to `limit` outbox rows that are due and not leased by anyone else, until `until`.
pub async fn lease_outbox(
    c: &impl ConnectionTrait,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Leased>> {
    bring_back_due(c, now, limit).await?;
    let out = leasable(c, now, until, limit, None).await?;
    let ids: Vec<i64> = out.iter().map(|p| p.outbox_id).collect();
    for chunk in ids.chunks(1000) {
        let sql = format!(
            "UPDATE outbox SET leased_until = $1 WHERE id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut values: Vec<sea_orm::Value> = vec![ms(until).into()];
        values.extend(chunk.iter().map(|i| (*i).into()));
        exec(c, &sql, values).await?;
    }
    Ok(out)
}

/// Reads the due outbox row `id` as [`lease_outbox`] would, leasing nothing: an error means
/// that row cannot be sent as it is.
pub async fn probe_outbox(c: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<()> {
    leasable(c, now, now, 1, Some(id)).await.map(|_| ())
}

/// The ids of the due, unleased outbox rows, oldest first, reading nothing else.
pub async fn due_outbox_ids(c: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<i64>> {
    let rows = all(
        c,
        "SELECT id FROM outbox WHERE not_before <= $1 AND (leased_until IS NULL OR leased_until <= $1) \
         ORDER BY id LIMIT $2",
        vec![ms(now).into(), (limit as i64).into()],
    )
    .await?;
    rows.iter().map(|r| Ok(col(r, 0)?)).collect()
}

/// Up to `limit` due, unleased outbox rows (or only row `only`) with their messages, oldest
/// first, as leased until `until` (locked on PostgreSQL, skipping locked ones; not yet marked).
async fn leasable(
    c: &impl ConnectionTrait,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
    only: Option<i64>,
) -> Result<Vec<Leased>> {
    let lock = if is_postgres(c) {
        " FOR UPDATE OF o SKIP LOCKED"
    } else {
        ""
    };
    let one_row = if only.is_some() { " AND o.id = $3" } else { "" };
    let inner = format!(
        "SELECT o.id AS c0, o.attempts AS c1, m.id AS c2, m.token_id AS c3, m.contact_id AS c4, c.external_id AS c5, \
         m.flow_id AS c6, m.node AS c7, m.channel AS c8, m.recipient AS c9, m.content AS c10, m.guard AS c11 \
         FROM outbox o JOIN messages m ON m.id = o.message_id JOIN contacts c ON c.id = m.contact_id \
         WHERE o.not_before <= $1 AND (o.leased_until IS NULL OR o.leased_until <= $1){one_row} \
         ORDER BY o.id LIMIT $2{lock}"
    );
    let mut values: Vec<sea_orm::Value> = vec![ms(now).into(), (limit as i64).into()];
    values.extend(only.map(Into::into));
    let rows: Vec<LeasedRow> = all_packed(c, &inner, &LEASED_COLUMNS, values).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(Leased {
            outbox_id: r.outbox_id,
            attempts: r.attempts,
            token_id: r.token_id,
            contact_id: r.contact_id,
            contact: r.contact,
            flow_id: r.flow_id,
            message: Outbound {
                id: r.message_id,
                node: r.node,
                channel: flows::Channel::parse(&r.channel)
                    .ok_or_else(|| Error::custom(format!("unknown channel '{}'", r.channel)))?,
                to: r.to,
                content: r.content,
                guard: r.guard,
            },
            leased_until: from_ms(ms(until)),
        });
    }
    Ok(out)
}

/// Puts a row back for a later attempt, its `attempts`th, at `not_before` (in `outbox_later`).
pub async fn retry_outbox(c: &impl ConnectionTrait, id: i64, attempts: i64, not_before: DateTime<Utc>) -> Result<()> {
    put_off(c, id, Some(attempts), not_before).await
}

/// Holds a row until `until` without counting an attempt (a window or closed day at delivery,
/// a throttle's slot), in `outbox_later`.
pub async fn defer_outbox(c: &impl ConnectionTrait, id: i64, until: DateTime<Utc>) -> Result<()> {
    put_off(c, id, None, until).await
}

/// Moves a row to `outbox_later` until `until` (keeping its id, so outcomes of the attempt
/// that moved it are stale from then on), with `attempts` when given.
async fn put_off(c: &impl ConnectionTrait, id: i64, attempts: Option<i64>, until: DateTime<Utc>) -> Result<()> {
    let attempts_sql = if attempts.is_some() { "$3" } else { "attempts" };
    let mut values = vec![id.into(), ms(until).into()];
    values.extend(attempts.map(sea_orm::Value::from));
    exec(
        c,
        &format!(
            "INSERT INTO outbox_later (id, message_id, created_at, attempts, not_before) \
             SELECT id, message_id, created_at, {attempts_sql}, $2 FROM outbox WHERE id = $1"
        ),
        values,
    )
    .await?;
    exec(c, "DELETE FROM outbox WHERE id = $1", vec![id.into()]).await?;
    Ok(())
}

/// Moves up to `limit` rows of `outbox_later` that are due at `now` back into the outbox, where
/// the lease finds them first (they keep their ids, lower than the rows queued since).
async fn bring_back_due(c: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<()> {
    let values = vec![ms(now).into(), (limit as i64).into()];
    if is_postgres(c) {
        // Several processes may lease at once: each takes rows no other holds.
        exec(
            c,
            "WITH due AS (DELETE FROM outbox_later WHERE id IN (SELECT id FROM outbox_later \
             WHERE not_before <= $1 ORDER BY not_before, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING id, message_id, created_at, attempts, not_before) \
             INSERT INTO outbox (id, message_id, created_at, attempts, not_before) \
             SELECT id, message_id, created_at, attempts, not_before FROM due",
            values,
        )
        .await?;
        return Ok(());
    }
    let moved = exec(
        c,
        "INSERT INTO outbox (id, message_id, created_at, attempts, not_before) \
         SELECT id, message_id, created_at, attempts, not_before FROM outbox_later \
         WHERE not_before <= $1 ORDER BY not_before, id LIMIT $2",
        values,
    )
    .await?;
    if moved > 0 {
        exec(
            c,
            "DELETE FROM outbox_later WHERE not_before <= $1 AND id IN (SELECT id FROM outbox)",
            vec![ms(now).into()],
        )
        .await?;
    }
    Ok(())
}

/// The earliest instant an outbox row becomes due (after its lease, if it has one), waiting
/// rows included (`outbox_later`, by its index).
pub async fn next_outbox_due(c: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>> {
    min_instant(
        c,
        "SELECT MIN(due) FROM (\
         SELECT MIN(CASE WHEN leased_until IS NOT NULL AND leased_until > not_before THEN leased_until ELSE not_before END) AS due FROM outbox \
         UNION ALL SELECT MIN(not_before) AS due FROM outbox_later) AS d",
    )
    .await
}

/// Deletes outbox rows: their messages are `sent` or `failed`.
pub async fn delete_outbox(c: &impl ConnectionTrait, ids: &[i64]) -> Result<()> {
    for chunk in ids.chunks(1000) {
        let sql = format!("DELETE FROM outbox WHERE id IN ({})", placeholders(1, chunk.len()));
        exec(c, &sql, chunk.iter().map(|i| (*i).into()).collect()).await?;
    }
    Ok(())
}

/// Records a permanent failure.
pub async fn fail_message(
    c: &impl ConnectionTrait,
    id: &str,
    provider: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec(
        c,
        "UPDATE messages SET status = 'failed', provider = $2, error = $3, updated_at = $4 WHERE id = $1",
        vec![id.into(), provider.into(), error.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

/// Records the provider's answer for many messages at once.
pub async fn set_messages_status(
    c: &impl ConnectionTrait,
    ids: &[String],
    status: &str,
    provider: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in ids.chunks(1000) {
        let sql = format!(
            "UPDATE messages SET status = $1, provider = $2, updated_at = $3 WHERE id IN ({})",
            placeholders(4, chunk.len())
        );
        let mut values: Vec<sea_orm::Value> = vec![status.into(), provider.into(), ms(now).into()];
        values.extend(chunk.iter().map(|id| id.clone().into()));
        exec(c, &sql, values).await?;
    }
    Ok(())
}

/// Messages, newest first: by `created_at` on PostgreSQL, by rowid (the order they were
/// written in, one writer at a time) on SQLite, which has no index on `created_at` (migration 9).
pub async fn messages(c: &impl ConnectionTrait, limit: u64, contact: Option<&str>) -> Result<Vec<serde_json::Value>> {
    let order = if is_postgres(c) || contact.is_some() {
        "m.created_at DESC, m.id DESC"
    } else {
        "m.rowid DESC"
    };
    // One contact's messages come from `messages_contact_created`.
    let only = if contact.is_some() {
        "WHERE c.external_id = $2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT m.id, c.external_id, m.flow_id, m.node, m.channel, m.recipient, m.content, m.status, m.provider, m.created_at \
         FROM messages m JOIN contacts c ON c.id = m.contact_id {only} ORDER BY {order} LIMIT $1"
    );
    let mut values = vec![(limit as i64).into()];
    if let Some(id) = contact {
        values.push(id.into());
    }
    let rows = all(c, &sql, values).await?;
    rows.iter()
        .map(|r| {
            let content: serde_json::Value = serde_json::from_str(&col::<String>(r, 6)?).unwrap_or_default();
            Ok(serde_json::json!({
                "id": col::<String>(r, 0)?,
                "contact": col::<String>(r, 1)?,
                "flow": col::<i64>(r, 2)?,
                "node": col::<String>(r, 3)?,
                "channel": col::<String>(r, 4)?,
                "to": col::<String>(r, 5)?,
                "content": content,
                "status": col::<String>(r, 7)?,
                "provider": col::<Option<String>>(r, 8)?,
                "created_at": from_ms(col(r, 9)?).to_rfc3339(),
            }))
        })
        .collect()
}

/// Messages whose provider accepted them.
pub async fn count_sent(c: &impl ConnectionTrait) -> Result<u64> {
    match one(c, "SELECT COUNT(*) FROM messages WHERE status = 'sent'", vec![]).await? {
        Some(r) => Ok(col::<i64>(&r, 0)? as u64),
        None => Ok(0),
    }
}
