//! Effects: what a step asks the world to do. `flows` never performs them; the shell does
//! (the simulator with capture providers, the service through its outbox and workers).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::definition::HttpMethod;
use crate::journal::Action;

/// A delivery channel. Each has its own queue, throttle and provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Email, Channel::Sms, Channel::Push, Channel::Webhook];

    /// The channel named `name` (`email`, `sms`, `push`, `webhook`).
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
