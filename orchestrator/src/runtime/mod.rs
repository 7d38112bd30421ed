//! The background loops that move work forward: the [`engine`] advances journeys durably and
//! [`delivery`] turns the outbox into provider calls and journaled outcomes; [`expiry`] makes
//! tags whose lifetime ran out inactive and queues `tag_expired` events; [`scheduler`] creates
//! and admits the runs of segment entries, and admits contacts who start to match; [`segments`]
//! keeps every contact's facts in memory for audiences.
//!
//! [`flow_cache`] holds compiled flow versions for the engine and the API; [`handoff`] passes
//! messages the engine queued to this process's delivery in memory.
//!
//! Loops are started by [`crate::app::App`] and stopped by its shutdown signal; they call the
//! store for every read and write and the pure `flows` core for every decision.

pub mod delivery;
pub mod engine;
pub mod expiry;
pub mod flow_cache;
pub mod handoff;
pub mod scheduler;
pub mod segments;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::clock::Clock;

/// What one pass of a background loop came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// It did work: the next pass follows at once.
    Busy,
    /// Nothing to do: wait for the next due instant, a wake-up or a second's poll.
    Idle,
    /// It failed for a reason it logged: try again after [`RETRY_AFTER`].
    Failed,
}

/// How long a loop waits after a failed pass.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// A background loop's work: one pass at a time, and when the next work is due.
pub trait Background: Send {
    /// One pass; it logs its own failures.
    fn pass(&mut self) -> impl Future<Output = Turn> + Send;
    /// The next instant work is due, if known.
    fn next_due(&self) -> impl Future<Output = Option<DateTime<Utc>>> + Send;
}

/// The shape every background loop shares: run passes until `shutdown` completes; after an
/// idle pass, sleep until the next due instant (on the injected clock, an hour at most), until
/// `wake` is poked, or for a second (other processes may have written work). Shutdown is
/// checked between passes, so a busy or failing loop still stops when asked.
pub async fn run_loop(clock: &dyn Clock, wake: &Notify, shutdown: impl Future<Output = ()>, mut work: impl Background) {
    tokio::pin!(shutdown);
    loop {
        if futures::FutureExt::now_or_never(shutdown.as_mut()).is_some() {
            return;
        }
        match work.pass().await {
            Turn::Busy => continue,
            Turn::Failed => {
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_AFTER) => {}
                    _ = &mut shutdown => return,
                }
                continue;
            }
            Turn::Idle => {}
        }
        let far = clock.now() + chrono::TimeDelta::hours(1);
        let sleep = clock.sleep_until(work.next_due().await.unwrap_or(far).min(far));
        tokio::select! {
            _ = sleep => {}
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = &mut shutdown => return,
        }
    }
}
