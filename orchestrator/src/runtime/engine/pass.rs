//! One pass of the engine in memory: the contacts and histories it read, the steps it took
//! and the writes they make ([`Pass`] → [`Writes`]), written in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use flows::contact::{Source, SourceKind};
use flows::{CompiledFlow, Contact, Effect, Event, History, Input, JournalEntry, Policy, Transition, step};
use sea_orm::ConnectionTrait;
use workers::jobs::SendJob;

use super::Progress;
use crate::runtime::delivery;
use crate::runtime::handoff::Handoff;
use crate::store::contacts;
use crate::store::journal::{self, JournalLines, JournalRow};
use crate::store::outbox::{self, MessageRow, QueuedMessages};
use crate::store::tokens::{self, SavedTokens, StoredToken};
use crate::store::{self, set_aside};

/// Tokens to step and their pass, its contacts and histories loaded.
pub(super) struct Fetched {
    pub(super) tokens: Vec<StoredToken>,
    pub(super) pass: Pass,
}

/// The writes of one pass, gathered in memory and written in one transaction.
pub(super) struct Pass {
    pub(super) now: DateTime<Utc>,
    /// The send policy of the whole pass: the one its histories were loaded for.
    policy: std::sync::Arc<Policy>,
    pub(super) contacts: HashMap<i64, Contact>,
    /// Per contact, what frequency caps and suppressions read; sends of this pass are added.
    pub(super) histories: HashMap<i64, History>,
    pub(super) tokens: Vec<StoredToken>,
    pub(super) journal: Vec<JournalRow>,
    pub(super) messages: Vec<MessageRow>,
    /// Tag and list changes: (contact, change, source).
    pub(super) changes: Vec<(i64, Effect, &'static str)>,
    /// Journeys started in this pass per (flow, entry node), counted when it is written.
    pub(super) arrivals: std::collections::BTreeMap<(i64, String), i64>,
    /// Journeys whose step failed (it panicked): (token, reason), set aside when written.
    pub(super) set_aside: Vec<(i64, String)>,
    /// Contacts whose message history is loaded ([`Pass::load_messages`]).
    messages_loaded: HashSet<i64>,
}

impl Pass {
    pub(super) fn new(now: DateTime<Utc>, contacts: HashMap<i64, Contact>, policy: std::sync::Arc<Policy>) -> Self {
        Pass {
            now,
            policy,
            contacts,
            histories: HashMap::new(),
            tokens: Vec::new(),
            journal: Vec::new(),
            messages: Vec::new(),
            changes: Vec::new(),
            arrivals: Default::default(),
            set_aside: Vec::new(),
            messages_loaded: HashSet::new(),
        }
    }

    /// Loads the message history of these contacts (those whose history is not loaded yet),
    /// for the branches that read it: the messages providers had accepted when it is read
    /// (`store::segments::messages`). Messages queued in this pass are not among them: a
    /// message counts once delivery has recorded it `sent`.
    pub(super) async fn load_messages(&mut self, c: &impl ConnectionTrait, ids: &[i64]) -> Result<(), store::Error> {
        let mut wanted: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| self.contacts.contains_key(id) && !self.messages_loaded.contains(id))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut found = store::segments::messages(c, &wanted).await?;
        for id in wanted {
            if let Some(contact) = self.contacts.get_mut(&id) {
                contact.messages = found.remove(&id).unwrap_or_default();
            }
            self.messages_loaded.insert(id);
        }
        Ok(())
    }

    /// Tag and list events are facts about the contact (the API wrote them as events).
    /// Events the contacts API queued after writing the fact itself are not applied again.
    pub(super) fn record_contact_change(&mut self, contact_id: i64, event: &Event) {
        if store::tags::is_recorded(event) {
            return;
        }
        let Some(change) = event.contact_change() else { return };
        if let Some(contact) = self.contacts.get_mut(&contact_id) {
            contact.apply_at(&change, self.now, Some(Source::of(SourceKind::Api)));
        }
        self.changes.push((contact_id, change, "api"));
    }

    /// Ends a journey that cannot go on (its flow version or contact is gone), so it neither
    /// blocks the engine nor is claimed again.
    pub(super) fn fail(&mut self, t: &mut StoredToken, reason: String) {
        tracing::error!(token = t.id, %reason, "journey failed");
        let action = flows::Action::Failed { reason: reason.clone() };
        self.journal.push(JournalRow {
            contact_id: t.contact_id,
            flow_id: t.flow_id,
            token_id: t.id,
            entries: vec![JournalEntry {
                at: self.now,
                contact: t.token.contact.clone(),
                node: t.token.node.clone(),
                record: t.token.record.as_ref().map(|r| r.id.clone()),
                action,
            }],
        });
        t.token.state = flows::TokenState::Failed { reason };
        self.tokens.push(t.clone());
    }

    pub(super) fn step(&mut self, flow: &CompiledFlow, t: &mut StoredToken, input: Input<'_>) {
        let Some(contact) = self.contacts.get(&t.contact_id) else {
            self.fail(t, format!("contact {} no longer exists", t.token.contact));
            return;
        };
        let empty = History::default();
        let cx = flows::Context {
            now: self.now,
            contact,
            policy: &self.policy,
            history: self.histories.get(&t.contact_id).unwrap_or(&empty),
        };
        // A step that panics is one journey's problem: it is set aside, the batch goes on.
        let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(flow, &t.token, input, &cx)));
        let Transition { token, effects } = match stepped {
            Ok(transition) => transition,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                self.set_aside
                    .push((t.id, format!("its step at node '{}' failed: {what}", t.token.node)));
                return;
            }
        };
        let external = contact.id.clone();
        let mut lines = Vec::new();
        for effect in effects {
            match effect {
                Effect::Journal { node, action } => lines.push(JournalEntry {
                    at: self.now,
                    contact: external.clone(),
                    node,
                    record: t.token.record.as_ref().map(|r| r.id.clone()),
                    action,
                }),
                Effect::Send(message) => {
                    self.histories
                        .entry(t.contact_id)
                        .or_default()
                        .sends
                        .push((message.channel, self.now));
                    self.messages.push(MessageRow {
                        token_id: t.id,
                        contact_id: t.contact_id,
                        contact: external.clone(),
                        flow_id: t.flow_id,
                        message: *message,
                    })
                }
                change @ (Effect::AddTag { .. }
                | Effect::RemoveTag { .. }
                | Effect::AddToList { .. }
                | Effect::RemoveFromList { .. }) => {
                    if let Some(contact) = self.contacts.get_mut(&t.contact_id) {
                        contact.apply_at(&change, self.now, Some(Source::of(SourceKind::Flow)));
                    }
                    self.changes.push((t.contact_id, change, "flow"));
                }
            }
        }
        if !lines.is_empty() {
            self.journal.push(JournalRow {
                contact_id: t.contact_id,
                flow_id: t.flow_id,
                token_id: t.id,
                entries: lines,
            });
        }
        t.token = token;
        self.tokens.push(t.clone());
    }

    /// The pass's writes, serialised.
    pub(super) fn into_writes(self) -> Result<Writes, store::Error> {
        Ok(Writes {
            now: self.now,
            tokens: SavedTokens::of(&self.tokens, self.arrivals, self.now)?,
            journal: JournalLines::of(self.journal),
            messages: QueuedMessages::of(self.messages, self.now)?,
            changes: self.changes,
            set_aside: self.set_aside,
        })
    }
}

/// The writes of one pass, serialised, for one transaction.
pub(super) struct Writes {
    pub(super) now: DateTime<Utc>,
    pub(super) tokens: SavedTokens,
    pub(super) journal: JournalLines,
    pub(super) messages: QueuedMessages,
    /// Tag and list changes: (contact, change, source).
    pub(super) changes: Vec<(i64, Effect, &'static str)>,
    /// See [`Pass::set_aside`].
    pub(super) set_aside: Vec<(i64, String)>,
}

impl Writes {
    pub(super) fn progress(&self) -> Progress {
        Progress {
            steps: self.tokens.len() + self.set_aside.len(),
            messages: self.messages.len(),
            ..Progress::default()
        }
    }

    /// Writes the pass. With `read_at` (tokens read outside this transaction, by id: the
    /// `wake_at` each was read at), the tokens are written first and only if each is still
    /// running at it ([`tokens::save_tokens_if_due`]); [`Written::Moved`] means one was not,
    /// and the caller must roll back. Otherwise the tokens and the journal go last: they take
    /// the shared counter rows, after which a transaction locks nothing else (see
    /// [`store::counts::COUNT_SHARDS`]). With a `handoff` that has room, the messages' outbox rows
    /// are leased for it; the caller hands them over once the transaction has committed.
    pub(super) async fn write(
        self,
        c: &impl ConnectionTrait,
        read_at: Option<&HashMap<i64, i64>>,
        handoff: Option<&Handoff>,
    ) -> Result<Written, store::Error> {
        let Writes {
            now,
            tokens,
            journal,
            messages,
            changes,
            set_aside,
        } = self;
        let leased_until = handoff
            .filter(|h| !messages.is_empty() && h.has_room(messages.len()))
            .map(|h| now + h.lease);
        let handed = match read_at {
            Some(read_at) => {
                if !tokens::save_tokens_if_due(c, tokens, read_at, now).await? {
                    return Ok(Written::Moved);
                }
                contacts::apply_changes(c, &changes, now).await?;
                outbox::queue_messages(c, messages, leased_until).await?
            }
            None => {
                contacts::apply_changes(c, &changes, now).await?;
                let handed = outbox::queue_messages(c, messages, leased_until).await?;
                tokens::save_tokens(c, tokens, now).await?;
                handed
            }
        };
        journal::append_journal(c, journal).await?;
        for (token, reason) in set_aside {
            set_aside::journey(c, token, &reason, now, None).await?;
        }
        Ok(Written::Done {
            handed: delivery::jobs(handed),
        })
    }
}

/// What a pass's transaction wrote.
pub(super) enum Written {
    /// Everything; `handed` are the messages leased for this process's delivery, to hand over
    /// once the transaction has committed (not before: delivery would record outcomes for rows
    /// that might yet be rolled back).
    Done { handed: Vec<SendJob> },
    /// Nothing: a token had moved since it was read, and the transaction must be rolled back.
    Moved,
}

impl Written {
    pub(super) fn hand_over(self, handoff: Option<&Handoff>) {
        if let (Written::Done { handed }, Some(handoff)) = (self, handoff)
            && !handed.is_empty()
        {
            handoff.push(handed);
        }
    }
}
