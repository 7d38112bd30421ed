//! SQLite's pipeline of due journeys: batch N is written while batch N+1 is stepped and batch
//! N+2 is read, both outside any transaction (see [`Engine::step_due_pipelined`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use super::pass::{Fetched, Writes, Written};
use super::{Engine, Error, Progress};
use crate::runtime::handoff::Handoff;
use crate::store::inbox;
use crate::store::tokens::{self, DueKey};

impl Engine {
    /// SQLite: batches in a pipeline of three stages: batch N is written in its transaction
    /// while batch N+1 is stepped and batch N+2 is read (tokens, contacts, histories), both
    /// outside any transaction.
    ///
    /// SQLite has a single writer, and holding it while reading and stepping left it idle for
    /// about a third of a pass; with reading and stepping one after the other beside it, each
    /// of them waited on the other (the process used 1.2 of 2 cores). This is sound because
    /// nothing else steps journeys or applies events on this file meanwhile (the
    /// [`EngineTurn`]), and:
    /// - a batch read leaves out every token of the contacts of the batches not yet written
    ///   (their own tokens among them), so nothing it reads is something they are changing:
    ///   tags, lists, sends, the tokens themselves;
    /// - its transaction writes its tokens first, each only while it is still due at the key it
    ///   was read with ([`tokens::save_tokens_if_due`]), a guard against a writer the turn did
    ///   not stop; a batch that fails it is rolled back (counted in [`Progress::dropped`]);
    /// - reading goes on after the last key read, back to a token left out for its contact.
    ///
    /// It stops when nothing more is due after the key, when events are queued (events come
    /// before timers; the first batch goes ahead regardless, so events cannot starve timers), or
    /// after [`PIPELINE_BUDGET`]: a token that became due behind the key (an entry that waited
    /// for the writer after reading the clock) is then read by the next pipeline, which starts
    /// from the oldest due token.
    pub(super) async fn step_due_pipelined(&self) -> Result<Progress, Error> {
        let started = std::time::Instant::now();
        let mut progress = Progress::default();
        let mut after: Option<DueKey> = None;
        let mut writing: Option<Writing> = None;
        let mut read = self.read_due(&mut after, &HashSet::new()).await;
        loop {
            let current = match read {
                Ok(Some(current)) => current,
                Ok(None) => break,
                Err(e) => {
                    if let Some(w) = writing.take() {
                        self.written(w).await?;
                    }
                    return Err(e);
                }
            };
            // The next read leaves out the contacts of this batch and of the one being written.
            let mut unwritten: HashSet<i64> = current.fetched.tokens.iter().map(|t| t.contact_id).collect();
            let next = if started.elapsed() > PIPELINE_BUDGET {
                None
            } else {
                if let Some(w) = &writing {
                    unwritten.extend(&w.contacts);
                }
                let engine = self.clone();
                let mut key = after;
                Some(tokio::spawn(async move {
                    let read = engine.read_due(&mut key, &unwritten).await;
                    (read, key)
                }))
            };
            let batch = self.step_read(current).await;
            if let Some(w) = writing.take() {
                progress.add(self.written(w).await?);
            }
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    if let Some(next) = next {
                        let _ = next.await;
                    }
                    return Err(e);
                }
            };
            writing = Some(Writing::start(self.db.clone(), batch, self.handoff.clone()));
            read = match next {
                Some(next) => {
                    let (read, key) = next.await.map_err(|source| Error::Task { what: "read", source })?;
                    after = key;
                    read
                }
                None => Ok(None),
            };
        }
        if let Some(w) = writing.take() {
            progress.add(self.written(w).await?);
        }
        Ok(progress)
    }

    /// Waits for a batch's transaction; delivery hears of the messages it queued.
    pub(super) async fn written(&self, w: Writing) -> Result<Progress, Error> {
        let done = w.finish().await?;
        if done.messages > 0 {
            self.delivery.notify_one();
        }
        Ok(done)
    }

    /// The next batch of due tokens after `after`, with what stepping them reads, leaving out
    /// the tokens of the contacts in `unwritten`; `None` when nothing is due there or events
    /// wait.
    pub(super) async fn read_due(
        &self,
        after: &mut Option<DueKey>,
        unwritten: &HashSet<i64>,
    ) -> Result<Option<Read>, Error> {
        if after.is_some() && inbox::has_events(&self.db).await? {
            return Ok(None);
        }
        let now = self.clock.now();
        let read = tokens::due_after(&self.db, now, self.batch, *after).await?;
        // The largest key, not the last row's: nothing here depends on the packed rows' order.
        let Some(last) = read.iter().map(|(key, _)| *key).max() else {
            return Ok(None);
        };
        *after = Some(last);
        let mut read_at = HashMap::with_capacity(read.len());
        let mut tokens = Vec::with_capacity(read.len());
        let mut held_back: Option<DueKey> = None;
        for (key, t) in read {
            if unwritten.contains(&t.contact_id) {
                held_back = Some(held_back.map_or(key, |k| k.min(key)));
                continue;
            }
            read_at.insert(t.id, key.0);
            tokens.push(t);
        }
        if let Some((wake, id)) = held_back {
            // Read again once that batch is written: the next read starts at the first one.
            *after = Some((wake, id - 1));
        }
        if tokens.is_empty() {
            return Ok(None);
        }
        let fetched = self.fetch(&self.db, now, tokens).await?;
        Ok(Some(Read { read_at, fetched }))
    }

    /// Steps a read batch and serialises its writes (beside the batch before's transaction,
    /// not in its own).
    pub(super) async fn step_read(&self, read: Read) -> Result<Batch, Error> {
        let Read { read_at, fetched } = read;
        let pass = self.step_fetched(&self.db, fetched).await?;
        let contacts = pass.tokens.iter().map(|t| t.contact_id).collect();
        let writes = pass.into_writes()?;
        Ok(Batch {
            read_at,
            contacts,
            writes,
        })
    }

    /// [`Engine::read_due`] then [`Engine::step_read`]: one batch, read and stepped.
    #[cfg(test)]
    pub(super) async fn read_batch(
        &self,
        after: &mut Option<DueKey>,
        unwritten: &HashSet<i64>,
    ) -> Result<Option<Batch>, Error> {
        match self.read_due(after, unwritten).await? {
            Some(read) => Ok(Some(self.step_read(read).await?)),
            None => Ok(None),
        }
    }
}

/// How long one pipeline reads new batches before it starts again from the oldest due token.
const PIPELINE_BUDGET: Duration = Duration::from_secs(1);

/// Due tokens read for the pipeline, with what stepping them reads, and the `wake_at` each
/// was read at, by token id.
pub(super) struct Read {
    pub(super) read_at: HashMap<i64, i64>,
    pub(super) fetched: Fetched,
}

/// A stepped batch of the pipeline: its writes, its contacts, and the `wake_at` its tokens
/// were read at, by token id.
pub(super) struct Batch {
    pub(super) read_at: HashMap<i64, i64>,
    pub(super) contacts: HashSet<i64>,
    pub(super) writes: Writes,
}

/// A batch being written by its own task.
pub(super) struct Writing {
    /// The contacts of the batch: the next read leaves their tokens out.
    pub(super) contacts: HashSet<i64>,
    pub(super) task: tokio::task::JoinHandle<Result<Progress, Error>>,
}

impl Writing {
    pub(super) fn start(db: DatabaseConnection, batch: Batch, handoff: Option<Arc<Handoff>>) -> Self {
        let Batch {
            read_at,
            contacts,
            writes,
        } = batch;
        let task = tokio::spawn(async move {
            let tx = crate::db::begin_write(&db).await?;
            let progress = writes.progress();
            let written = writes.write(&tx, Some(&read_at), handoff.as_deref()).await?;
            if matches!(written, Written::Moved) {
                tx.rollback().await?;
                return Ok(Progress {
                    dropped: read_at.len(),
                    ..Progress::default()
                });
            }
            tx.commit().await?;
            written.hand_over(handoff.as_deref());
            Ok(progress)
        });
        Writing { contacts, task }
    }

    pub(super) async fn finish(self) -> Result<Progress, Error> {
        self.task
            .await
            .map_err(|source| Error::Task { what: "write", source })?
    }
}
