//! Journeys: starting one at a webhook entry, and recording an event for a contact (which the
//! engine applies: running journeys hear it, `event_entry` nodes may start new ones).
//!
//! An entry is written in one transaction: the signature's use, the contact, its tags and lists,
//! and the journey. A refused entry writes nothing, and does not use its signature up.

use flows::entry::WebhookEntryError;
use flows::{CompiledFlow, Event};
use serde_json::{Map, Value};

use super::{Error, Result, Services};
use crate::signing::EntrySignature;
use crate::store::contacts;
use crate::store::flows::FlowRow;
use crate::store::tokens::{self, Entered, NewEntry};

/// An entry into a flow, as the caller gave it (checked for names, not yet for its contact).
#[derive(Debug, Default)]
pub struct Entry {
    /// The `contact` object, parsed by [`super::contact::contact_input`] once the flow is known
    /// to take entries.
    pub contact: Option<Value>,
    pub data: Map<String, Value>,
    /// Idempotency key: the same key twice starts one journey.
    pub key: Option<String>,
    /// Which webhook entry node, when the flow has several.
    pub entry: Option<String>,
    /// The entry's verified signature, used up in the entry's transaction.
    pub signature: Option<EntrySignature>,
}

/// A journey an entry started, or the one its key started before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub token: i64,
    pub duplicate: bool,
}

/// Starts a journey of the entry's contact at a webhook entry of `flow`'s active version.
pub async fn enter(s: &Services, flow: &FlowRow, entry: Entry) -> Result<Started> {
    let (true, Some(version)) = (flow.status == "active", flow.active_version) else {
        return Err(Error::Conflict(format!(
            "flow {} is {}; activate it to accept entries",
            flow.id, flow.status
        )));
    };
    let compiled = s.flows.get(&s.db, flow.id, version).await?;
    let entry_node = webhook_entry(flow.id, &compiled, entry.entry.as_deref())?;
    let contact = super::contact::contact_input(entry.contact)?;
    let now = s.clock.now();
    let (flow_id, key) = (flow.id, entry.key.as_deref());
    let entered = crate::db::in_write(&s.db, async |tx| {
        if let Some(signature) = &entry.signature {
            super::tracking::use_signature_once(tx, flow_id, signature, now).await?;
        }
        let contact_id = contacts::upsert(tx, &contact, now).await?;
        let new = NewEntry {
            flow_id,
            version,
            contact_id,
            contact: &contact.id,
            entry_node: &entry_node,
            data: entry.data,
            key,
            reentry: compiled.definition().reentry,
            now,
        };
        match tokens::enter_with_memberships(tx, new, (&contact.tags, &contact.lists)).await? {
            Entered::Refused(refusal) => Err(Error::Conflict(refusal.to_string())),
            entered => Ok(entered),
        }
    })
    .await?;
    match entered {
        Entered::Started { token } => {
            s.engine.notify_one();
            Ok(Started {
                token,
                duplicate: false,
            })
        }
        Entered::Duplicate { token } => Ok(Started { token, duplicate: true }),
        Entered::Refused(refusal) => Err(Error::Conflict(refusal.to_string())),
    }
}

/// The webhook entry node an entry starts at: the one it names, or the flow's only one.
fn webhook_entry(flow_id: i64, compiled: &CompiledFlow, named: Option<&str>) -> Result<String> {
    match flows::entry::webhook_entry(compiled, named) {
        Ok(node) => Ok(node.id.clone()),
        Err(WebhookEntryError::Unknown(e)) => Err(Error::field(
            "entry",
            format!("flow {flow_id} has no webhook_entry node '{e}'"),
        )),
        Err(WebhookEntryError::Missing) => Err(Error::Conflict(format!("flow {flow_id} has no webhook_entry node"))),
        Err(WebhookEntryError::Several(webhooks)) => Err(Error::field(
            "entry",
            format!(
                "flow {flow_id} has several webhook entries; name one: {}",
                webhooks.join(", ")
            ),
        )),
    }
}

/// An event for a contact, as the caller gave it; the service stamps its time.
#[derive(Debug)]
pub struct NewEvent {
    pub contact: String,
    pub kind: String,
    pub message: Option<String>,
    pub tag: Option<String>,
    pub list: Option<String>,
    pub data: Map<String, Value>,
}

/// Queues an event of a known contact for the engine. Its names must be names, and tag and
/// list events name their tag or list ([`Event::check`]). An `opened` or `clicked` event naming
/// one of the contact's messages is that message's last open or click in their message history,
/// as a tracking hit is.
pub async fn record_event(s: &Services, e: NewEvent) -> Result<()> {
    let now = s.clock.now();
    let event = Event {
        at: now,
        contact: e.contact,
        kind: e.kind,
        message: e.message,
        tag: e.tag,
        list: e.list,
        data: e.data,
    };
    event
        .check()
        .map_err(|found| Error::Fields(found.into_iter().map(|p| (p.field, p.message)).collect()))?;
    let contact_id = contacts::find(&s.db, &event.contact)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no contact with id '{}'", event.contact)))?;
    let own_message = match &event.message {
        Some(message) if matches!(event.kind.as_str(), "opened" | "clicked") => contacts::of_message(&s.db, message)
            .await?
            .is_some_and(|(owner, _)| owner == contact_id),
        _ => false,
    };
    super::tracking::queue_seen(s, contact_id, &event, own_message).await
}
