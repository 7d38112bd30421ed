//! Delivery: takes messages from the outbox, hands them to the channel's provider and journals
//! the outcome (`sent` or `failed`).
//!
//! Today every channel uses the built-in `outbox` provider, which accepts the message as stored
//! (`GET /api/outbox` shows it). The SMTP and HTTP providers, apalis queues per channel and
//! `cairn worker` processes come next; they will replace [`deliver`] without changing the
//! outbox contract: a message row is written with the step that produced it, and its outcome
//! is journaled once.

use std::sync::Arc;
use std::time::Duration;

use flows::{Action, Channel, JournalEntry};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::store::journeys::{self, JournalRow, Pending};

/// Delivers queued messages; cheap to clone.
#[derive(Clone)]
pub struct Delivery {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub wake: Arc<Notify>,
    pub batch: u64,
}

/// The answer of a provider.
enum Outcome {
    Accepted { provider: &'static str },
}

impl Delivery {
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.run_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "delivery pass failed; retrying"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = &mut shutdown => return,
            }
        }
    }

    /// Delivers one batch; returns how many messages were handled.
    pub async fn run_once(&self) -> Result<usize, DbErr> {
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        let pending = journeys::take_outbox(&tx, self.batch).await?;
        let mut journal = Vec::with_capacity(pending.len());
        let mut accepted: std::collections::BTreeMap<&'static str, Vec<String>> = Default::default();
        for p in &pending {
            let Outcome::Accepted { provider } = deliver(p);
            accepted.entry(provider).or_default().push(p.message_id.clone());
            let channel = parse_channel(&p.channel);
            journal.push(JournalRow {
                contact_id: p.contact_id,
                flow_id: p.flow_id,
                token_id: p.token_id,
                entry: JournalEntry {
                    at: now,
                    contact: p.contact.clone(),
                    node: p.node.clone(),
                    action: Action::Sent {
                        channel,
                        message: p.message_id.clone(),
                        to: p.recipient.clone(),
                    },
                },
            });
        }
        for (provider, ids) in &accepted {
            journeys::set_messages_status(&tx, ids, "sent", provider, now).await?;
        }
        journeys::append_journal(&tx, journal).await?;
        let ids: Vec<i64> = pending.iter().map(|p| p.outbox_id).collect();
        journeys::delete_outbox(&tx, &ids).await?;
        tx.commit().await?;
        Ok(pending.len())
    }

    /// Delivers until the outbox is empty.
    pub async fn drain(&self) -> Result<usize, DbErr> {
        let mut total = 0;
        loop {
            let n = self.run_once().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }
}

/// The built-in `outbox` provider: the message is already stored; accepting it is recording that.
fn deliver(_message: &Pending) -> Outcome {
    Outcome::Accepted { provider: "outbox" }
}

fn parse_channel(name: &str) -> Channel {
    Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == name)
        .unwrap_or(Channel::Webhook)
}
