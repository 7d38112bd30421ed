//! Segments answered from memory, exactly: [`Segments`] holds an [`index::Index`] of every
//! contact's facts and follows the database's change log (`contact_changes`, written by
//! triggers on every write to a contact's facts, by any process) so an answer never misses a
//! write committed before it was asked.
//!
//! Before each answer the index catches up: it reloads the contacts logged since its mark. A
//! background loop ([`Segments::follow`]) does the same every second, so that catch-up is
//! small; it also builds the index at start. The change log is pruned after a day; an index
//! that has not caught up for half of that builds itself anew.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flows::condition::Condition;
use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, RwLock, RwLockReadGuard};

use crate::store;

pub mod index;
pub mod plan;

pub use index::Index;

/// How long the change log keeps a change.
const KEEP_CHANGES: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// An index that has not caught up for this long builds itself anew.
const STALE_AFTER: Duration = Duration::from_secs(12 * 3600);
/// Contacts read per query while building or catching up.
const LOAD_BATCH: u64 = 2000;

/// The answer to a segment question.
pub struct Answer {
    /// How many contacts match.
    pub count: u64,
    /// The first matching contacts' internal ids, in id order.
    pub first: Vec<u32>,
    /// How many contacts the postings left to evaluate.
    pub evaluated: u64,
}

struct Followed {
    index: Index,
    mark: i64,
    caught_up: Instant,
}

/// The shared, self-updating index (one per process).
#[derive(Clone, Default)]
pub struct Segments {
    state: Arc<RwLock<Option<Followed>>>,
    /// One catch-up at a time.
    catching_up: Arc<Mutex<()>>,
}

impl Segments {
    /// The index, caught up with every write committed before this call.
    pub async fn fresh(&self, db: &DatabaseConnection) -> Result<RwLockReadGuard<'_, Index>, store::Error> {
        self.catch_up(db).await?;
        let guard = self.state.read().await;
        Ok(RwLockReadGuard::map(guard, |s| {
            &s.as_ref().expect("caught up, so built").index
        }))
    }

    /// Builds the index if it is missing or stale, else reloads the contacts changed since
    /// its mark.
    pub async fn catch_up(&self, db: &DatabaseConnection) -> Result<(), store::Error> {
        let _one = self.catching_up.lock().await;
        let mark = {
            let state = self.state.read().await;
            state
                .as_ref()
                .filter(|s| s.caught_up.elapsed() < STALE_AFTER)
                .map(|s| s.mark)
        };
        let Some(mark) = mark else {
            let built = build(db).await?;
            *self.state.write().await = Some(built);
            return Ok(());
        };
        let (changed, next) = store::segments::changed_since(db, mark).await?;
        let mut loaded = Vec::with_capacity(changed.len());
        for ids in changed.chunks(LOAD_BATCH as usize) {
            loaded.push((ids.to_vec(), load(db, ids).await?));
        }
        let mut state = self.state.write().await;
        let followed = state.as_mut().expect("built before");
        for (ids, contacts) in loaded {
            for id in ids {
                match contacts.get(&id) {
                    Some(c) => followed.index.put(id as u32, c),
                    None => followed.index.remove(id as u32),
                }
            }
        }
        followed.mark = next;
        followed.caught_up = Instant::now();
        Ok(())
    }

    /// Keeps the index caught up every `every` until `stop`, and prunes the change log.
    pub async fn follow(
        self,
        db: DatabaseConnection,
        clock: Arc<dyn crate::clock::Clock>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let every = Duration::from_secs(1);
        let mut last_prune: Option<Instant> = None;
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.catch_up(&db).await {
                tracing::warn!(error = %e, "the segment index could not catch up; it will try again");
            }
            if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(600)) {
                last_prune = Some(Instant::now());
                if let Err(e) = store::segments::prune_changes(&db, clock.now() - KEEP_CHANGES).await {
                    tracing::warn!(error = %e, "pruning the change log failed");
                }
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

/// Who matches `condition` (resolved: no saved segments left) at `now`, and the first `limit`.
pub fn answer(index: &Index, condition: &Condition, now: DateTime<Utc>, limit: usize) -> Answer {
    let (drawn, residual) = plan::draw(index, condition, now);
    let drawn = drawn.unwrap_or_else(|| plan::Drawn {
        set: index.everyone(),
        exact: false,
    });
    if drawn.exact {
        return Answer {
            count: drawn.set.len(),
            first: drawn.set.iter().take(limit).collect(),
            evaluated: 0,
        };
    }
    let evaluated = drawn.set.len();
    let ids: Vec<u32> = drawn.set.iter().collect();
    let condition = &residual;
    // Two halves on two threads: each counts its matches and keeps its first `limit`.
    let half = ids.len().div_ceil(2).max(1);
    let parts: Vec<(u64, Vec<u32>)> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(half)
            .map(|chunk| {
                s.spawn(move || {
                    let mut count = 0u64;
                    let mut first = Vec::new();
                    for &id in chunk {
                        if index.holds(id, condition, now) {
                            count += 1;
                            if first.len() < limit {
                                first.push(id);
                            }
                        }
                    }
                    (count, first)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("segment evaluation panicked"))
            .collect()
    });
    let count = parts.iter().map(|p| p.0).sum();
    let mut first: Vec<u32> = parts.into_iter().flat_map(|p| p.1).collect();
    first.truncate(limit);
    Answer {
        count,
        first,
        evaluated,
    }
}

/// Every contact who matches `condition` (resolved) at `now`, by internal id.
pub fn members(index: &Index, condition: &Condition, now: DateTime<Utc>) -> roaring::RoaringBitmap {
    let (drawn, residual) = plan::draw(index, condition, now);
    let drawn = drawn.unwrap_or_else(|| plan::Drawn {
        set: index.everyone(),
        exact: false,
    });
    if drawn.exact {
        return drawn.set;
    }
    let ids: Vec<u32> = drawn.set.iter().collect();
    let condition = &residual;
    let half = ids.len().div_ceil(2).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(half)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .copied()
                        .filter(|&id| index.holds(id, condition, now))
                        .collect::<roaring::RoaringBitmap>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("segment evaluation panicked"))
            .fold(roaring::RoaringBitmap::new(), |a, b| a | b)
    })
}

async fn build(db: &DatabaseConnection) -> Result<Followed, store::Error> {
    let started = Instant::now();
    // The mark is taken before reading, so whatever commits meanwhile is read again next time.
    let mark = store::segments::change_mark(db).await?;
    let mut index = Index::default();
    let mut after = 0;
    loop {
        let ids = store::segments::contact_ids(db, after, LOAD_BATCH).await?;
        let Some(&last) = ids.last() else { break };
        after = last;
        for (id, contact) in load(db, &ids).await? {
            index.put(id as u32, &contact);
        }
    }
    tracing::info!(contacts = index.len(), took = ?started.elapsed(), "segment index built");
    Ok(Followed {
        index,
        mark,
        caught_up: Instant::now(),
    })
}

/// Contacts with every fact a condition reads: tags, lists, records and messages.
async fn load(
    db: &DatabaseConnection,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, flows::Contact>, store::Error> {
    let mut contacts = store::contacts::load(db, ids).await?;
    for (id, messages) in store::segments::messages(db, ids).await? {
        if let Some(c) = contacts.get_mut(&id) {
            c.messages = messages;
        }
    }
    Ok(contacts)
}

#[cfg(test)]
mod tests;
