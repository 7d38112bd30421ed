//! Tracking and signed entries as use cases: a verified open or click recorded as an event of
//! the message's contact, and an entry signature used up in its entry's transaction. The tokens
//! and signatures themselves are [`crate::signing`]'s.

use crate::signing::{EntrySignature, SIGNATURE_TOLERANCE_SECS};

/// Marks an entry's signature used, in the entry's transaction; a conflict when it was used
/// before (by any process sharing the database).
pub async fn use_signature_once(
    tx: &impl sea_orm::ConnectionTrait,
    flow: i64,
    signature: &EntrySignature,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), super::Error> {
    // Kept twice as long as a signature can be accepted, for processes whose clocks differ.
    let forget_before = now.timestamp() - 2 * SIGNATURE_TOLERANCE_SECS;
    let first = crate::store::flows::use_signature(tx, flow, (&signature.hex, signature.t), forget_before).await?;
    if first {
        Ok(())
    } else {
        Err(super::Error::Conflict(
            "this signature was used before: each entry is signed anew (a replayed request is refused)".into(),
        ))
    }
}

/// Records a tracking hit (`opened`, `clicked`) as an event of the message's contact.
pub async fn record_hit(s: &super::Services, message: &str, kind: &str) -> Result<(), super::Error> {
    let (contact_id, contact) = crate::store::contacts::of_message(&s.db, message)
        .await?
        .ok_or_else(|| super::Error::NotFound("no such tracking link".into()))?;
    let now = s.clock.now();
    let event = flows::Event {
        at: now,
        contact,
        kind: kind.into(),
        message: Some(message.into()),
        tag: None,
        list: None,
        data: serde_json::Map::new(),
    };
    queue_seen(s, contact_id, &event, true).await
}

/// Queues an event of the contact; when it is the open or click of one of the contact's
/// messages (`own_message`), it is also that message's history, in the same transaction.
pub(super) async fn queue_seen(
    s: &super::Services,
    contact_id: i64,
    event: &flows::Event,
    own_message: bool,
) -> Result<(), super::Error> {
    crate::db::in_write(&s.db, async |tx| {
        if own_message && let Some(message) = &event.message {
            crate::store::segments::message_seen(tx, message, &event.kind, event.at).await?;
        }
        crate::store::inbox::push_event(tx, contact_id, event, event.at).await?;
        Ok::<_, super::Error>(())
    })
    .await?;
    s.engine.notify_one();
    Ok(())
}
