//! The embedded queues deliver work to idle workers promptly: a job pushed while every worker
//! sleeps is sent, and its outcome comes back, within two seconds, every time, whatever phase of its polling the push meets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flows::{Channel, Content, Outbound};
use tokio::sync::mpsc;
use workers::jobs::{OutcomeJob, SendJob};
use workers::providers::{ProviderConfig, Providers};
use workers::queues::{OutcomeSink, Queues, SendDeps};

struct Forward(mpsc::UnboundedSender<OutcomeJob>);

impl OutcomeSink for Forward {
    fn record(
        &self,
        job: OutcomeJob,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        let sent = self.0.send(job).map_err(|e| e.to_string());
        Box::pin(async move { sent })
    }
}

fn job(n: i64) -> SendJob {
    SendJob {
        outbox_id: n,
        attempts: 0,
        token_id: n,
        contact_id: n,
        contact: format!("c{n}"),
        flow_id: 1,
        message: Outbound {
            id: format!("{n}.text"),
            node: "text".into(),
            channel: Channel::Sms,
            to: "+3725550000".into(),
            content: Content::Sms { text: "hi".into() },
            guard: None,
        },
        leased_until: chrono::DateTime::<chrono::Utc>::MAX_UTC,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_workers_pick_up_every_new_job_within_two_seconds() {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("cairn-queues-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("queues.db").display());
    let pool = apalis_sqlite::SqlitePool::connect(&url).await.unwrap();
    let queues = Queues::sqlite(&pool).await.unwrap();
    let providers = Arc::new(Providers::new(&ProviderConfig::default()).unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let (outcomes, mut received) = mpsc::unbounded_channel();
    let senders = tokio::spawn({
        let queues = queues.clone();
        let shutdown = until_stopped(stopped.clone());
        let deps = SendDeps {
            providers,
            throttle: queues.throttle(),
            now: Arc::new(chrono::Utc::now),
        };
        async move { queues.run_senders(deps, shutdown).await }
    });
    let recorder = tokio::spawn({
        let queues = queues.clone();
        let shutdown = until_stopped(stopped.clone());
        async move { queues.run_outcomes(Arc::new(Forward(outcomes)), shutdown).await }
    });

    for n in 1..=20 {
        // Gaps of 0.05 to 0.7 s: the worker meets each push in another phase of its polling.
        tokio::time::sleep(Duration::from_millis(50 + (n as u64 * 137) % 650)).await;
        let pushed = Instant::now();
        queues.push_sends(vec![job(n)]).await.unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(2), received.recv())
            .await
            .unwrap_or_else(|_| panic!("job {n} was still waiting after 2 s"))
            .unwrap();
        assert_eq!(outcome.job.outbox_id, n);
        assert!(pushed.elapsed() < Duration::from_secs(2));
    }
    stop.send(true).unwrap();
    senders.await.unwrap().unwrap();
    recorder.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
