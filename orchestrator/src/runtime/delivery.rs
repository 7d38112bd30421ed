//! Delivery: outbox → provider → recorded outcome.
//!
//! Three steps, so nothing is sent from inside a transaction:
//! 1. lease a batch of due outbox rows (one transaction; the lease keeps other processes off);
//! 2. send them through their providers, several at a time, outside any transaction;
//! 3. record the outcomes (one transaction): accepted → message `sent`, journal `sent`, row
//!    deleted; retry → attempt counted, row waits in `outbox_later` for an exponential
//!    backoff (a deferral waits there too, and the lease brings due rows back); failed (or
//!    out of attempts) → message `failed`, journal `failed` with the reason, row deleted.
//!    When this process sends itself, the same transaction leases the next batch (step 1 of the
//!    next round), so a busy round costs one write transaction, not two.
//!
//! A crash between 2 and 3 leaves the lease to expire and the message is sent again with the
//! same id (`Message-ID`, `Idempotency-Key`), which is how receivers recognise the repeat.
//!
//! When this process sends itself, the engine of this process leases the outbox rows it writes
//! in the transaction that queues them and hands the messages over in memory ([`Handoff`](crate::runtime::handoff::Handoff)), so
//! step 1 costs nothing for them. The rows are leased like any other: another process leaves
//! them alone, and after a crash they are due again once the lease has run out.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::TimeDelta;
use flows::{Action, JournalEntry};
use futures::StreamExt;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Notify;
use workers::jobs::SendJob;
use workers::providers::{Outcome, Providers};

use super::Turn;
use crate::clock::Clock;
use crate::runtime::handoff::Handoff;
use crate::store::journal::{self, JournalLines, JournalRow};
use crate::store::outbox::{self, Leased};
use crate::store::{self, history, set_aside};

/// Why a delivery pass failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The channel queues did not take the leased messages.
    #[error("queues: {0}")]
    Queue(#[source] workers::queues::Error),
    /// Outcomes that could be recorded neither as a batch nor one by one, nor set aside: what
    /// went wrong with the first of them.
    #[error("{0}")]
    Unrecorded(String),
}

/// Beginning and committing transactions (`db::in_write`) fail as the store does.
impl From<DbErr> for Error {
    fn from(e: DbErr) -> Self {
        Error::Store(e.into())
    }
}

impl Error {
    /// Whether the database is busy, locked or out of reach: the pass is simply tried again,
    /// where any other error may be one message's doing ([`Delivery::isolate`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_transient())
    }
}

/// A leased row as the job that sends it: the same fields, moved.
impl From<Leased> for SendJob {
    fn from(l: Leased) -> Self {
        SendJob {
            outbox_id: l.outbox_id,
            attempts: l.attempts,
            token_id: l.token_id,
            contact_id: l.contact_id,
            contact: l.contact,
            flow_id: l.flow_id,
            message: l.message,
            leased_until: l.leased_until,
        }
    }
}

/// Leased rows as send jobs, collected in place: the two have the same fields, so the same
/// layout, and the vector's buffer is reused (checked below).
pub fn jobs(leased: Vec<Leased>) -> Vec<SendJob> {
    leased.into_iter().map(SendJob::from).collect()
}

const _: () = assert!(
    std::mem::size_of::<Leased>() == std::mem::size_of::<SendJob>()
        && std::mem::align_of::<Leased>() == std::mem::align_of::<SendJob>()
);

/// Attempts before a message that keeps being deferred is given up as failed.
pub const MAX_ATTEMPTS: i64 = 10;

/// Sends in flight at once per process.
pub const CONCURRENCY: usize = 16;

/// Default time a leased row stays invisible to other delivery processes. A batch of
/// [`LEASE_BATCH`] rows at [`CONCURRENCY`] in flight takes at most 4 rounds of the 15 s provider
/// timeout, so a live process always records its outcomes before its lease runs out.
pub const LEASE: TimeDelta = TimeDelta::seconds(90);

/// Rows leased per round.
pub const LEASE_BATCH: u64 = 64;

/// Delay before attempt `n + 1` after `n` deferrals: 2, 4, 8 … seconds, at most 10 minutes.
pub fn backoff(attempts: i64) -> TimeDelta {
    TimeDelta::seconds(2i64.saturating_pow(attempts.clamp(1, 20) as u32).min(600))
}

/// Delivers queued messages; cheap to clone.
#[derive(Clone)]
pub struct Delivery {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub providers: Arc<Providers>,
    /// Adds the open pixel and signed click links to HTML emails.
    pub tracker: Option<Arc<crate::signing::Tracker>>,
    pub wake: Arc<Notify>,
    pub batch: u64,
    /// How long leased rows stay invisible to other processes; after a crash, the dead
    /// process's rows are sent again once it has passed.
    pub lease: TimeDelta,
    /// When set, leased messages go to the channel queues for workers (in this process or
    /// `cairn worker`s) and outcomes come back on the outcome queue; otherwise this process
    /// sends them itself.
    pub queues: Option<workers::queues::Queues>,
    /// Throttle schedules: in this process, or shared in Redis.
    pub throttle: workers::throttle::Throttle,
    /// Messages handed to the queues whose outcome has not come back yet (queue mode).
    pub in_flight: Arc<InFlight>,
    /// Messages this process's engine queued and leased for it (only when it sends itself).
    pub handoff: Option<Arc<Handoff>>,
}

/// A count of messages waiting in the queues. Outcomes that never come back (a worker killed
/// mid-job) must not stall delivery: when the count is full and nothing has changed for a
/// lease, their leases have run out and the rows are due again, so the count starts over.
#[derive(Debug)]
pub struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    changed: std::sync::Mutex<std::time::Instant>,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            count: Default::default(),
            changed: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }
}

impl InFlight {
    fn touch(&self) {
        *self.changed.lock().expect("in-flight lock") = std::time::Instant::now();
    }

    fn add(&self, n: usize) {
        self.count.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        self.touch();
    }

    fn done(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self.count.fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(1)));
        self.touch();
    }

    /// Whether the queues hold enough; resets a count that has been stuck for `lease`.
    fn full(&self, lease: TimeDelta) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if self.count.load(Relaxed) < MAX_IN_FLIGHT {
            return false;
        }
        let stuck = self.changed.lock().expect("in-flight lock").elapsed() > lease.to_std().unwrap_or_default();
        if stuck {
            tracing::warn!("no outcomes for a whole lease: counting queued messages afresh");
            self.count.store(0, Relaxed);
            self.touch();
        }
        !stuck
    }
}

/// At most this many messages wait in the queues per delivery process: a backlog stays in
/// the outbox (where leases cannot run out under it), not in the queues.
pub const MAX_IN_FLIGHT: usize = 1024;

impl Delivery {
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let (clock, wake) = (self.clock.clone(), self.wake.clone());
        let work = DeliveryLoop {
            delivery: self,
            leased: Vec::new(),
        };
        super::run_loop(&*clock, &wake, shutdown, work).await;
    }

    /// After a pass failed for a reason that may be one message's: reads each due outbox row
    /// on its own (up to a batch, leasing nothing) and sets aside those that cannot be read as
    /// a message ([`set_aside::message`]), so the next pass sends every other.
    pub async fn isolate(&self) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut set = 0;
        for id in outbox::due_outbox_ids(&self.db, now, self.batch).await? {
            let tx = crate::db::begin_write(&self.db).await?;
            let probe = outbox::probe_outbox(&tx, id, now).await;
            tx.rollback().await?;
            match probe {
                Ok(()) => {}
                Err(e) if e.is_transient() => return Err(e.into()),
                Err(e) => {
                    let reason = format!("cannot be read for sending: {e}");
                    crate::db::in_write(&self.db, async |tx| set_aside::message(tx, id, &reason, now).await).await?;
                    set += 1;
                }
            }
        }
        Ok(set)
    }

    /// One lease–send–record round on `leased`, or on a batch it leases when that is empty.
    /// Returns how many messages were attempted and, when this process sends them itself, the
    /// next batch: leased in the transaction that recorded these outcomes, which spares a
    /// transaction per batch (the caller sends it next; if it does not, its lease runs out).
    pub async fn run_once(&self, leased: Vec<SendJob>) -> Result<(usize, Vec<SendJob>), Error> {
        let handed = match (&self.handoff, leased.is_empty()) {
            (Some(handoff), true) => handoff.take(self.batch as usize),
            _ => Vec::new(),
        };
        let pending = if !handed.is_empty() {
            handed
        } else if leased.is_empty() {
            if self.queues.is_some() && self.in_flight.full(self.lease) {
                return Ok((0, Vec::new()));
            }
            let now = self.clock.now();
            jobs(
                crate::db::in_write(&self.db, async |tx| {
                    outbox::lease_outbox(tx, now, now + self.lease, self.batch).await
                })
                .await?,
            )
        } else {
            leased
        };
        if pending.is_empty() {
            return Ok((0, Vec::new()));
        }
        // Tracking goes into the HTML once, before the message leaves this process either way.
        let jobs: Vec<SendJob> = pending
            .into_iter()
            .map(|mut p| {
                if let (Some(tracker), flows::Content::Email { html, .. }) = (&self.tracker, &mut p.message.content) {
                    *html = tracker.instrument(&p.message.id, html);
                }
                p
            })
            .collect();
        if let Some(queues) = &self.queues {
            let n = jobs.len();
            tracing::debug!(n, "pushing to queues");
            self.in_flight.add(n);
            queues.push_sends(jobs).await.map_err(Error::Queue)?;
            return Ok((n, Vec::new()));
        }
        let clock = self.clock.clone();
        let service_now = move || clock.now();
        let attempt = workers::attempt::Attempt {
            providers: &self.providers,
            throttle: &self.throttle,
            now: &service_now,
        };
        let outcomes: Vec<(SendJob, Outcome)> = futures::stream::iter(jobs)
            .map(|p| {
                let attempt = &attempt;
                async move {
                    let outcome = attempt.run(&p.message, p.leased_until).await;
                    (p, outcome)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let attempted = outcomes.len();
        // Messages handed over go first; leasing more now would hold them past their turn.
        let lease_next = match &self.handoff {
            Some(handoff) if !handoff.is_empty() => 0,
            _ => self.batch,
        };
        let next = match self.record_and_lease(&outcomes, lease_next).await {
            Ok(next) => next,
            Err(e) if e.is_transient() => return Err(e),
            // One outcome that cannot be recorded, or a next batch that cannot be leased (the
            // next pass's own lease finds that row): each outcome is recorded on its own.
            Err(e) => {
                tracing::warn!(error = %e, "recording a batch of outcomes failed; recording them one by one");
                if let Some(Err(e)) = self.record_each(&outcomes).await.into_iter().find(Result::is_err) {
                    return Err(Error::Unrecorded(e));
                }
                Vec::new()
            }
        };
        Ok((attempted, next))
    }

    /// Records outcomes (see [`Delivery::record_and_lease`]).
    pub async fn record(&self, outcomes: &[(SendJob, Outcome)]) -> Result<(), Error> {
        self.record_and_lease(outcomes, 0).await.map(|_| ())
    }

    /// Records outcomes. An outcome whose outbox row is gone, is at another attempt or holds
    /// another message is stale and changes nothing. Outcomes that only move the row (retry,
    /// deferral, throttle, lease lost) apply only while the row still holds the attempt's
    /// lease, so a late outcome never frees a row another attempt is sending.
    /// Then, in the same transaction, leases up to `lease_next` due rows and returns them.
    pub async fn record_and_lease(
        &self,
        outcomes: &[(SendJob, Outcome)],
        lease_next: u64,
    ) -> Result<Vec<SendJob>, Error> {
        let now = self.clock.now();
        crate::db::in_write(&self.db, async |tx| {
            self.record_and_lease_in(tx, outcomes, lease_next, now).await
        })
        .await
    }

    /// [`Delivery::record_and_lease`] in `tx`.
    async fn record_and_lease_in(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        outcomes: &[(SendJob, Outcome)],
        lease_next: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<SendJob>, Error> {
        let mut accepted: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        let mut done = Vec::new();
        let mut journal = Vec::new();
        let ids: Vec<i64> = outcomes.iter().map(|(p, _)| p.outbox_id).collect();
        let mut current = outbox::outbox_rows(tx, &ids).await?;
        for (p, outcome) in outcomes {
            let Some(row) = current.get(&p.outbox_id) else {
                continue;
            };
            if row.attempts != p.attempts || row.message != p.message.id {
                continue;
            }
            let final_answer = matches!(
                outcome,
                Outcome::Accepted { .. } | Outcome::Failed { .. } | Outcome::Undeliverable { .. }
            );
            if !final_answer && row.leased_until != Some(crate::db::ms(p.leased_until)) {
                continue;
            }
            // Taken out of the map once applied (not before: a stale outcome earlier in the
            // batch must not hide a valid one), so a later outcome for the row is stale.
            current.remove(&p.outbox_id);
            let line = |action| JournalRow {
                contact_id: p.contact_id,
                flow_id: p.flow_id,
                token_id: p.token_id,
                entries: vec![JournalEntry {
                    at: now,
                    contact: p.contact.clone(),
                    node: p.message.node.clone(),
                    record: None,
                    action,
                }],
            };
            let failure = match outcome {
                Outcome::Accepted { provider, .. } => {
                    accepted.entry(*provider).or_default().push(p.message.id.clone());
                    journal.push(line(Action::Sent {
                        channel: p.message.channel,
                        message: p.message.id.clone(),
                        to: p.message.to.clone(),
                    }));
                    done.push(p.outbox_id);
                    None
                }
                Outcome::Retry { provider, reason } if p.attempts + 1 >= MAX_ATTEMPTS => {
                    Some((*provider, format!("gave up after {MAX_ATTEMPTS} attempts: {reason}")))
                }
                Outcome::Retry { reason, .. } => {
                    let attempts = p.attempts + 1;
                    tracing::warn!(message = %p.message.id, attempts, %reason, "delivery deferred");
                    outbox::retry_outbox(tx, p.outbox_id, attempts, now + backoff(attempts)).await?;
                    None
                }
                Outcome::Failed { provider, reason } => Some((*provider, reason.clone())),
                Outcome::Undeliverable { provider, reason } => {
                    if let Some(key) = flows::geo::suppression_key(p.message.channel, &p.message.to) {
                        history::suppress(tx, &key, reason, now).await?;
                    }
                    Some((
                        *provider,
                        format!("{reason}; address {} suppressed", p.message.to.trim()),
                    ))
                }
                Outcome::Deferred { until, reason } => {
                    outbox::defer_outbox(tx, p.outbox_id, *until).await?;
                    journal.push(line(Action::Deferred {
                        until: *until,
                        reason: reason.clone(),
                        zone: p.message.guard.as_ref().map(|g| g.zone.clone()),
                        zone_source: None,
                    }));
                    None
                }
                Outcome::Throttled { until } => {
                    outbox::defer_outbox(tx, p.outbox_id, *until).await?;
                    None
                }
                Outcome::LeaseLost => {
                    outbox::release_outbox(tx, p.outbox_id, p.leased_until).await?;
                    None
                }
            };
            if let Some((provider, reason)) = failure {
                outbox::fail_message(tx, &p.message.id, provider, &reason, now).await?;
                journal.push(line(Action::Failed { reason }));
                done.push(p.outbox_id);
            }
        }
        for (provider, ids) in &accepted {
            outbox::set_messages_status(tx, ids, "sent", provider, now).await?;
        }
        outbox::delete_outbox(tx, &done).await?;
        // After the writes above: it takes the shared counter rows (see
        // `counts::COUNT_SHARDS`). The lease below skips locked rows, so it waits on no one.
        journal::append_journal(tx, JournalLines::of(journal)).await?;
        let next = if lease_next > 0 {
            jobs(outbox::lease_outbox(tx, now, now + self.lease, lease_next).await?)
        } else {
            Vec::new()
        };
        Ok(next)
    }

    /// Delivers until nothing in the outbox is due at the clock's current time.
    pub async fn drain(&self) -> Result<usize, Error> {
        let mut total = 0;
        let mut leased = Vec::new();
        loop {
            let (n, next) = match self.run_once(leased).await {
                Ok(done) => done,
                // A message that cannot be read is set aside, then the rest go on.
                Err(e) if !e.is_transient() && self.isolate().await? > 0 => (1, Vec::new()),
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(total);
            }
            total += n;
            leased = next;
        }
    }
}

/// Outcomes recorded together at most: what the outcome queue's workers hold at once.
pub const OUTCOME_BATCH: usize = workers::queues::OUTCOME_CONCURRENCY;

/// An outcome on its way to the recorder, with where to say how recording went.
type Recorded = (SendJob, Outcome, tokio::sync::oneshot::Sender<Result<(), String>>);

/// The outcome queue's sink. Outcomes that arrive together are recorded in one transaction
/// (one per outcome held the queue path to about 270 messages/s on PostgreSQL, a commit each);
/// each job is acknowledged only after its batch is committed, so a crash loses none.
pub struct OutcomeSink {
    tx: tokio::sync::mpsc::Sender<Recorded>,
}

impl Delivery {
    /// The sink for [`workers::queues::Queues::run_outcomes`]; its recorder task ends when the
    /// sink is dropped.
    pub fn outcome_sink(&self) -> OutcomeSink {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Recorded>(OUTCOME_BATCH);
        let delivery = self.clone();
        tokio::spawn(async move {
            while let Some(batch) = workers::queues::recv_batch(&mut rx, OUTCOME_BATCH).await {
                let mut outcomes = Vec::with_capacity(batch.len());
                let mut acks = Vec::with_capacity(batch.len());
                for (job, outcome, ack) in batch {
                    outcomes.push((job, outcome));
                    acks.push(ack);
                }
                let results = delivery.record_batch(outcomes).await;
                for (ack, result) in acks.into_iter().zip(results) {
                    if result.is_ok() {
                        delivery.in_flight.done();
                    }
                    let _ = ack.send(result);
                }
                delivery.wake.notify_one();
            }
        });
        OutcomeSink { tx }
    }

    /// Records a batch in one transaction; if that fails, each outcome on its own, so one bad
    /// outcome does not fail the others. A panic while recording is an error, not the end of
    /// the recorder. One result per outcome, in order.
    async fn record_batch(&self, outcomes: Vec<(SendJob, Outcome)>) -> Vec<Result<(), String>> {
        let n = outcomes.len();
        let attempt = |outcomes: Arc<[(SendJob, Outcome)]>| {
            let delivery = self.clone();
            async move {
                match tokio::spawn(async move { delivery.record(&outcomes).await }).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(e) => Err(format!("recording outcomes failed: {e}")),
                }
            }
        };
        let batch: Arc<[(SendJob, Outcome)]> = outcomes.into();
        match attempt(batch.clone()).await {
            Ok(()) => vec![Ok(()); n],
            Err(e) => {
                tracing::warn!(error = %e, n, "a batch of outcomes failed; recording them one by one");
                self.record_each(&batch).await
            }
        }
    }

    /// Records each outcome on its own (a panic while recording is an error, not the end of
    /// the caller). One that cannot be recorded, for a reason that is not transient, sets its
    /// message aside: the others' records stand, and it is not sent again when its lease runs
    /// out. One result per outcome, in order.
    async fn record_each(&self, outcomes: &[(SendJob, Outcome)]) -> Vec<Result<(), String>> {
        let mut results = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            let one: Arc<[(SendJob, Outcome)]> = Arc::from([outcome.clone()]);
            let delivery = self.clone();
            let recorded = match tokio::spawn(async move { delivery.record(&one).await }).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) if e.is_transient() => Err(e.to_string()),
                Ok(Err(e)) => self.set_aside_unrecorded(outcome, &e.to_string()).await,
                Err(panic) => {
                    self.set_aside_unrecorded(outcome, &format!("recording it panicked: {panic}"))
                        .await
                }
            };
            results.push(recorded);
        }
        results
    }

    /// Sets aside the message of an outcome that cannot be recorded, saying what the outcome was.
    async fn set_aside_unrecorded(&self, (p, outcome): &(SendJob, Outcome), why: &str) -> Result<(), String> {
        let what = match outcome {
            Outcome::Accepted { provider, .. } => format!("{provider} accepted it"),
            Outcome::Retry { reason, .. } => format!("to be retried: {reason}"),
            Outcome::Failed { reason, .. } | Outcome::Undeliverable { reason, .. } => format!("it failed: {reason}"),
            Outcome::Deferred { reason, .. } => format!("deferred: {reason}"),
            Outcome::Throttled { .. } => "throttled".to_string(),
            Outcome::LeaseLost => "its lease was lost".to_string(),
        };
        let reason = format!("{what}, but that could not be recorded: {why}");
        let now = self.clock.now();
        crate::db::in_write(&self.db, async |tx| {
            set_aside::message(tx, p.outbox_id, &reason, now).await
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

impl workers::queues::OutcomeSink for OutcomeSink {
    fn record(
        &self,
        job: workers::jobs::OutcomeJob,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let (ack, recorded) = tokio::sync::oneshot::channel();
            self.tx
                .send((job.job, job.outcome.into(), ack))
                .await
                .map_err(|_| "the outcome recorder has stopped".to_string())?;
            recorded
                .await
                .map_err(|_| "the outcome recorder has stopped".to_string())?
        })
    }
}

/// Delivery as a background loop: what the last pass leased beside recording its outcomes is
/// sent by the next (what it leased and did not send when shutdown comes is sent again once the
/// lease has run out).
struct DeliveryLoop {
    delivery: Delivery,
    leased: Vec<SendJob>,
}

impl super::Background for DeliveryLoop {
    async fn pass(&mut self) -> Turn {
        match self.delivery.run_once(std::mem::take(&mut self.leased)).await {
            Ok((n, next)) if n > 0 => {
                self.leased = next;
                Turn::Busy
            }
            Ok(_) => Turn::Idle,
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "delivery pass failed; retrying");
                Turn::Idle
            }
            Err(e) => {
                tracing::error!(error = %e, "delivery pass failed; looking for the message that fails it");
                if let Err(e) = self.delivery.isolate().await {
                    tracing::error!(error = %e, "delivery pass failed; retrying");
                }
                Turn::Idle
            }
        }
    }

    async fn next_due(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        outbox::next_outbox_due(&self.delivery.db).await.ok().flatten()
    }
}
