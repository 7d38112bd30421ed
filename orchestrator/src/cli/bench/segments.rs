//! `cairn bench segments`: "Load contacts" over N contacts on the embedded default, with the
//! same questions asked as plain SQL of the same database in the same run.
//!
//! The data: N contacts with ~20 of 200 tags each (dates over a year, counts 1–5), 5 lists,
//! 0–3 contract records and 0–3 emails sent in the last 30 days (see
//! [`crate::store::bench::segment_data`]). The questions, each answered as the API answers
//! `POST /api/segments/preview` (count and the first 50 contacts with their facts):
//! - Q1: tagged `t007` and not in `customers`;
//! - Q2: `t013` last added within 30 days, at least twice, and an email opened within 7 days;
//! - Q3: an active contract ending within 30 days, and not in `customers`.
//!
//! Each is asked `runs` times (p50, p99), after the index is built; the baseline is the median
//! of 5 runs of the plain SQL (count, then the first 50), whose answer must be the same.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::clock::ManualClock;
use crate::runtime::flow_cache::FlowCache;
use crate::runtime::segments::Segments;
use crate::service::Services;
use crate::store::bench as bench_store;

/// One question's figures.
#[derive(Debug, Serialize)]
pub struct QueryFigures {
    pub name: &'static str,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Contacts the postings left for the evaluator.
    pub evaluated: u64,
    pub baseline_ms: f64,
}

/// The figures printed as the last line.
#[derive(Debug, Serialize)]
pub struct SegmentFigures {
    pub contacts: u64,
    pub queries: Vec<QueryFigures>,
    /// Writing the data.
    pub build_seconds: f64,
    /// Building the index from the database.
    pub index_seconds: f64,
    pub peak_rss_mb: f64,
}

fn questions() -> [(&'static str, Value); 3] {
    let not_customer = json!({"not": {"in_list": "customers"}});
    [
        ("Q1", json!({"all": [{"has_tag": "t007"}, not_customer]})),
        (
            "Q2",
            json!({"all": [
                {"tag": {"name": "t013", "last_added": {"within": "30d"}, "count": {"gte": 2}}},
                {"message": {"event": "opened", "channel": "email", "when": {"within": "7d"}}}
            ]}),
        ),
        (
            "Q3",
            json!({"all": [
                {"records": {"type": "contract", "any": {"all": [
                    {"field": {"path": "status", "op": "eq", "value": "active"}},
                    {"field": {"path": "end_date", "op": "within_next", "value": "30d"}}
                ]}}},
                not_customer
            ]}),
        ),
    ]
}

pub async fn run(contacts: u64, runs: usize, dir: &std::path::Path) -> anyhow::Result<SegmentFigures> {
    let path = dir.join(format!("cairn-bench-segments-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let result = measure(contacts, runs, &path).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

async fn measure(contacts: u64, runs: usize, path: &std::path::Path) -> anyhow::Result<SegmentFigures> {
    let db = crate::db::connect(&crate::db::sqlite_url(path)).await?;
    // Not midnight, so that dates in records are never exactly "now".
    let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse()?;
    let flow_id = crate::store::flows::create(&db, "Newsletter", "{}", now).await?;

    let timer = Instant::now();
    let chunk = 5_000;
    let mut first = 1;
    while first <= contacts {
        let last = (first + chunk).min(contacts + 1);
        let tx = crate::db::begin_write(&db).await?;
        bench_store::segment_data(&tx, flow_id, first..last, now).await?;
        tx.commit().await?;
        first = last;
        if first % 100_000 < chunk {
            eprintln!("wrote {} contacts in {:.1} s", first - 1, timer.elapsed().as_secs_f64());
        }
    }
    bench_store::clear_changes(&db).await?;
    let build_seconds = timer.elapsed().as_secs_f64();

    let services = Services {
        db: db.clone(),
        clock: Arc::new(ManualClock::new(now)),
        flows: Arc::new(FlowCache::default()),
        policy: crate::send_policy::SendPolicy::default_policy(),
        engine: Arc::new(Notify::new()),
        scheduler: Arc::new(Notify::new()),
        segments: Segments::default(),
    };
    let timer = Instant::now();
    services.segments.catch_up(&db).await?;
    let index_seconds = timer.elapsed().as_secs_f64();
    eprintln!("data written in {build_seconds:.1} s; index built in {index_seconds:.1} s");

    let mut queries = Vec::new();
    for (name, condition) in questions() {
        let mut times = Vec::with_capacity(runs);
        let mut last = None;
        for _ in 0..runs.max(1) {
            let timer = Instant::now();
            let preview = crate::service::segments::preview(&services, condition.clone(), 50).await?;
            times.push(timer.elapsed().as_secs_f64() * 1000.0);
            last = Some(preview);
        }
        let preview = last.expect("at least one run");
        let mut baseline = Vec::new();
        let mut sql_answer = (0, Vec::new());
        for _ in 0..5 {
            let timer = Instant::now();
            sql_answer = bench_store::baseline(&db, name, now).await?;
            baseline.push(timer.elapsed().as_secs_f64() * 1000.0);
        }
        let shown: Vec<i64> = preview
            .contacts
            .iter()
            .filter_map(|c| c["id"].as_str()?.strip_prefix('c')?.parse().ok())
            .collect();
        anyhow::ensure!(
            (preview.count, &shown) == (sql_answer.0, &sql_answer.1),
            "{name}: the index found {} ({:?}…), plain SQL {} ({:?}…)",
            preview.count,
            shown.iter().take(5).collect::<Vec<_>>(),
            sql_answer.0,
            sql_answer.1.iter().take(5).collect::<Vec<_>>()
        );
        let figures = QueryFigures {
            name,
            count: preview.count,
            p50_ms: percentile(&mut times, 0.50),
            p99_ms: percentile(&mut times, 0.99),
            evaluated: preview.evaluated,
            baseline_ms: percentile(&mut baseline, 0.50),
        };
        eprintln!(
            "{name}: {} contacts; p50 {:.1} ms, p99 {:.1} ms ({} evaluated); plain SQL {:.1} ms",
            figures.count, figures.p50_ms, figures.p99_ms, figures.evaluated, figures.baseline_ms
        );
        queries.push(figures);
    }
    Ok(SegmentFigures {
        contacts,
        queries,
        build_seconds,
        index_seconds,
        peak_rss_mb: super::peak_rss_mb(),
    })
}

fn percentile(times: &mut [f64], p: f64) -> f64 {
    times.sort_by(f64::total_cmp);
    let i = ((times.len() as f64 - 1.0) * p).round() as usize;
    times[i.min(times.len() - 1)]
}
