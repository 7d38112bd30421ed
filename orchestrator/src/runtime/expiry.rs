//! Tag expiry: a loop that makes tags whose lifetime ran out inactive, within about a second.
//!
//! Each pass takes a batch of due tags in one transaction ([`tags::expire_due`]: a guarded
//! `UPDATE … RETURNING`, so of several processes sharing PostgreSQL exactly one expires each
//! tag), keeps their counters, journals `tag_expired` for each contact and queues a
//! `tag_expired` event (with the tag), all with a statement each, which can wake journeys and start `event_entry` ones.
//! The loop sleeps until the earliest `expires_at` ([`tags::next_expiry`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use flows::Event;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use super::{Background, Turn};
use crate::clock::Clock;
use crate::store::{self, inbox, journal, tags};

/// Tags expired per transaction.
pub const BATCH: u64 = 500;

#[derive(Clone)]
pub struct Expiry {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Poked when a pass queued events: the engine applies them at once.
    pub engine: Arc<Notify>,
    /// Pokes this loop (nothing pokes it today; it polls every second).
    pub wake: Arc<Notify>,
}

impl Expiry {
    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (clock, wake) = (self.clock.clone(), self.wake.clone());
        super::run_loop(&*clock, &wake, shutdown, self).await;
    }

    /// One batch of due tags expired; returns how many.
    pub async fn run_once(&self) -> Result<usize, store::Error> {
        let now = self.clock.now();
        let expired = crate::db::in_write(&self.db, async |tx| {
            let expired = tags::expire_due(tx, now, BATCH).await?;
            let lines = expired
                .iter()
                .map(|(contact, _, tag, _)| (*contact, now, serde_json::json!({"action": "tag_expired", "tag": tag})))
                .collect();
            journal::append_contact_lines(tx, lines).await?;
            let events: Vec<(i64, Event)> = expired
                .iter()
                .map(|(contact, external, tag, due)| {
                    let mut data = serde_json::Map::new();
                    data.insert("expires_at".into(), crate::db::ms(*due).into());
                    let event = Event {
                        at: now,
                        contact: external.clone(),
                        kind: "tag_expired".into(),
                        message: None,
                        tag: Some(tag.clone()),
                        list: None,
                        data,
                    };
                    (*contact, event)
                })
                .collect();
            let queued: Vec<(i64, &Event)> = events.iter().map(|(contact, e)| (*contact, e)).collect();
            inbox::push_events(tx, &queued, now).await?;
            Ok::<_, store::Error>(expired.len())
        })
        .await?;
        if expired > 0 {
            self.engine.notify_one();
        }
        Ok(expired)
    }

    /// Expires every tag due now.
    pub async fn drain(&self) -> Result<usize, store::Error> {
        let mut total = 0;
        loop {
            let n = self.run_once().await?;
            total += n;
            if (n as u64) < BATCH {
                return Ok(total);
            }
        }
    }
}

impl Background for Expiry {
    async fn pass(&mut self) -> Turn {
        match self.run_once().await {
            Ok(n) if n as u64 >= BATCH => Turn::Busy,
            Ok(_) => Turn::Idle,
            Err(e) => {
                tracing::warn!(error = %e, "tag expiry failed; retrying");
                Turn::Failed
            }
        }
    }

    async fn next_due(&self) -> Option<DateTime<Utc>> {
        tags::next_expiry(&self.db).await.ok().flatten()
    }
}
