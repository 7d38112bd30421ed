//! Queued events (`inbox`) and the events held for journeys of paused flows (`held_events`).
//!
//! An event waits in the inbox until the engine applies it, in the transaction that deletes it.
//! One contact's events are applied in the order they were queued: with several engines
//! (PostgreSQL), an event is taken only once no older event of its contact is queued. An event
//! addressed to one journey (`token_id`) comes from a held event: while a flow is paused, its
//! journeys' events are held, and they go back to the inbox, each to its journey, when it is
//! active again.

use chrono::{DateTime, Utc};
use flows::Event;
use sea_orm::ConnectionTrait;

use super::{Error, Result};
use crate::db::{all, col, exec, is_postgres, ms, one, placeholders};

/// Queues an event for the engine.
pub async fn push_event(c: &impl ConnectionTrait, contact_id: i64, event: &Event, now: DateTime<Utc>) -> Result<()> {
    push_events(c, &[(contact_id, event)], now).await
}

/// Queues several events (`(contact id, event)`) with one statement.
pub async fn push_events(c: &impl ConnectionTrait, events: &[(i64, &Event)], now: DateTime<Utc>) -> Result<()> {
    let mut rows = Vec::with_capacity(events.len());
    for (contact_id, event) in events {
        let json = serde_json::to_string(event).map_err(Error::unwritable("an event"))?;
        rows.push(vec![(*contact_id).into(), json.into(), ms(now).into()]);
    }
    crate::db::insert_rows(c, "inbox", &["contact_id", "event", "created_at"], rows).await?;
    Ok(())
}

/// A queued event: for every journey of the contact, or (`token`) for one journey only.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub contact_id: i64,
    pub token: Option<i64>,
    pub event: Event,
}

/// The oldest queued events.
pub async fn take_events(c: &impl ConnectionTrait, limit: u64) -> Result<Vec<Queued>> {
    // Several engines (PostgreSQL) take only a contact's oldest queued event: a later one waits
    // until the earlier is applied, so one contact's events are never applied out of order.
    let sql = if is_postgres(c) {
        "SELECT i.id, i.contact_id, i.event, i.token_id FROM inbox i \
         WHERE NOT EXISTS (SELECT 1 FROM inbox e WHERE e.contact_id = i.contact_id AND e.id < i.id) \
         ORDER BY i.id LIMIT $1 FOR UPDATE SKIP LOCKED"
    } else {
        "SELECT id, contact_id, event, token_id FROM inbox ORDER BY id LIMIT $1"
    };
    let rows = all(c, sql, vec![(limit as i64).into()]).await?;
    rows.iter()
        .map(|r| {
            let id = col(r, 0)?;
            let event: Event = serde_json::from_str(&col::<String>(r, 2)?).map_err(Error::unreadable("event", id))?;
            Ok(Queued {
                id,
                contact_id: col(r, 1)?,
                token: col(r, 3)?,
                event,
            })
        })
        .collect()
}

/// One queued event by its inbox id (locked on PostgreSQL), if it is still queued.
pub async fn take_event(c: &impl ConnectionTrait, id: i64) -> Result<Option<Queued>> {
    let lock = if is_postgres(c) { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!("SELECT id, contact_id, event, token_id FROM inbox WHERE id = $1{lock}");
    let Some(r) = one(c, &sql, vec![id.into()]).await? else {
        return Ok(None);
    };
    let event: Event = serde_json::from_str(&col::<String>(&r, 2)?).map_err(Error::unreadable("event", id))?;
    Ok(Some(Queued {
        id,
        contact_id: col(&r, 1)?,
        token: col(&r, 3)?,
        event,
    }))
}

/// The ids of the oldest queued events, reading nothing else.
pub async fn oldest_event_ids(c: &impl ConnectionTrait, limit: u64) -> Result<Vec<i64>> {
    let rows = all(
        c,
        "SELECT id FROM inbox ORDER BY id LIMIT $1",
        vec![(limit as i64).into()],
    )
    .await?;
    rows.iter().map(|r| Ok(col(r, 0)?)).collect()
}

/// Keeps an event for a journey of a paused flow.
pub async fn hold_event(
    c: &impl ConnectionTrait,
    token: i64,
    flow: i64,
    contact: i64,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<()> {
    let json = serde_json::to_string(event).map_err(Error::unwritable("an event"))?;
    exec(
        c,
        "INSERT INTO held_events (flow_id, token_id, contact_id, event, created_at) VALUES ($1, $2, $3, $4, $5)",
        vec![flow.into(), token.into(), contact.into(), json.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

/// Puts a flow's held events back in the inbox, each addressed to its journey.
pub async fn release_held_events(c: &impl ConnectionTrait, flow: i64) -> Result<u64> {
    let n = exec(
        c,
        "INSERT INTO inbox (contact_id, event, created_at, token_id) \
         SELECT contact_id, event, created_at, token_id FROM held_events WHERE flow_id = $1 ORDER BY id",
        vec![flow.into()],
    )
    .await?;
    exec(c, "DELETE FROM held_events WHERE flow_id = $1", vec![flow.into()]).await?;
    Ok(n)
}

/// Whether any event waits in the inbox.
pub async fn has_events(c: &impl ConnectionTrait) -> Result<bool> {
    Ok(one(c, "SELECT 1 FROM inbox LIMIT 1", vec![]).await?.is_some())
}

/// Deletes queued events (applied, in the transaction that applied them).
pub async fn delete_events(c: &impl ConnectionTrait, ids: &[i64]) -> Result<()> {
    for chunk in ids.chunks(1000) {
        let sql = format!("DELETE FROM inbox WHERE id IN ({})", placeholders(1, chunk.len()));
        exec(c, &sql, chunk.iter().map(|i| (*i).into()).collect()).await?;
    }
    Ok(())
}
