//! The queues between the orchestrator and the workers: one per channel for sends
//! (`cairn.send.email`, …) and one for outcomes (`cairn.outcomes`). Without Redis they can live
//! in the service's SQLite file (apalis-sqlite, the embedded default); with `REDIS_URL`, in Redis
//! (apalis-redis), so any number of `cairn worker` processes can share them.
//!
//! Measured apalis pitfalls handled here: idle workers only wake on a 30 s heartbeat, and
//! apalis's own `poll_with_interval` re-arms its timer without registering it (it wakes once, then
//! sleeps until something else wakes the worker), so every backend polls on [`Tick`] every
//! 100 ms; apalis-redis's default 500 ms response timeout can stop a worker
//! pool, so the connection manager gets 5 s timeouts; apalis-sqlite keeps finished jobs, which
//! makes each acknowledgement slower (see [`SWEEP`]). Retries are not apalis's: a worker reports
//! every answer as an outcome and the orchestrator decides (backoff, give up); a send job never
//! fails after its attempt, since apalis would run it (and send the message) again at once: an
//! outcome the queue refuses is pushed again while the message's lease lasts.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::{ConnectionManager, RedisStorage};
use apalis_sqlite::{SqlitePool, SqliteStorage};
use flows::Channel;

use chrono::{DateTime, Utc};

use crate::jobs::{OutcomeJob, SendJob};
use crate::providers::Providers;
use crate::throttle::Throttle;

pub const OUTCOME_QUEUE: &str = "cairn.outcomes";

/// Outcome jobs handled at once (and fetched at once): the orchestrator records the outcomes
/// that arrive together in one transaction.
pub const OUTCOME_CONCURRENCY: usize = 128;

/// Send jobs handled at once per channel and process.
pub const SEND_CONCURRENCY: usize = 16;

/// Send jobs an embedded (apalis-sqlite) worker fetches, locks and acknowledges at once: each of
/// the three is a write transaction on the service's SQLite file, so fewer, larger ones leave
/// the single writer to entries and the engine (apalis's default is 10).
pub const SEND_FETCH: usize = 64;

/// How often idle workers look for new jobs.
pub const POLL: Duration = Duration::from_millis(100);

/// A worker name unique to this process and start: apalis keeps registrations by name, and a
/// name reused after a restart collides with the dead process's entry.
fn worker_name(queue: &str, i: usize) -> String {
    static STARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{queue}-{}-{nanos:x}-{n}-{i}", std::process::id())
}

/// Wakes an idle worker every [`POLL`]: a tokio interval that, unlike apalis's
/// `IntervalStrategy`, registers the waker for its next tick every time it is polled.
#[derive(Default)]
pub struct Tick(Option<tokio::time::Interval>);

impl PollStrategy for Tick {
    fn poll_drive(&mut self, cx: &mut std::task::Context<'_>, _: &PollSnapshot) -> std::task::Poll<Option<()>> {
        let interval = self.0.get_or_insert_with(|| {
            let mut interval = tokio::time::interval(POLL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        let mut ticked = false;
        // Polls until Pending, so the waker is always registered for the next tick.
        while interval.poll_tick(cx).is_ready() {
            ticked = true;
        }
        if ticked {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
}

pub fn send_queue(channel: Channel) -> String {
    format!("cairn.send.{channel}")
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("queue: {0}")]
    Queue(String),
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Queue(e.to_string())
}

/// Where the queues live; cheap to clone.
#[derive(Clone)]
pub enum Queues {
    Sqlite(SqlitePool),
    Redis(ConnectionManager),
}

impl std::fmt::Debug for Queues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Queues::Sqlite(_) => "Queues::Sqlite",
            Queues::Redis(_) => "Queues::Redis",
        })
    }
}

impl Queues {
    /// Queues in the given SQLite database (apalis creates its tables there).
    pub async fn sqlite(pool: &SqlitePool) -> Result<Self, Error> {
        SqliteStorage::<()>::setup(pool).await.map_err(err)?;
        Ok(Queues::Sqlite(pool.clone()))
    }

    /// The throttle that goes with these queues: shared in Redis, else in this process.
    pub fn throttle(&self) -> Throttle {
        match self {
            Queues::Redis(conn) => Throttle::Redis(conn.clone()),
            Queues::Sqlite(_) => Throttle::local(),
        }
    }

    /// Queues in Redis.
    pub async fn redis(url: &str) -> Result<Self, Error> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let client = redis::Client::open(url).map_err(err)?;
        let conn = client.get_connection_manager_with_config(config).await.map_err(err)?;
        Ok(Queues::Redis(conn))
    }

    pub async fn push_sends(&self, jobs: Vec<SendJob>) -> Result<(), Error> {
        for channel in Channel::ALL {
            let batch: Vec<SendJob> = jobs.iter().filter(|j| j.message.channel == channel).cloned().collect();
            if batch.is_empty() {
                continue;
            }
            let queue = send_queue(channel);
            match self {
                Queues::Sqlite(pool) => {
                    let mut s =
                        SqliteStorage::<SendJob>::new(pool).with_config(apalis_sqlite::Config::default().queue(&queue));
                    s.push_bulk(batch).await.map_err(err)?;
                }
                Queues::Redis(conn) => {
                    let mut s = RedisStorage::<SendJob>::new(conn.clone())
                        .with_config(apalis_redis::Config::default().queue(&queue));
                    s.push_bulk(batch).await.map_err(err)?;
                }
            }
        }
        Ok(())
    }

    pub async fn push_outcomes(&self, jobs: Vec<OutcomeJob>) -> Result<(), Error> {
        match self {
            Queues::Sqlite(pool) => {
                let mut s = SqliteStorage::<OutcomeJob>::new(pool)
                    .with_config(apalis_sqlite::Config::default().queue(OUTCOME_QUEUE));
                s.push_bulk(jobs).await.map_err(err)
            }
            Queues::Redis(conn) => {
                let mut s = RedisStorage::<OutcomeJob>::new(conn.clone())
                    .with_config(apalis_redis::Config::default().queue(OUTCOME_QUEUE));
                s.push_bulk(jobs).await.map_err(err)
            }
        }
    }

    /// Runs send workers for every channel until `shutdown` completes.
    pub async fn run_senders(
        &self,
        send: SendDeps,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let deps = WorkerDeps {
            send,
            outcomes: OutcomePusher::start(self.clone()),
        };
        let mut monitor = Monitor::new().shutdown_timeout(Duration::from_secs(20));
        for channel in Channel::ALL {
            let queue = send_queue(channel);
            let deps = deps.clone();
            monitor = match self {
                Queues::Sqlite(pool) => {
                    let storage = SqliteStorage::<SendJob>::new(pool)
                        .with_config(apalis_sqlite::Config::default().queue(&queue).batch_size(SEND_FETCH));
                    monitor.register(move |i| {
                        WorkerBuilder::new(worker_name(&queue, i))
                            .backend(storage.clone().poll_with_strategy(Tick::default()))
                            .concurrency(SEND_CONCURRENCY)
                            .data(deps.clone())
                            .build(send_job)
                    })
                }
                Queues::Redis(conn) => {
                    let storage = RedisStorage::<SendJob>::new(conn.clone())
                        .with_config(apalis_redis::Config::default().queue(&queue));
                    monitor.register(move |i| {
                        WorkerBuilder::new(worker_name(&queue, i))
                            .backend(storage.clone().poll_with_strategy(Tick::default()))
                            .concurrency(SEND_CONCURRENCY)
                            .data(deps.clone())
                            .build(send_job)
                    })
                }
            };
        }
        monitor
            .run_with_signal(async move {
                shutdown.await;
                Ok(())
            })
            .await
            .map_err(err)
    }
}

/// What a send worker needs.
#[derive(Clone)]
pub struct SendDeps {
    pub providers: Arc<Providers>,
    pub throttle: Throttle,
    /// The clock message guards are checked against: the service's own in its process,
    /// `Utc::now` in `cairn worker`.
    pub now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

#[derive(Clone)]
struct WorkerDeps {
    send: SendDeps,
    outcomes: OutcomePusher,
}

/// Waits for the next item, then takes whatever else has already arrived, up to `max` in all;
/// `None` once every sender is gone.
pub async fn recv_batch<T>(rx: &mut tokio::sync::mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let mut batch = vec![rx.recv().await?];
    while batch.len() < max
        && let Ok(next) = rx.try_recv()
    {
        batch.push(next);
    }
    Some(batch)
}

/// An outcome on its way onto the outcome queue, with where to say whether it got there.
type Pushed = (OutcomeJob, tokio::sync::oneshot::Sender<Result<(), String>>);

/// Pushes the outcomes that finish together in one `push_bulk`: on SQLite one write
/// transaction for a batch instead of one per message. A send job completes only once its
/// outcome is on the queue, so a crash loses no outcome.
#[derive(Clone)]
struct OutcomePusher {
    tx: tokio::sync::mpsc::Sender<Pushed>,
}

impl OutcomePusher {
    /// Starts the pushing task; it ends when the last pusher is dropped.
    fn start(queues: Queues) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Pushed>(OUTCOME_CONCURRENCY);
        tokio::spawn(async move {
            while let Some(batch) = recv_batch(&mut rx, OUTCOME_CONCURRENCY).await {
                let (jobs, acks): (Vec<OutcomeJob>, Vec<_>) = batch.into_iter().unzip();
                let result = queues.push_outcomes(jobs).await.map_err(|e| e.to_string());
                for ack in acks {
                    let _ = ack.send(result.clone());
                }
            }
        });
        OutcomePusher { tx }
    }

    async fn push(&self, job: OutcomeJob) -> Result<(), String> {
        let (ack, pushed) = tokio::sync::oneshot::channel();
        self.tx
            .send((job, ack))
            .await
            .map_err(|_| "the outcome pusher has stopped".to_string())?;
        pushed.await.map_err(|_| "the outcome pusher has stopped".to_string())?
    }
}

/// One attempt (under the message's guard), then its answer, whatever it is, goes back on the
/// outcome queue.
async fn send_job(job: SendJob, deps: Data<WorkerDeps>) -> Result<(), BoxDynError> {
    let send = &deps.send;
    let attempt = crate::attempt::Attempt {
        providers: &send.providers,
        throttle: &send.throttle,
        now: &*send.now,
    };
    let outcome = attempt.run(&job.message, job.leased_until).await;
    let outcome = OutcomeJob {
        job,
        outcome: outcome.into(),
    };
    push_while_leased(&deps.outcomes, outcome, &*send.now).await?;
    Ok(())
}

/// First wait before pushing an outcome again; it doubles up to [`PUSH_RETRY_MAX`].
pub const PUSH_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between two pushes of one outcome.
pub const PUSH_RETRY_MAX: Duration = Duration::from_secs(5);

/// Pushes an outcome, and if the queue refuses it, pushes it again while the message's lease
/// lasts. The message has been attempted: failing the job instead would have the queue run it
/// again at once and send the message a second time. Once the lease is over the outbox row is
/// due again whatever happens here, so the last error then stands.
async fn push_while_leased(
    outcomes: &OutcomePusher,
    outcome: OutcomeJob,
    now: &(dyn Fn() -> DateTime<Utc> + Send + Sync),
) -> Result<(), String> {
    let mut wait = PUSH_RETRY;
    loop {
        match outcomes.push(outcome.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if now() + chrono::TimeDelta::from_std(wait).unwrap_or_default() < outcome.job.leased_until => {
                tracing::warn!(message = %outcome.job.message.id, error = %e, "outcome not queued; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(PUSH_RETRY_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Where outcomes go: the orchestrator records them.
pub trait OutcomeSink: Send + Sync + 'static {
    fn record(
        &self,
        job: OutcomeJob,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>>;
}

async fn outcome_job(job: OutcomeJob, sink: Data<Arc<dyn OutcomeSink>>) -> Result<(), BoxDynError> {
    sink.record(job).await.map_err(BoxDynError::from)
}

impl Queues {
    /// Consumes the outcome queue until `shutdown` completes.
    pub async fn run_outcomes(
        &self,
        sink: Arc<dyn OutcomeSink>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let monitor = Monitor::new().shutdown_timeout(Duration::from_secs(20));
        // The sweeper runs as long as the outcome workers do (stopped when this future ends or
        // is dropped).
        let _sweeper = match self {
            Queues::Sqlite(pool) => Some(AbortOnDrop(tokio::spawn(sweep_finished_jobs(pool.clone())))),
            Queues::Redis(_) => None,
        };
        let monitor = match self {
            Queues::Sqlite(pool) => {
                let storage = SqliteStorage::<OutcomeJob>::new(pool).with_config(
                    apalis_sqlite::Config::default()
                        .queue(OUTCOME_QUEUE)
                        .batch_size(OUTCOME_CONCURRENCY),
                );
                monitor.register(move |i| {
                    WorkerBuilder::new(worker_name(OUTCOME_QUEUE, i))
                        .backend(storage.clone().poll_with_strategy(Tick::default()))
                        .concurrency(OUTCOME_CONCURRENCY)
                        .data(sink.clone())
                        .build(outcome_job)
                })
            }
            Queues::Redis(conn) => {
                let storage = RedisStorage::<OutcomeJob>::new(conn.clone()).with_config(
                    apalis_redis::Config::default()
                        .queue(OUTCOME_QUEUE)
                        .batch_size(OUTCOME_CONCURRENCY),
                );
                monitor.register(move |i| {
                    WorkerBuilder::new(worker_name(OUTCOME_QUEUE, i))
                        .backend(storage.clone().poll_with_strategy(Tick::default()))
                        .concurrency(OUTCOME_CONCURRENCY)
                        .data(sink.clone())
                        .build(outcome_job)
                })
            }
        };
        monitor
            .run_with_signal(async move {
                shutdown.await;
                Ok(())
            })
            .await
            .map_err(err)
    }
}

/// A background task stopped when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often finished jobs are deleted from the embedded queues.
pub const SWEEP: Duration = Duration::from_millis(250);

/// Deletes finished jobs from apalis-sqlite's `Jobs` table every [`SWEEP`] until stopped or
/// the pool closes. apalis keeps them (with `lock_by` still set) and acknowledges a batch
/// with an `UPDATE … FROM json_each(…)` that SQLite plans as a loop over every job the worker
/// ever locked, re-parsing the batch's JSON for each: without the sweep each acknowledgement
/// cost grew with the number of messages sent, 10x slower over 10 000 messages. apalis's own
/// `vacuum` is not used: it also runs `VACUUM` on the whole database.
async fn sweep_finished_jobs(pool: SqlitePool) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let swept = sqlx::query(
            "DELETE FROM Jobs WHERE status = 'Done' OR status = 'Killed' \
             OR (status = 'Failed' AND attempts >= max_attempts)",
        )
        .execute(&pool)
        .await;
        if let Err(e) = swept {
            tracing::warn!(error = %e, "could not delete finished queue jobs");
        }
    }
}
