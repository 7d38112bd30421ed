//! Message previews: an email's parts rendered for a stored contact (by id) or for a contact
//! given whole, by the core's renderer with the context a send has (`flows::step::preview`):
//! the contact's fields, tags, lists and related records, at the service clock's now.

use std::collections::HashSet;

use flows::Contact;
use flows::step::preview::{Message, render_email};
use serde_json::{Map, Value};

use super::{Error, Result, Services};
use crate::store::contacts;

/// Whom to render for.
#[derive(Debug, Clone)]
pub enum Recipient {
    /// A stored contact, by its id.
    Stored(String),
    /// A contact given as `POST /api/simulate` takes one (its `id` may be left out).
    Given(Map<String, Value>),
}

/// Renders `message` for `to`; a template problem names its field (`message.subject`), an
/// unknown contact is not found, a bad given contact names its field (`contact.timezone`).
pub async fn render(s: &Services, message: &Message, to: Recipient) -> Result<Message> {
    let contact = match to {
        Recipient::Stored(id) => stored(s, &id).await?,
        Recipient::Given(mut object) => {
            object.entry("id").or_insert_with(|| Value::String("preview".into()));
            super::import::contact_of(object, &mut HashSet::new()).map_err(|found| {
                Error::Fields(
                    found
                        .into_iter()
                        .map(|p| (format!("contact.{}", p.field), p.message))
                        .collect(),
                )
            })?
        }
    };
    render_email(message, &contact, s.clock.now()).map_err(|found| {
        Error::Fields(
            found
                .into_iter()
                .map(|p| (format!("message.{}", p.field), p.message))
                .collect(),
        )
    })
}

async fn stored(s: &Services, id: &str) -> Result<Contact> {
    let not_found = || Error::NotFound(format!("no contact with id '{id}'"));
    let internal = contacts::find(&s.db, id).await?.ok_or_else(not_found)?;
    contacts::load(&s.db, &[internal])
        .await?
        .remove(&internal)
        .ok_or_else(not_found)
}
