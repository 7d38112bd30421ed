//! The engine: advances journeys durably.
//!
//! One batch = one transaction: apply queued events (from the inbox) to the journeys of their
//! contacts, or step the tokens that are due, then write every token's new state, the journal
//! lines, the messages with their outbox rows and the tag/list changes together. A crash loses
//! nothing: what was not committed is still queued or still due, and is done again.
//!
//! The loop is a `select!` between the next due instant on the injected [`Clock`], a [`Notify`]
//! poked by the API on every entry and event, on SQLite a [`CommitWatch`] (another process on
//! the file took an entry or event), a short poll (other processes may write work), and
//! shutdown. On PostgreSQL, several engines share the work through `FOR UPDATE SKIP LOCKED`.
//! On SQLite, one engine runs per file ([`EngineTurn`]), and due tokens go through a pipeline:
//! each batch is read and stepped outside any transaction while the one before is written in
//! its own (see [`Engine::step_due_pipelined`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use flows::{CompiledFlow, Contact, Effect, Event, History, Input, JournalEntry, Policy, Transition, step};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::db::{all, col};
use crate::delivery::Handoff;
use crate::store::contacts;
use crate::store::flows as flow_store;
use crate::store::journeys::{self, DueKey, JournalRow, MessageRow, NewEntry, StoredToken};
use crate::store::set_aside;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("flow {flow} version {version} is missing")]
    MissingFlow { flow: i64, version: i64 },
    #[error("flow {flow} version {version} no longer compiles: {problems}")]
    BrokenFlow {
        flow: i64,
        version: i64,
        problems: flows::Problems,
    },
}

impl Error {
    /// Whether the error says nothing about the rows at hand (the database is busy, locked or
    /// out of reach), so the same work is simply tried again; any other error may be one
    /// row's doing, and [`Engine::isolate`] looks for it.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Db(e) => crate::db::is_transient(e),
            Error::MissingFlow { .. } | Error::BrokenFlow { .. } => false,
        }
    }
}

/// Compiled flow versions, compiled once per process. Versions never change once written.
#[derive(Debug, Default)]
pub struct FlowCache {
    compiled: RwLock<HashMap<(i64, i64), Arc<CompiledFlow>>>,
}

impl FlowCache {
    pub async fn get(&self, c: &impl ConnectionTrait, flow: i64, version: i64) -> Result<Arc<CompiledFlow>, Error> {
        if let Some(f) = self.compiled.read().expect("flow cache lock").get(&(flow, version)) {
            return Ok(f.clone());
        }
        let text = flow_store::definition(c, flow, version)
            .await?
            .ok_or(Error::MissingFlow { flow, version })?;
        let compiled = Arc::new(CompiledFlow::from_json(&text).map_err(|problems| Error::BrokenFlow {
            flow,
            version,
            problems,
        })?);
        self.compiled
            .write()
            .expect("flow cache lock")
            .insert((flow, version), compiled.clone());
        Ok(compiled)
    }
}

/// What the engine needs; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub flows: Arc<FlowCache>,
    pub policy: Arc<Policy>,
    /// Poked when entries or events arrive.
    pub wake: Arc<Notify>,
    /// Poked when messages were queued for delivery.
    pub delivery: Arc<Notify>,
    /// Tokens or events per transaction.
    pub batch: u64,
    /// When this process also delivers: the queued messages' outbox rows are leased in the
    /// transaction that writes them and handed to delivery in memory (while it has room).
    pub handoff: Option<Arc<Handoff>>,
}

/// Which due journeys a one-transaction pass claims ([`Engine::step_claimed`]).
#[derive(Debug, Clone, Copy)]
enum Claim {
    /// The oldest due, up to a batch (skipping those another engine holds on PostgreSQL).
    Batch,
    /// This one, if it is still due.
    One(i64),
}

/// Another process runs the engine on this SQLite file.
#[derive(Debug)]
struct NotOurTurn;

/// Work done in one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub events: usize,
    pub steps: usize,
    pub messages: usize,
    /// Steps read and dropped unwritten because their tokens had moved
    /// ([`journeys::save_tokens_if_due`]).
    pub dropped: usize,
}

impl Progress {
    /// Nothing was done; dropped steps count as work, as their tokens may still be due.
    pub fn is_idle(&self) -> bool {
        self.events == 0 && self.steps == 0 && self.dropped == 0
    }

    fn add(&mut self, other: Progress) {
        self.events += other.events;
        self.steps += other.steps;
        self.messages += other.messages;
        self.dropped += other.dropped;
    }
}

impl Engine {
    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let _watch = CommitWatch::spawn(&self.db, self.wake.clone()).await;
        loop {
            // Between passes, so that a busy or failing engine still stops when asked.
            if futures::FutureExt::now_or_never(shutdown.as_mut()).is_some() {
                return;
            }
            match self.run_isolating().await {
                Ok(p) if !p.is_idle() => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "engine pass failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = &mut shutdown => return,
                    }
                    continue;
                }
            }
            let next = journeys::next_due(&self.db).await.ok().flatten();
            let far = self.clock.now() + chrono::TimeDelta::hours(1);
            let sleep = self.clock.sleep_until(next.unwrap_or(far).min(far));
            tokio::select! {
                _ = sleep => {}
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = &mut shutdown => return,
            }
        }
    }

    /// A pass over `contacts`: their records, and the history their sends are judged by (recent
    /// messages when a frequency cap applies, suppressed addresses).
    async fn pass(
        &self,
        c: &impl ConnectionTrait,
        now: DateTime<Utc>,
        ids: &[i64],
        flows_used: &[Arc<CompiledFlow>],
    ) -> Result<Pass, DbErr> {
        let contacts = contacts::load(c, ids).await?;
        let longest_cap = self
            .policy
            .channels
            .values()
            .chain(flows_used.iter().flat_map(|f| f.definition().policy.values()))
            .filter_map(|r| r.cap.as_ref().map(|cap| cap.per.to_chrono()))
            .max();
        let mut histories: HashMap<i64, History> = HashMap::new();
        if let Some(longest) = longest_cap {
            // Engines sharing PostgreSQL could step two journeys of one contact at once and
            // both pass a cap: hold the contacts (in id order, as entries do) first.
            if crate::db::is_postgres(c) {
                let mut sorted = ids.to_vec();
                sorted.sort_unstable();
                sorted.dedup();
                journeys::lock_contacts(c, &sorted).await?;
            }
            for (id, sends) in journeys::recent_sends(c, ids, now - longest).await? {
                histories.entry(id).or_default().sends = sends;
            }
        }
        let addresses: Vec<String> = contacts.values().flat_map(flows::geo::suppression_keys).collect();
        let suppressed = journeys::suppressed(c, &addresses).await?;
        if !suppressed.is_empty() {
            for (id, contact) in &contacts {
                for key in flows::geo::suppression_keys(contact) {
                    if let Some(why) = suppressed.get(&key) {
                        histories.entry(*id).or_default().suppressed.insert(key, why.clone());
                    }
                }
            }
        }
        let mut pass = Pass::new(now, contacts);
        pass.histories = histories;
        Ok(pass)
    }

    /// After a pass failed for a reason that may be one row's: applies the oldest queued events
    /// and steps the next due journeys one per transaction (up to a batch of each), and sets
    /// aside the one that cannot be loaded, stepped or recorded ([`set_aside`]), so that the
    /// next pass goes on with every other. An error that is not the row's (the database is
    /// busy or gone) sets nothing aside and is returned. Runs in the caller's engine turn.
    async fn isolate(&self) -> Result<Progress, Error> {
        let mut progress = Progress::default();
        for id in journeys::oldest_event_ids(&self.db, self.batch).await? {
            match self.apply_events_where(Some(id)).await {
                Ok(p) => progress.add(p),
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    let (reason, now) = (format!("could not be applied: {e}"), self.clock.now());
                    crate::db::in_write(&self.db, async |tx| set_aside::event(tx, id, &reason, now).await).await?;
                    progress.events += 1;
                }
            }
        }
        let now = self.clock.now();
        for (id, due_at) in journeys::due_ids(&self.db, now, self.batch).await? {
            match self.step_claimed(Claim::One(id), now).await {
                Ok(p) => progress.add(p),
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    let reason = format!("could not be loaded, stepped or recorded: {e}");
                    crate::db::in_write(&self.db, async |tx| {
                        set_aside::journey(tx, id, &reason, now, Some(due_at)).await
                    })
                    .await?;
                    progress.steps += 1;
                }
            }
        }
        if progress.messages > 0 {
            self.delivery.notify_one();
        }
        Ok(progress)
    }

    /// Steps the journeys `claim` names that are due at `now`, in one transaction.
    async fn step_claimed(&self, claim: Claim, now: DateTime<Utc>) -> Result<Progress, Error> {
        let stepped = crate::db::in_write(&self.db, async |tx| {
            let tokens = match claim {
                Claim::Batch => journeys::claim_due(tx, now, self.batch).await?,
                Claim::One(id) => journeys::claim_one(tx, id, now).await?.into_iter().collect(),
            };
            if tokens.is_empty() {
                return Ok(None);
            }
            let writes = self.prepare(tx, now, tokens).await?.into_writes()?;
            let progress = writes.progress();
            let written = writes.write(tx, None, self.handoff.as_deref()).await?;
            Ok::<_, Error>(Some((progress, written)))
        })
        .await?;
        let Some((progress, written)) = stepped else {
            return Ok(Progress::default());
        };
        written.hand_over(self.handoff.as_deref());
        Ok(progress)
    }

    /// This process's turn to run the engine on its SQLite file (none is needed on
    /// PostgreSQL); `Err` when another process runs it.
    async fn take_turn(&self) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>, NotOurTurn> {
        match EngineTurn::of(&self.db) {
            Some(turn) => turn.take().await.map(Some).ok_or(NotOurTurn),
            None => Ok(None),
        }
    }

    /// Applies the queued events, then steps due tokens: one batch on PostgreSQL, a pipeline of
    /// batches on SQLite, and there only while this process holds the file's [`EngineTurn`].
    pub async fn run_once(&self) -> Result<Progress, Error> {
        let Ok(_turn) = self.take_turn().await else {
            return Ok(Progress::default());
        };
        self.run_in_turn().await
    }

    /// [`Engine::run_once`] within the engine turn.
    async fn run_in_turn(&self) -> Result<Progress, Error> {
        // Every queued event first: a timeout must not fire while an earlier event waits.
        let mut progress = Progress::default();
        loop {
            let events = self.apply_events().await?;
            if events.events == 0 {
                break;
            }
            progress.add(events);
        }
        progress.add(if crate::db::is_postgres(&self.db) {
            self.step_due_locked().await?
        } else {
            self.step_due_pipelined().await?
        });
        if progress.messages > 0 {
            self.delivery.notify_one();
        }
        Ok(progress)
    }

    /// One pass ([`Engine::run_once`]); when it fails for a reason that may be one row's,
    /// [`Engine::isolate`] sets that row aside instead, so the next pass goes on.
    pub async fn run_isolating(&self) -> Result<Progress, Error> {
        let Ok(_turn) = self.take_turn().await else {
            return Ok(Progress::default());
        };
        match self.run_in_turn().await {
            Err(e) if !e.is_transient() => {
                tracing::error!(error = %e, "engine pass failed; looking for the row that fails it");
                self.isolate().await
            }
            done => done,
        }
    }

    /// Runs passes until nothing is due at the clock's current time.
    pub async fn drain(&self) -> Result<Progress, Error> {
        let mut total = Progress::default();
        loop {
            let p = self.run_isolating().await?;
            if p.is_idle() {
                return Ok(total);
            }
            total.add(p);
        }
    }

    /// Steps `tokens` (due at `now`) in a new pass, reading what they need through `c`.
    async fn prepare(
        &self,
        c: &impl ConnectionTrait,
        now: DateTime<Utc>,
        tokens: Vec<StoredToken>,
    ) -> Result<Pass, Error> {
        let fetched = self.fetch(c, now, tokens).await?;
        self.step_fetched(c, fetched).await
    }

    /// What stepping `tokens` at `now` reads: their contacts and histories (the SQL half of
    /// [`Engine::prepare`]).
    async fn fetch(
        &self,
        c: &impl ConnectionTrait,
        now: DateTime<Utc>,
        tokens: Vec<StoredToken>,
    ) -> Result<Fetched, Error> {
        let ids: Vec<i64> = tokens.iter().map(|t| t.contact_id).collect();
        // Each flow version of the batch once (a broken one fails its tokens below).
        let versions: std::collections::BTreeSet<(i64, i64)> = tokens.iter().map(|t| (t.flow_id, t.version)).collect();
        let mut flows_used = Vec::new();
        for (flow, version) in versions {
            if let Ok(f) = self.flows.get(c, flow, version).await {
                flows_used.push(f);
            }
        }
        let pass = self.pass(c, now, &ids, &flows_used).await?;
        Ok(Fetched { tokens, pass })
    }

    /// Steps fetched tokens (the CPU half of [`Engine::prepare`]; flows are cached by then).
    async fn step_fetched(&self, c: &impl ConnectionTrait, fetched: Fetched) -> Result<Pass, Error> {
        let Fetched { tokens, mut pass } = fetched;
        for mut t in tokens {
            match self.flows.get(c, t.flow_id, t.version).await {
                Ok(flow) => pass.step(&flow, &mut t, Input::Wake, &self.policy),
                Err(e @ (Error::MissingFlow { .. } | Error::BrokenFlow { .. })) => pass.fail(&mut t, e.to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok(pass)
    }

    /// PostgreSQL: one batch, claimed with `FOR UPDATE SKIP LOCKED` in the transaction that
    /// writes it, so engines sharing the database skip each other's tokens.
    async fn step_due_locked(&self) -> Result<Progress, Error> {
        self.step_claimed(Claim::Batch, self.clock.now()).await
    }

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
    ///   was read with ([`journeys::save_tokens_if_due`]), a guard against a writer the turn did
    ///   not stop; a batch that fails it is rolled back (counted in [`Progress::dropped`]);
    /// - reading goes on after the last key read, back to a token left out for its contact.
    ///
    /// It stops when nothing more is due after the key, when events are queued (events come
    /// before timers; the first batch goes ahead regardless, so events cannot starve timers), or
    /// after [`PIPELINE_BUDGET`]: a token that became due behind the key (an entry that waited
    /// for the writer after reading the clock) is then read by the next pipeline, which starts
    /// from the oldest due token.
    async fn step_due_pipelined(&self) -> Result<Progress, Error> {
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
                    let (read, key) = next
                        .await
                        .map_err(|e| Error::Db(DbErr::Custom(format!("engine read task: {e}"))))?;
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
    async fn written(&self, w: Writing) -> Result<Progress, Error> {
        let done = w.finish().await?;
        if done.messages > 0 {
            self.delivery.notify_one();
        }
        Ok(done)
    }

    /// The next batch of due tokens after `after`, with what stepping them reads, leaving out
    /// the tokens of the contacts in `unwritten`; `None` when nothing is due there or events
    /// wait.
    async fn read_due(&self, after: &mut Option<DueKey>, unwritten: &HashSet<i64>) -> Result<Option<Read>, Error> {
        if after.is_some() && journeys::has_events(&self.db).await? {
            return Ok(None);
        }
        let now = self.clock.now();
        let read = journeys::due_after(&self.db, now, self.batch, *after).await?;
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
    async fn step_read(&self, read: Read) -> Result<Batch, Error> {
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
    async fn read_batch(&self, after: &mut Option<DueKey>, unwritten: &HashSet<i64>) -> Result<Option<Batch>, Error> {
        match self.read_due(after, unwritten).await? {
            Some(read) => Ok(Some(self.step_read(read).await?)),
            None => Ok(None),
        }
    }

    async fn apply_events(&self) -> Result<Progress, Error> {
        self.apply_events_where(None).await
    }

    /// Applies the oldest queued events (a batch), or only the one with inbox id `only`.
    async fn apply_events_where(&self, only: Option<i64>) -> Result<Progress, Error> {
        let now = self.clock.now();
        let applied = crate::db::in_write(&self.db, async |tx| self.apply_events_in(tx, only, now).await).await?;
        let Some((progress, written)) = applied else {
            return Ok(Progress::default());
        };
        written.hand_over(self.handoff.as_deref());
        self.wake.notify_one();
        Ok(progress)
    }

    /// [`Engine::apply_events_where`] in `tx`: what it wrote, to hand over once committed, or
    /// `None` when no event was queued.
    async fn apply_events_in(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        only: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Progress, Written)>, Error> {
        let events = match only {
            None => journeys::take_events(tx, self.batch).await?,
            Some(id) => journeys::take_event(tx, id).await?.into_iter().collect(),
        };
        if events.is_empty() {
            return Ok(None);
        }
        let ids: Vec<i64> = events.iter().map(|e| e.contact_id).collect();
        // A flow version that no longer loads starts no journeys; its running ones fail below.
        let mut active = Vec::new();
        for (flow_id, version) in active_flows(tx).await? {
            match self.flows.get(tx, flow_id, version).await {
                Ok(flow) => active.push((flow_id, version, flow)),
                Err(e @ (Error::MissingFlow { .. } | Error::BrokenFlow { .. })) => {
                    tracing::error!(error = %e, "an active flow cannot be loaded; its event entries are skipped");
                }
                Err(e) => return Err(e),
            }
        }
        let flows_used: Vec<Arc<CompiledFlow>> = active.iter().map(|(_, _, f)| f.clone()).collect();
        let mut pass = self.pass(tx, now, &ids, &flows_used).await?;
        for queued in &events {
            let (contact_id, event, only) = (&queued.contact_id, &queued.event, queued.token);
            if only.is_none() {
                pass.record_contact_change(*contact_id, event);
            }
            // Journeys of paused flows keep the event until their flow is active again.
            for (token, flow) in journeys::paused_for_contact(tx, *contact_id).await? {
                if only.is_none_or(|id| id == token) {
                    journeys::hold_event(tx, token, flow, *contact_id, event, now).await?;
                }
            }
            let (running, unreadable) = journeys::running_for_contact(tx, *contact_id).await?;
            for (token, reason) in unreadable {
                pass.set_aside
                    .push((token, format!("its state could not be read: {reason}")));
            }
            for mut t in running {
                if only.is_some_and(|id| id != t.id) {
                    continue;
                }
                // A token stepped earlier in this pass is saved from the pass's copy.
                if let Some(i) = pass.tokens.iter().position(|p| p.id == t.id) {
                    t = pass.tokens.swap_remove(i);
                }
                match self.flows.get(tx, t.flow_id, t.version).await {
                    Ok(flow) => pass.step(&flow, &mut t, Input::Event(event), &self.policy),
                    Err(e @ (Error::MissingFlow { .. } | Error::BrokenFlow { .. })) => pass.fail(&mut t, e.to_string()),
                    Err(e) => return Err(e),
                }
            }
            if only.is_some() {
                continue;
            }
            for (flow_id, version, flow) in &active {
                let (flow_id, version) = (*flow_id, *version);
                for (_, node) in flows::entry::entries_for_event(flow, event) {
                    let entry = NewEntry {
                        flow_id,
                        version,
                        contact_id: *contact_id,
                        contact: &event.contact,
                        entry_node: &node.id,
                        data: event.data.clone(),
                        key: None,
                        reentry: flow.definition().reentry,
                        now,
                    };
                    if let journeys::Entered::Started { .. } = journeys::enter_uncounted(tx, entry).await? {
                        *pass.arrivals.entry((flow_id, node.id.clone())).or_default() += 1;
                    }
                }
            }
        }
        let inbox: Vec<i64> = events.iter().map(|e| e.id).collect();
        journeys::delete_events(tx, &inbox).await?;
        let writes = pass.into_writes()?;
        let progress = Progress {
            events: events.len(),
            ..writes.progress()
        };
        let written = writes.write(tx, None, self.handoff.as_deref()).await?;
        Ok(Some((progress, written)))
    }
}

/// `(flow id, active version)` of every active flow.
pub async fn active_flows(c: &impl ConnectionTrait) -> Result<Vec<(i64, i64)>, DbErr> {
    let rows = all(
        c,
        "SELECT id, active_version FROM flows WHERE status = 'active' AND active_version IS NOT NULL",
        vec![],
    )
    .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// How often [`CommitWatch`] looks for commits by other connections.
const COMMIT_WATCH: Duration = Duration::from_millis(50);

/// Wakes the engine when another connection commits to its SQLite file, within
/// [`COMMIT_WATCH`]: an entry or event taken by another `cairn serve` on the file (which cannot
/// poke this process's engine) or written by any other program. SQLite changes
/// `PRAGMA data_version`, as one connection sees it, whenever another connection commits; the
/// watch reads it on a connection of its own. This process's own commits wake the engine too,
/// for a pass that finds nothing when they were not entries. Ends when dropped.
struct CommitWatch(tokio::task::JoinHandle<()>);

impl CommitWatch {
    /// `None` on PostgreSQL (each process's engine takes its own entries; see `EngineTurn`) and
    /// on an in-memory SQLite database, which no other connection shares.
    async fn spawn(db: &DatabaseConnection, wake: Arc<Notify>) -> Option<CommitWatch> {
        use sea_orm::sqlx::Connection;
        if crate::db::is_postgres(db) {
            return None;
        }
        let options = db.get_sqlite_connection_pool().connect_options();
        let file = options.get_filename();
        if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
            return None;
        }
        let mut conn = match sea_orm::sqlx::SqliteConnection::connect_with(&options).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the database for other processes' commits; polling each second");
                return None;
            }
        };
        Some(CommitWatch(tokio::spawn(async move {
            let mut seen: Option<i64> = None;
            loop {
                match sea_orm::sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                    .fetch_one(&mut conn)
                    .await
                {
                    Ok(version) => {
                        if seen.is_some_and(|v| v != version) {
                            wake.notify_one();
                        }
                        seen = Some(version);
                    }
                    Err(e) => {
                        // Once, not every 50 ms: the one-second poll still finds the work.
                        tracing::warn!(error = %e, "cannot read the database's data_version; polling each second");
                        return;
                    }
                }
                tokio::time::sleep(COMMIT_WATCH).await;
            }
        })))
    }
}

impl Drop for CommitWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long one pipeline reads new batches before it starts again from the oldest due token.
const PIPELINE_BUDGET: Duration = Duration::from_secs(1);

/// One engine at a time on a SQLite file: the pipeline reads outside the write transaction,
/// and counts on nobody else stepping journeys or applying events on the file meanwhile.
/// - In this process, engine passes on one file take turns (a mutex per file, so engines
///   sharing a file in one process, as in the tests, run one after the other).
/// - Across processes, the process that holds an advisory lock on `<file>-engine` runs the
///   engine; another `cairn serve` on the same file serves the API and delivery, and tries the
///   lock on every pass, so it takes over when the holder ends (the kernel releases the lock).
pub struct EngineTurn {
    lock_file: Option<std::path::PathBuf>,
    held: std::sync::Mutex<Option<std::fs::File>>,
    passes: Arc<tokio::sync::Mutex<()>>,
}

impl EngineTurn {
    /// The turn of `db`'s SQLite file, shared by every engine on that file in this process;
    /// `None` on PostgreSQL, where engines share the work through row locks.
    pub fn of(db: &DatabaseConnection) -> Option<Arc<EngineTurn>> {
        type Turns = std::sync::Mutex<HashMap<std::path::PathBuf, Arc<EngineTurn>>>;
        static TURNS: std::sync::LazyLock<Turns> = std::sync::LazyLock::new(Turns::default);
        if crate::db::is_postgres(db) {
            return None;
        }
        let options = db.get_sqlite_connection_pool().connect_options();
        let file = options.get_filename().to_path_buf();
        let in_memory = file.as_os_str().is_empty() || file.as_os_str() == ":memory:";
        let mut turns = TURNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let turn = turns.entry(file.clone()).or_insert_with(|| {
            Arc::new(EngineTurn {
                lock_file: (!in_memory).then(|| {
                    let mut name = file.into_os_string();
                    name.push("-engine");
                    name.into()
                }),
                held: std::sync::Mutex::new(None),
                passes: Arc::default(),
            })
        });
        Some(turn.clone())
    }

    /// This process's turn for one pass, or `None` while another process holds the file.
    async fn take(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        if !self.held_by_this_process() {
            return None;
        }
        Some(self.passes.clone().lock_owned().await)
    }

    fn held_by_this_process(&self) -> bool {
        let Some(path) = &self.lock_file else { return true };
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_some() {
            return true;
        }
        let file = match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => {
                // The database's own directory; if even this fails, SQLite's files will too.
                tracing::warn!(path = %path.display(), error = %e, "cannot open the engine lock file; running the engine without it");
                return true;
            }
        };
        match file.try_lock() {
            Ok(()) => {
                tracing::info!(path = %path.display(), "this process runs the engine on this SQLite file");
                *held = Some(file);
                true
            }
            Err(_) => false,
        }
    }
}

/// Due tokens read for the pipeline, with what stepping them reads, and the `wake_at` each
/// was read at, by token id.
struct Read {
    read_at: HashMap<i64, i64>,
    fetched: Fetched,
}

/// Tokens to step and their pass, its contacts and histories loaded.
struct Fetched {
    tokens: Vec<StoredToken>,
    pass: Pass,
}

/// A stepped batch of the pipeline: its writes, its contacts, and the `wake_at` its tokens
/// were read at, by token id.
struct Batch {
    read_at: HashMap<i64, i64>,
    contacts: HashSet<i64>,
    writes: Writes,
}

/// A batch being written by its own task.
struct Writing {
    /// The contacts of the batch: the next read leaves their tokens out.
    contacts: HashSet<i64>,
    task: tokio::task::JoinHandle<Result<Progress, Error>>,
}

impl Writing {
    fn start(db: DatabaseConnection, batch: Batch, handoff: Option<Arc<Handoff>>) -> Self {
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

    async fn finish(self) -> Result<Progress, Error> {
        self.task
            .await
            .map_err(|e| Error::Db(DbErr::Custom(format!("engine write task: {e}"))))?
    }
}

/// The writes of one pass, gathered in memory and written in one transaction.
struct Pass {
    now: DateTime<Utc>,
    contacts: HashMap<i64, Contact>,
    /// Per contact, what frequency caps and suppressions read; sends of this pass are added.
    histories: HashMap<i64, History>,
    tokens: Vec<StoredToken>,
    journal: Vec<JournalRow>,
    messages: Vec<MessageRow>,
    /// Tag and list changes: (contact, change, source).
    changes: Vec<(i64, Effect, &'static str)>,
    /// Journeys started in this pass per (flow, entry node), counted when it is written.
    arrivals: std::collections::BTreeMap<(i64, String), i64>,
    /// Journeys whose step failed (it panicked): (token, reason), set aside when written.
    set_aside: Vec<(i64, String)>,
}

impl Pass {
    fn new(now: DateTime<Utc>, contacts: HashMap<i64, Contact>) -> Self {
        Pass {
            now,
            contacts,
            histories: HashMap::new(),
            tokens: Vec::new(),
            journal: Vec::new(),
            messages: Vec::new(),
            changes: Vec::new(),
            arrivals: Default::default(),
            set_aside: Vec::new(),
        }
    }

    /// Tag and list events are facts about the contact (the API wrote them as events).
    fn record_contact_change(&mut self, contact_id: i64, event: &Event) {
        let Some(change) = event.contact_change() else { return };
        if let Some(contact) = self.contacts.get_mut(&contact_id) {
            contact.apply(&change);
        }
        self.changes.push((contact_id, change, "api"));
    }

    /// Ends a journey that cannot go on (its flow version or contact is gone), so it neither
    /// blocks the engine nor is claimed again.
    fn fail(&mut self, t: &mut StoredToken, reason: String) {
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
                action,
            }],
        });
        t.token.state = flows::TokenState::Failed { reason };
        self.tokens.push(t.clone());
    }

    fn step(&mut self, flow: &CompiledFlow, t: &mut StoredToken, input: Input<'_>, policy: &Policy) {
        let Some(contact) = self.contacts.get(&t.contact_id) else {
            self.fail(t, format!("contact {} no longer exists", t.token.contact));
            return;
        };
        let empty = History::default();
        let cx = flows::Context {
            now: self.now,
            contact,
            policy,
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
                change => {
                    if let Some(contact) = self.contacts.get_mut(&t.contact_id) {
                        contact.apply(&change);
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
    fn into_writes(self) -> Result<Writes, DbErr> {
        Ok(Writes {
            now: self.now,
            tokens: journeys::SavedTokens::of(&self.tokens, self.arrivals, self.now)?,
            journal: journeys::JournalLines::of(self.journal),
            messages: journeys::QueuedMessages::of(self.messages, self.now)?,
            changes: self.changes,
            set_aside: self.set_aside,
        })
    }
}

/// The writes of one pass, serialised, for one transaction.
struct Writes {
    now: DateTime<Utc>,
    tokens: journeys::SavedTokens,
    journal: journeys::JournalLines,
    messages: journeys::QueuedMessages,
    /// Tag and list changes: (contact, change, source).
    changes: Vec<(i64, Effect, &'static str)>,
    /// See [`Pass::set_aside`].
    set_aside: Vec<(i64, String)>,
}

impl Writes {
    fn progress(&self) -> Progress {
        Progress {
            steps: self.tokens.len() + self.set_aside.len(),
            messages: self.messages.len(),
            ..Progress::default()
        }
    }

    /// Writes the pass. With `read_at` (tokens read outside this transaction, by id: the
    /// `wake_at` each was read at), the tokens are written first and only if each is still
    /// running at it ([`journeys::save_tokens_if_due`]); [`Written::Moved`] means one was not,
    /// and the caller must roll back. Otherwise the tokens and the journal go last: they take
    /// the shared counter rows, after which a transaction locks nothing else (see
    /// `journeys::COUNT_SHARDS`). With a `handoff` that has room, the messages' outbox rows
    /// are leased for it; the caller hands them over once the transaction has committed.
    async fn write(
        self,
        c: &impl ConnectionTrait,
        read_at: Option<&HashMap<i64, i64>>,
        handoff: Option<&Handoff>,
    ) -> Result<Written, DbErr> {
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
                if !journeys::save_tokens_if_due(c, tokens, read_at, now).await? {
                    return Ok(Written::Moved);
                }
                contacts::apply_changes(c, &changes, now).await?;
                journeys::queue_messages(c, messages, leased_until).await?
            }
            None => {
                contacts::apply_changes(c, &changes, now).await?;
                let handed = journeys::queue_messages(c, messages, leased_until).await?;
                journeys::save_tokens(c, tokens, now).await?;
                handed
            }
        };
        journeys::append_journal(c, journal).await?;
        for (token, reason) in set_aside {
            set_aside::journey(c, token, &reason, now, None).await?;
        }
        Ok(Written::Done { handed })
    }
}

/// What a pass's transaction wrote.
enum Written {
    /// Everything; `handed` are the messages leased for this process's delivery, to hand over
    /// once the transaction has committed (not before: delivery would record outcomes for rows
    /// that might yet be rolled back).
    Done { handed: Vec<journeys::Pending> },
    /// Nothing: a token had moved since it was read, and the transaction must be rolled back.
    Moved,
}

impl Written {
    fn hand_over(self, handoff: Option<&Handoff>) {
        if let (Written::Done { handed }, Some(handoff)) = (self, handoff)
            && !handed.is_empty()
        {
            handoff.push(handed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::db::{exec, insert_rows, ms};

    const FLOW: &str = r#"{"format": "cairn.flow/v1", "name": "Guard", "nodes": [
      {"id": "start", "type": "webhook_entry"},
      {"id": "wait", "type": "wait", "duration": "1h"},
      {"id": "done", "type": "exit"}],
      "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}]}"#;

    /// A fresh SQLite file with the flow active and one contact's journey due at its entry.
    async fn one_due_journey(path: &std::path::Path, now: DateTime<Utc>) -> DatabaseConnection {
        let db = crate::db::connect(&crate::db::sqlite_url(path))
            .await
            .expect("database");
        let flow = CompiledFlow::from_json(FLOW).expect("flow");
        let text = serde_json::to_string(flow.definition()).expect("definition");
        let flow_id = flow_store::create(&db, "Guard", &text, now).await.expect("create");
        flow_store::set_status(&db, flow_id, true, now).await.expect("activate");
        let row = vec!["c1".into(), "{}".into(), ms(now).into(), ms(now).into()];
        insert_rows(
            &db,
            "contacts",
            &["external_id", "fields", "created_at", "updated_at"],
            vec![row],
        )
        .await
        .expect("contact");
        let token = journeys::new_token_row((flow_id, 1), (1, "c1"), "start", now).expect("token");
        insert_rows(&db, "tokens", &journeys::NEW_TOKEN_COLUMNS, vec![token])
            .await
            .expect("token");
        journeys::count_arrivals(&db, flow_id, "start", 1).await.expect("count");
        db
    }

    #[tokio::test]
    async fn a_pipelined_batch_whose_journey_moved_after_it_was_read_is_rolled_back_unwritten() {
        let path = std::env::temp_dir().join(format!("cairn-guard-{}.db", std::process::id()));
        let now: DateTime<Utc> = "2026-12-30T08:00:00Z".parse().expect("instant");
        let db = one_due_journey(&path, now).await;
        let engine = Engine {
            db: db.clone(),
            clock: Arc::new(ManualClock::new(now)),
            flows: Arc::new(FlowCache::default()),
            policy: Arc::new(Policy::default()),
            wake: Arc::new(Notify::new()),
            delivery: Arc::new(Notify::new()),
            batch: 10,
            handoff: None,
        };

        let batch = engine
            .read_batch(&mut None, &HashSet::new())
            .await
            .expect("read")
            .expect("a due batch");
        // Another writer moves the journey between the read and the write.
        exec(&db, "UPDATE tokens SET wake_at = wake_at - 1", vec![])
            .await
            .expect("move");
        let progress = Writing::start(db.clone(), batch, None).finish().await.expect("write");

        assert_eq!((progress.steps, progress.dropped), (0, 1));
        assert_eq!(
            journeys::journal_lines(&db).await.expect("journal"),
            0,
            "nothing written"
        );
        let node: String = col(&all(&db, "SELECT node FROM tokens", vec![]).await.expect("token")[0], 0).expect("node");
        assert_eq!(node, "start");

        // Read again at its new key, the journey steps as usual.
        let progress = engine.drain().await.expect("drain");
        assert_eq!(progress.steps, 1);
        assert_eq!(
            journeys::journal_lines(&db).await.expect("journal"),
            2,
            "entered, waiting"
        );

        db.close().await.expect("close");
        for suffix in ["", "-wal", "-shm", "-engine"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
