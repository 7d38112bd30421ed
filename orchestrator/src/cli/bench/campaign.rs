//! `cairn bench campaign`: one scheduled run of a campaign on the embedded default, from
//! activation to the last message accepted.
//!
//! N contacts all match a saved segment of two conditions (tagged `pricing` within 7 days, not
//! in the list `customers`). A flow `segment_entry (the segment, daily at 10:00 UTC) →
//! send_email → exit` is activated at 10:00 on a clock that stands still, and the service's own
//! loops run as `cairn serve` runs them: the scheduler creates the run and admits it, the
//! engine steps the journeys, delivery sends each email to the `outbox` provider (in process,
//! as `cairn serve` does by default, or through the apalis-sqlite queues with `--delivery
//! queues`). The figures are instants from
//! the activation: the run recorded as admitted, the last journey finished, the last message
//! accepted. The segment index is built when the service starts (as `cairn serve` does); its
//! time is printed apart. The baseline is the rate at which the same SQLite file takes N plain
//! token-sized rows in batched transactions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::app::{App, QueueMode, ServeConfig};
use crate::clock::ManualClock;
use crate::store::bench as bench_store;

/// The figures printed as the last line.
#[derive(Debug, Serialize)]
pub struct CampaignFigures {
    pub contacts: u64,
    /// `inline` (in process, the embedded default) or `queues` (apalis-sqlite).
    pub delivery: &'static str,
    /// Activation → the run recorded as admitted (every journey entered).
    pub admission_seconds: f64,
    /// Activation → the last journey finished (the engine runs while admission goes on).
    pub engine_done_seconds: f64,
    /// Activation → the last message accepted by the provider: the whole campaign.
    pub whole_seconds: f64,
    pub admitted_per_s: f64,
    /// Plain batched inserts of N token-sized rows into the same file, per second.
    pub baseline_rows_per_s: f64,
    /// The segment index built at start (not in the campaign's time).
    pub index_seconds: f64,
    /// Writing the benchmark's contacts (not in the campaign's time).
    pub data_seconds: f64,
    pub peak_rss_mb: f64,
}

/// Which delivery the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeliveryMode {
    /// apalis queues in the SQLite file, in-process workers.
    Queues,
    /// Sends from the outbox in this process, handed over in memory.
    Inline,
}

pub async fn run(contacts: u64, delivery: DeliveryMode, dir: &std::path::Path) -> anyhow::Result<CampaignFigures> {
    let path = dir.join(format!("cairn-bench-campaign-{}.db", std::process::id()));
    remove(&path);
    let url = crate::db::sqlite_url(&path);
    let db = crate::db::connect(&url).await?;
    let now: DateTime<Utc> = "2026-12-30T10:00:00Z".parse()?;

    let written = Instant::now();
    let chunk = 10_000;
    let mut first = 0;
    while first < contacts {
        let last = (first + chunk).min(contacts);
        let tx = crate::db::begin_write(&db).await?;
        bench_store::campaign_data(&tx, first..last, now).await?;
        tx.commit().await?;
        first = last;
    }
    bench_store::clear_changes(&db).await?;
    let data_seconds = written.elapsed().as_secs_f64();
    eprintln!("wrote {contacts} contacts in {data_seconds:.1} s");
    let baseline_rows_per_s = baseline(&db, contacts).await?;

    let clock = ManualClock::new(now);
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse()?,
        database_url: url,
        policy: flows::Policy::default(),
        policy_source: None,
        background: true,
        providers: workers::providers::ProviderConfig::default(),
        public_url: None,
        allowed_hosts: Vec::new(),
        secret: Some("bench".into()),
        delivery_lease: crate::runtime::delivery::LEASE,
        queues: match delivery {
            DeliveryMode::Queues => QueueMode::Embedded,
            DeliveryMode::Inline => QueueMode::Inline,
        },
        api_token: None,
        admin: None,
        http: crate::http::server::HttpLimits::default(),
    };
    let app = App::start_with(config, Arc::new(clock), db.clone()).await?;
    let s = app.state.services.clone();
    let indexed = Instant::now();
    s.segments.catch_up(&db).await?;
    let index_seconds = indexed.elapsed().as_secs_f64();
    eprintln!("segment index built in {index_seconds:.1} s");

    let draft = crate::service::segments::Draft {
        name: "interested".into(),
        condition: json!({"all": [
            {"tag": {"name": "pricing", "last_added": {"within": "7d"}}},
            {"not": {"in_list": "customers"}}
        ]}),
        description: None,
    };
    crate::service::segments::create(&s, draft).await?;
    let flow = json!({
        "format": "cairn.flow/v1", "name": "Offer", "reentry": "never",
        "nodes": [
            {"id": "interested", "type": "segment_entry", "segments": ["interested"],
             "schedule": {"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "UTC"}},
            {"id": "offer", "type": "send_email", "subject": "Our prices, {{ contact.first_name }}",
             "html": "<p>Hi {{ contact.first_name }}, here is 10% off.</p>"},
            {"id": "done", "type": "exit"}
        ],
        "edges": [{"from": "interested", "to": "offer"}, {"from": "offer", "to": "done"}]
    });
    let flow_id = crate::service::flows::create(&s, flow).await?;

    let started = Instant::now();
    crate::service::flows::activate(&s, &flow_id.to_string()).await?;
    let (mut admitted, mut finished) = (None, None);
    let whole = loop {
        let progress = bench_store::campaign_progress(&db, flow_id, false).await?;
        let t = started.elapsed().as_secs_f64();
        if admitted.is_none() && progress.run_done {
            eprintln!("run admitted at {t:.1} s");
            admitted = Some(t);
        }
        if finished.is_none() && progress.finished >= contacts {
            eprintln!("last journey finished at {t:.1} s");
            finished = Some(t);
        }
        if progress.sent >= contacts {
            break t;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3600),
            "the campaign did not finish within an hour"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("last message accepted at {whole:.1} s");
    let progress = bench_store::campaign_progress(&db, flow_id, true).await?;
    anyhow::ensure!(
        progress.sent == contacts && progress.tokens == contacts,
        "expected {contacts} journeys and messages, found {} and {}",
        progress.tokens,
        progress.sent
    );
    app.stop().await;
    db.close().await?;
    remove(&path);
    let admission_seconds = admitted.unwrap_or(whole);
    Ok(CampaignFigures {
        contacts,
        delivery: match delivery {
            DeliveryMode::Queues => "queues",
            DeliveryMode::Inline => "inline",
        },
        admission_seconds,
        engine_done_seconds: finished.unwrap_or(whole),
        whole_seconds: whole,
        admitted_per_s: contacts as f64 / admission_seconds,
        baseline_rows_per_s,
        index_seconds,
        data_seconds,
        peak_rss_mb: super::peak_rss_mb(),
    })
}

/// Rows per second for plain batched inserts of `rows` token-sized rows into the same file.
async fn baseline(db: &sea_orm::DatabaseConnection, rows: u64) -> anyhow::Result<f64> {
    bench_store::create_ceiling(db).await?;
    let timer = Instant::now();
    let mut written = 0;
    while written < rows {
        let n = 5000.min(rows - written);
        let tx = crate::db::begin_write(db).await?;
        bench_store::insert_ceiling(&tx, written..written + n).await?;
        tx.commit().await?;
        written += n;
    }
    let per_s = rows as f64 / timer.elapsed().as_secs_f64();
    bench_store::drop_ceiling(db).await?;
    Ok(per_s)
}

fn remove(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
