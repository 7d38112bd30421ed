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
//!
//! - [`events`]: applying queued events; [`pipeline`]: SQLite's pipeline of due journeys;
//!   [`pass`]: one pass in memory and its writes; [`turn`]: one engine per SQLite file.

mod events;
mod pass;
mod pipeline;
mod turn;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use flows::{CompiledFlow, History, Input};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tokio::sync::Notify;

use self::pass::{Fetched, Pass};
pub use self::turn::EngineTurn;
use self::turn::{CommitWatch, NotOurTurn};
use super::Turn;
use crate::clock::Clock;
use crate::runtime::flow_cache::{self, FlowCache};
use crate::runtime::handoff::Handoff;
use crate::store::tokens::{self, StoredToken};
use crate::store::{self, contacts, history, inbox, set_aside};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Flow(#[from] flow_cache::Error),
    /// A task of the SQLite pipeline (`what`: reading or writing a batch) did not finish: it
    /// panicked or was cancelled.
    #[error("engine {what} task: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Beginning and committing transactions (`db::in_write`) fail as the store does.
impl From<DbErr> for Error {
    fn from(e: DbErr) -> Self {
        Error::Store(e.into())
    }
}

impl Error {
    /// Whether the error says nothing about the rows at hand (the database is busy, locked or
    /// out of reach), so the same work is simply tried again; any other error may be one
    /// row's doing, and [`Engine::isolate`] looks for it.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store(e) | Error::Flow(flow_cache::Error::Store(e)) => e.is_transient(),
            Error::Flow(_) | Error::Task { .. } => false,
        }
    }
}

/// What the engine needs; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub flows: Arc<FlowCache>,
    /// The send policy in force; each pass takes one snapshot of it.
    pub policy: crate::send_policy::SendPolicy,
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

/// Work done in one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub events: usize,
    pub steps: usize,
    pub messages: usize,
    /// Steps read and dropped unwritten because their tokens had moved
    /// ([`tokens::save_tokens_if_due`]).
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
        let _watch = CommitWatch::spawn(&self.db, self.wake.clone()).await;
        let (clock, wake) = (self.clock.clone(), self.wake.clone());
        super::run_loop(&*clock, &wake, shutdown, self).await;
    }

    /// A pass over `contacts`: their records, and the history their sends are judged by (recent
    /// messages when a frequency cap applies, suppressed addresses).
    async fn pass(
        &self,
        c: &impl ConnectionTrait,
        now: DateTime<Utc>,
        ids: &[i64],
        flows_used: &[Arc<CompiledFlow>],
    ) -> Result<Pass, store::Error> {
        let contacts = contacts::load(c, ids).await?;
        let policy = self.policy.get();
        let longest_cap = policy
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
                contacts::lock_contacts(c, &sorted).await?;
            }
            for (id, sends) in history::recent_sends(c, ids, now - longest).await? {
                histories.entry(id).or_default().sends = sends;
            }
        }
        let addresses: Vec<String> = contacts.values().flat_map(flows::geo::suppression_keys).collect();
        let suppressed = history::suppressed(c, &addresses).await?;
        if !suppressed.is_empty() {
            for (id, contact) in &contacts {
                for key in flows::geo::suppression_keys(contact) {
                    if let Some(why) = suppressed.get(&key) {
                        histories.entry(*id).or_default().suppressed.insert(key, why.clone());
                    }
                }
            }
        }
        let mut pass = Pass::new(now, contacts, policy);
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
        for id in inbox::oldest_event_ids(&self.db, self.batch).await? {
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
        for (id, due_at) in tokens::due_ids(&self.db, now, self.batch).await? {
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
                Claim::Batch => tokens::claim_due(tx, now, self.batch).await?,
                Claim::One(id) => tokens::claim_one(tx, id, now).await?.into_iter().collect(),
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
        let mut stored = Vec::new();
        for &(flow, version) in &versions {
            if let Ok(f) = self.flows.get(c, flow, version).await {
                stored.push(f);
            }
        }
        self.flows.refresh_segments(c, &stored).await?;
        let mut flows_used = Vec::new();
        let mut reading_history = std::collections::BTreeSet::new();
        for (flow, version) in versions {
            if let Ok(f) = self.flows.runnable(c, flow, version).await {
                if f.reads_messages() {
                    reading_history.insert((flow, version));
                }
                flows_used.push(f);
            }
        }
        let mut pass = self.pass(c, now, &ids, &flows_used).await?;
        // Message history only for the journeys of flows whose branches read it.
        if !reading_history.is_empty() {
            let readers: Vec<i64> = tokens
                .iter()
                .filter(|t| reading_history.contains(&(t.flow_id, t.version)))
                .map(|t| t.contact_id)
                .collect();
            pass.load_messages(c, &readers).await?;
        }
        Ok(Fetched { tokens, pass })
    }

    /// Steps fetched tokens (the CPU half of [`Engine::prepare`]; flows are cached by then).
    async fn step_fetched(&self, c: &impl ConnectionTrait, fetched: Fetched) -> Result<Pass, Error> {
        let Fetched { tokens, mut pass } = fetched;
        for mut t in tokens {
            match self.flows.runnable(c, t.flow_id, t.version).await {
                Ok(flow) => pass.step(&flow, &mut t, Input::Wake),
                Err(e) if e.is_unusable() => pass.fail(&mut t, e.to_string()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(pass)
    }

    /// PostgreSQL: one batch, claimed with `FOR UPDATE SKIP LOCKED` in the transaction that
    /// writes it, so engines sharing the database skip each other's tokens.
    async fn step_due_locked(&self) -> Result<Progress, Error> {
        self.step_claimed(Claim::Batch, self.clock.now()).await
    }
}

impl super::Background for Engine {
    async fn pass(&mut self) -> Turn {
        match self.run_isolating().await {
            Ok(p) if !p.is_idle() => Turn::Busy,
            Ok(_) => Turn::Idle,
            Err(e) => {
                tracing::warn!(error = %e, "engine pass failed; retrying");
                Turn::Failed
            }
        }
    }

    async fn next_due(&self) -> Option<DateTime<Utc>> {
        tokens::next_due(&self.db).await.ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::pipeline::Writing;
    use super::*;
    use crate::clock::ManualClock;
    use crate::db::{all, col, exec, insert_rows, ms};
    use crate::store::flows as flow_store;
    use crate::store::{counts, journal};

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
        let token = tokens::journey_row(&tokens::Journey {
            flow: (flow_id, 1),
            contact: (1, "c1"),
            node: "start",
            record: None,
            run: None,
            now,
        })
        .expect("token");
        insert_rows(&db, "tokens", &tokens::JOURNEY_COLUMNS, vec![token])
            .await
            .expect("token");
        counts::count_arrivals(&db, flow_id, "start", 1).await.expect("count");
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
            policy: crate::send_policy::SendPolicy::default_policy(),
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
            journal::journal_lines(&db).await.expect("journal"),
            0,
            "nothing written"
        );
        let node: String = col(&all(&db, "SELECT node FROM tokens", vec![]).await.expect("token")[0], 0).expect("node");
        assert_eq!(node, "start");

        // Read again at its new key, the journey steps as usual.
        let progress = engine.drain().await.expect("drain");
        assert_eq!(progress.steps, 1);
        assert_eq!(
            journal::journal_lines(&db).await.expect("journal"),
            2,
            "entered, waiting"
        );

        db.close().await.expect("close");
        for suffix in ["", "-wal", "-shm", "-engine"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
