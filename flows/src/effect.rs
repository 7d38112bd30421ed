//! Effects: what a step asks the world to do. `flows` never performs them; the shell does
//! (the simulator with capture providers, the service through its outbox and workers).
//!
//! Tag and list effects are also how a contact changes: [`Contact::apply`] takes them, and
//! [`Event::contact_change`] reads one from an event that reports it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::contact::{Contact, Source};
use crate::definition::HttpMethod;
use crate::event::Event;
use crate::journal::Action;

/// One thing a step asks for, in the order it must happen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Record this action in the contact's journal.
    Journal {
        node: String,
        action: Action,
    },
    /// Deliver a message. The shell journals `sent` (or `failed`) once the provider answers.
    Send(Box<Outbound>),
    AddTag {
        tag: String,
    },
    RemoveTag {
        tag: String,
    },
    AddToList {
        list: String,
    },
    RemoveFromList {
        list: String,
    },
}

/// A rendered message, with everything a worker needs to deliver it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    /// Stable id: the email `Message-ID` and the `Idempotency-Key` of HTTP providers, so a
    /// retry never delivers twice. Derived from the token id and the node id.
    pub id: String,
    pub node: String,
    pub channel: Channel,
    /// The address: e-mail, phone number, contact id (push) or URL (webhook).
    pub to: String,
    pub content: Content,
    /// What delivery must still respect: the open time and the throttles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<crate::policy::Guard>,
}

/// Rendered content, per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    Email {
        subject: String,
        html: String,
        text: Option<String>,
        from: Option<String>,
    },
    Sms {
        text: String,
    },
    Push {
        title: String,
        body: String,
        url: Option<String>,
    },
    Webhook {
        method: HttpMethod,
        headers: Vec<(String, String)>,
        body: String,
    },
}

impl Contact {
    /// Applies tag and list changes made by a step, when the instant does not matter: a tag
    /// added counts once more, undated.
    pub fn apply(&mut self, change: &Effect) {
        self.apply_change(change, None, None);
    }

    /// Applies a tag or list change made at `at` by `source`: an added tag counts once more
    /// and is last added at `at` (first added too, the first time).
    pub fn apply_at(&mut self, change: &Effect, at: DateTime<Utc>, source: Option<Source>) {
        self.apply_change(change, Some(at), source);
    }

    fn apply_change(&mut self, change: &Effect, at: Option<DateTime<Utc>>, source: Option<Source>) {
        match change {
            Effect::AddTag { tag } => {
                self.tags.add(tag.clone(), at, source);
            }
            Effect::RemoveTag { tag } => {
                self.tags.remove(tag);
            }
            Effect::AddToList { list } => {
                self.lists.add(list.clone(), at, source);
            }
            Effect::RemoveFromList { list } => {
                self.lists.remove(list);
            }
            Effect::Journal { .. } | Effect::Send(_) => {}
        }
    }
}

impl Event {
    /// The tag or list change this event reports about its contact (`tag_added` with a `tag`,
    /// `list_removed` with a `list`, …), if it reports one.
    pub fn contact_change(&self) -> Option<Effect> {
        match (self.kind.as_str(), &self.tag, &self.list) {
            ("tag_added", Some(tag), _) => Some(Effect::AddTag { tag: tag.clone() }),
            ("tag_removed", Some(tag), _) => Some(Effect::RemoveTag { tag: tag.clone() }),
            ("list_added", _, Some(list)) => Some(Effect::AddToList { list: list.clone() }),
            ("list_removed", _, Some(list)) => Some(Effect::RemoveFromList { list: list.clone() }),
            _ => None,
        }
    }
}
