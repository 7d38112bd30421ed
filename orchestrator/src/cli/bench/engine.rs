//! `cairn bench engine`: the engine's throughput on the embedded default, with a ceiling
//! measured in the same run.
//!
//! N contacts enter `webhook_entry → add_tag → wait 1h → send_email → exit` (entered in bulk,
//! as a segment entry admits an audience). The engine steps them all, a manual clock jumps the
//! hour, and the engine steps them again: the send nodes queue their emails in the outbox, as
//! the engine of `cairn serve` does on the embedded default, where workers take them from
//! there through the apalis-sqlite queues. `seconds` is the engine's time, from the first step
//! to the last journey's exit. Then every email is delivered to the `outbox` provider (direct
//! delivery, the fastest path; not in `seconds`, printed as `delivery_seconds`) and the run
//! checks that each was sent once.
//! A transition is one node executed for one contact (five per contact, one journal line each).
//! The ceiling is the rate at which the same SQLite file takes the same number of plain rows in
//! batched transactions, with no engine around them.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use tokio::sync::Notify;

use crate::clock::ManualClock;

use crate::runtime::delivery::{Delivery, LEASE};
use crate::runtime::engine::Engine;
use crate::runtime::flow_cache::FlowCache;
use crate::store::bench as bench_store;
use crate::store::flows as flow_store;
use crate::store::{journal, outbox};

const FLOW: &str = r#"{"format": "cairn.flow/v1", "name": "Bench", "nodes": [
  {"id": "start", "type": "webhook_entry"},
  {"id": "tag", "type": "add_tag", "tag": "bench"},
  {"id": "wait", "type": "wait", "duration": "1h"},
  {"id": "mail", "type": "send_email", "subject": "Hello {{contact.first_name}}", "html": "<p>Hi {{contact.first_name}}</p>"},
  {"id": "done", "type": "exit"}],
  "edges": [{"from": "start", "to": "tag"}, {"from": "tag", "to": "wait"}, {"from": "wait", "to": "mail"},
            {"from": "mail", "to": "done"}]}"#;

/// The figures printed as the last line.
#[derive(Debug, Serialize)]
pub struct EngineFigures {
    pub contacts: u64,
    pub transitions: u64,
    /// The engine's time: first step to last exit (entry and delivery excluded).
    pub seconds: f64,
    pub transitions_per_s: f64,
    /// Plain batched row inserts per second into the same SQLite file.
    pub ceiling_per_s: f64,
    pub ratio: f64,
    pub peak_rss_mb: f64,
    /// Bulk entry of the contacts and their tokens (not in `seconds`).
    pub enter_seconds: f64,
    /// Delivery of the queued emails to the `outbox` provider after the engine, in this
    /// process (not in `seconds`).
    pub delivery_seconds: f64,
    pub batch: u64,
}

pub async fn engine(contacts: u64, batch: u64, dir: &std::path::Path) -> anyhow::Result<EngineFigures> {
    let path = dir.join(format!("cairn-bench-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let db = crate::db::connect(&crate::db::sqlite_url(&path)).await?;
    let start: DateTime<Utc> = "2026-12-30T08:00:00Z".parse()?;
    let clock = ManualClock::new(start);

    let flow = flows::CompiledFlow::from_json(FLOW).map_err(|p| anyhow::anyhow!("{p}"))?;
    let text = serde_json::to_string(flow.definition())?;
    let flow_id = flow_store::create(&db, "Bench", &text, start).await?;
    flow_store::set_status(&db, flow_id, true, start).await?;

    let entered = Instant::now();
    enter_all(&db, flow_id, contacts, start).await?;
    let enter_seconds = entered.elapsed().as_secs_f64();
    eprintln!("entered {contacts} contacts in {enter_seconds:.2} s");

    let engine = Engine {
        db: db.clone(),
        clock: Arc::new(clock.clone()),
        flows: Arc::new(FlowCache::default()),
        policy: crate::send_policy::SendPolicy::default_policy(),
        wake: Arc::new(Notify::new()),
        delivery: Arc::new(Notify::new()),
        batch,
        // With the queues of the embedded default, no delivery takes messages in memory.
        handoff: None,
    };
    let providers = Arc::new(workers::providers::Providers::new(
        &workers::providers::ProviderConfig::default(),
    )?);
    let delivery = Delivery {
        db: db.clone(),
        clock: Arc::new(clock.clone()),
        providers,
        tracker: None,
        wake: Arc::new(Notify::new()),
        batch,
        lease: LEASE,
        queues: None,
        throttle: workers::throttle::Throttle::local(),
        in_flight: Arc::default(),
        handoff: None,
    };
    let timer = Instant::now();
    engine.drain().await?;
    eprintln!("first steps (enter, tag, wait): {:.2} s", timer.elapsed().as_secs_f64());
    clock.advance(TimeDelta::hours(1));
    let second = Instant::now();
    engine.drain().await?;
    eprintln!("second steps (send, exit): {:.2} s", second.elapsed().as_secs_f64());
    let seconds = timer.elapsed().as_secs_f64();
    let delivered = Instant::now();
    delivery.drain().await?;
    let delivery_seconds = delivered.elapsed().as_secs_f64();
    eprintln!("delivery of the {contacts} emails to the outbox provider, after the engine: {delivery_seconds:.2} s");
    let sent = outbox::count_sent(&db).await?;
    anyhow::ensure!(sent == contacts, "expected {contacts} messages sent, found {sent}");

    let transitions = journal::journal_lines(&db).await?;
    let expected = contacts * 5;
    anyhow::ensure!(
        transitions as u64 == expected,
        "expected {expected} journal lines, found {transitions}"
    );
    let ceiling_per_s = ceiling(&db, transitions as u64, batch).await?;
    db.close().await?;
    let _ = std::fs::remove_file(&path);
    for suffix in ["-wal", "-shm", "-engine"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let transitions_per_s = transitions as f64 / seconds;
    Ok(EngineFigures {
        contacts,
        transitions: transitions as u64,
        seconds,
        transitions_per_s,
        ceiling_per_s,
        ratio: transitions_per_s / ceiling_per_s,
        peak_rss_mb: super::peak_rss_mb(),
        enter_seconds,
        delivery_seconds,
        batch,
    })
}

/// Contacts and their tokens at the entry node, due at `now`, in transactions of 10 000.
async fn enter_all(db: &DatabaseConnection, flow_id: i64, contacts: u64, now: DateTime<Utc>) -> anyhow::Result<()> {
    let chunk = 10_000;
    let mut first = 0;
    while first < contacts {
        let last = (first + chunk).min(contacts);
        let tx = crate::db::begin_write(db).await?;
        bench_store::enter_contacts(&tx, flow_id, first..last, now).await?;
        tx.commit().await?;
        first = last;
    }
    Ok(())
}

/// Rows per second for plain batched inserts of journal-sized rows into the same database.
async fn ceiling(db: &DatabaseConnection, rows: u64, batch: u64) -> anyhow::Result<f64> {
    bench_store::create_ceiling(db).await?;
    let timer = Instant::now();
    let mut written = 0;
    while written < rows {
        let n = batch.min(rows - written);
        let tx = crate::db::begin_write(db).await?;
        bench_store::insert_ceiling(&tx, written..written + n).await?;
        tx.commit().await?;
        written += n;
    }
    Ok(rows as f64 / timer.elapsed().as_secs_f64())
}
