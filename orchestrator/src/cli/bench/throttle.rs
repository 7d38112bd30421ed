//! `cairn bench throttle`: how exactly and how fully a throttle is used.
//!
//! M SMS messages go to the `outbox` provider through the same [`workers::attempt::Attempt`] the
//! service uses, under a throttle of R per second, from K senders with 16 sends in flight each:
//! K tasks sharing an in-process schedule on the embedded default, or K separate processes
//! (`cairn bench throttle-worker`) sharing one schedule in Redis when `REDIS_URL` is set. Every
//! acceptance is timestamped (wall clock, one host); the figures are the largest number in any
//! sliding one-second window, the aligned seconds over the limit, and the utilisation
//! `(M − 1) / (R × span)`. The baseline, measured in the same run, is the same M messages
//! without a throttle.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use flows::policy::{Guard, Rate};
use flows::{Channel, Content, Outbound};
use futures::StreamExt;
use serde::Serialize;
use workers::providers::{Outcome, ProviderConfig, Providers};
use workers::throttle::Throttle;

/// Sends in flight per sender, as in a queue worker.
const IN_FLIGHT: usize = 16;

/// The figures printed as the last line.
#[derive(Debug, Serialize)]
pub struct ThrottleFigures {
    pub rate: u32,
    pub messages: u64,
    pub workers: u32,
    pub backend: &'static str,
    /// First to last acceptance.
    pub seconds: f64,
    pub max_in_any_second: u64,
    pub seconds_over_limit: u64,
    pub utilisation: f64,
    /// The same messages through the outbox provider without a throttle, per second.
    pub unthrottled_per_s: f64,
}

fn message(i: u64, key: &str, rate: u32) -> Outbound {
    Outbound {
        id: format!("{i}.bench"),
        node: "bench".into(),
        channel: Channel::Sms,
        to: "+37255551234".into(),
        content: Content::Sms { text: "bench".into() },
        guard: Some(Guard {
            zone: "UTC".into(),
            window: None,
            closed: Default::default(),
            throttles: vec![(
                key.to_string(),
                Rate {
                    max: rate,
                    per: flows::Duration::from_seconds(1),
                },
            )],
        }),
    }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Sends `count` messages under the throttle; returns each acceptance time (Unix ns).
pub async fn send(throttle: &Throttle, key: &str, rate: u32, count: u64) -> anyhow::Result<Vec<u128>> {
    let providers = Arc::new(Providers::new(&ProviderConfig::default())?);
    let stamps = futures::stream::iter(0..count)
        .map(|i| {
            let (providers, throttle) = (providers.clone(), throttle.clone());
            let m = message(i, key, rate);
            async move {
                let now = Utc::now;
                let attempt = workers::attempt::Attempt {
                    providers: &providers,
                    throttle: &throttle,
                    now: &now,
                };
                loop {
                    // The bench holds no outbox rows: a lease that never runs out.
                    match attempt.run(&m, chrono::DateTime::<Utc>::MAX_UTC).await {
                        Outcome::Accepted { .. } => return Ok(unix_nanos()),
                        Outcome::Throttled { until } => {
                            let wait = (until - Utc::now()).to_std().unwrap_or_default();
                            tokio::time::sleep(wait.min(Duration::from_millis(50))).await;
                        }
                        other => anyhow::bail!("unexpected outcome {other:?}"),
                    }
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<anyhow::Result<u128>>>()
        .await;
    stamps.into_iter().collect()
}

/// The sliding-window maximum, the aligned seconds over `rate`, and the span in seconds.
pub fn measure(stamps: &mut [u128], rate: u32) -> (u64, u64, f64) {
    stamps.sort_unstable();
    let second = 1_000_000_000u128;
    let mut max = 0;
    let mut j = 0;
    for i in 0..stamps.len() {
        while j < stamps.len() && stamps[j] < stamps[i] + second {
            j += 1;
        }
        max = max.max((j - i) as u64);
    }
    let first = stamps.first().copied().unwrap_or(0);
    let mut buckets = std::collections::BTreeMap::<u128, u64>::new();
    for s in stamps.iter() {
        *buckets.entry((s - first) / second).or_default() += 1;
    }
    let over = buckets.values().filter(|&&n| n > u64::from(rate)).count() as u64;
    let span = stamps.last().map_or(0.0, |l| (l - first) as f64 / 1e9);
    (max, over, span)
}

pub struct ThrottleBench {
    pub rate: u32,
    pub messages: u64,
    pub workers: u32,
    pub redis_url: Option<String>,
}

pub async fn run(b: ThrottleBench) -> anyhow::Result<ThrottleFigures> {
    anyhow::ensure!(
        b.rate > 0 && b.messages > 0 && b.workers > 0,
        "rate, messages and workers must be > 0"
    );
    // Baseline: the same sends without a throttle.
    let providers = Providers::new(&ProviderConfig::default())?;
    let timer = Instant::now();
    for i in 0..b.messages {
        let mut m = message(i, "", b.rate);
        m.guard = None;
        providers.send(&m).await;
    }
    let unthrottled_per_s = b.messages as f64 / timer.elapsed().as_secs_f64().max(1e-9);

    let key = format!("bench:{}:{}", std::process::id(), unix_nanos());
    let share =
        |w: u32| b.messages / u64::from(b.workers) + u64::from(u64::from(w) < b.messages % u64::from(b.workers));
    let mut stamps: Vec<u128> = Vec::with_capacity(b.messages as usize);
    let backend = match &b.redis_url {
        None => {
            let throttle = Throttle::local();
            let mut tasks = tokio::task::JoinSet::new();
            for w in 0..b.workers {
                let (throttle, key, rate, n) = (throttle.clone(), key.clone(), b.rate, share(w));
                tasks.spawn(async move { send(&throttle, &key, rate, n).await });
            }
            while let Some(done) = tasks.join_next().await {
                stamps.extend(done??);
            }
            "embedded"
        }
        Some(url) => {
            let exe = std::env::current_exe()?;
            let mut children = Vec::new();
            for w in 0..b.workers {
                let child = tokio::process::Command::new(&exe)
                    .args(["bench", "throttle-worker", "--key", &key])
                    .args(["--rate", &b.rate.to_string(), "--messages", &share(w).to_string()])
                    .env("REDIS_URL", url)
                    .stdout(std::process::Stdio::piped())
                    .spawn()?;
                children.push(child);
            }
            for child in children {
                let out = child.wait_with_output().await?;
                anyhow::ensure!(out.status.success(), "a throttle worker failed: {}", out.status);
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    stamps.push(line.trim().parse()?);
                }
            }
            "redis"
        }
    };
    anyhow::ensure!(
        stamps.len() as u64 == b.messages,
        "{} of {} messages accepted",
        stamps.len(),
        b.messages
    );
    let (max_in_any_second, seconds_over_limit, seconds) = measure(&mut stamps, b.rate);
    let utilisation = if seconds > 0.0 {
        (b.messages - 1) as f64 / (f64::from(b.rate) * seconds)
    } else {
        1.0
    };
    Ok(ThrottleFigures {
        rate: b.rate,
        messages: b.messages,
        workers: b.workers,
        backend,
        seconds,
        max_in_any_second,
        seconds_over_limit,
        utilisation,
        unthrottled_per_s,
    })
}

/// One `throttle-worker` process: sends its share through Redis, prints each acceptance time.
pub async fn worker(redis_url: &str, key: &str, rate: u32, messages: u64) -> anyhow::Result<Vec<u128>> {
    let queues = workers::queues::Queues::redis(redis_url).await?;
    send(&queues.throttle(), key, rate, messages).await
}

#[cfg(test)]
mod tests {
    use super::measure;

    #[test]
    fn the_sliding_window_counts_sends_less_than_a_second_apart() {
        let s = 1_000_000_000u128;
        let mut stamps = vec![0, s / 2, s - 1, s, s + s / 2, 3 * s];
        let (max, over, span) = measure(&mut stamps, 2);
        assert_eq!(max, 3, "0, 0.5 and 0.999999999 s");
        assert_eq!(over, 1, "the first aligned second has 3");
        assert_eq!(span, 3.0);
    }
}
