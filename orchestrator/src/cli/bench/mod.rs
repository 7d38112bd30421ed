//! `cairn bench …`: benchmarks anyone can run; each prints its figures.
//!
//! - [`engine`]: journeys through the engine and delivery on the embedded default.
//! - [`campaign`]: one scheduled run of a campaign, activation to the last message accepted.
//! - [`import`]: contact imports with tags and lists from a CSV file.
//! - [`throttle`]: the Redis throttle shared by several workers.
//! - [`segments`]: "Load contacts" over many contacts, against plain SQL.

pub mod campaign;
pub mod engine;
pub mod import;
pub mod segments;
pub mod throttle;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::CliError;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// N contacts through entry → add_tag → wait 1h → send_email → exit on a fresh SQLite file.
    Engine {
        #[arg(long, default_value_t = 100_000)]
        contacts: u64,
        /// Tokens per engine transaction.
        #[arg(long, default_value_t = 1000)]
        batch: u64,
        /// Where the temporary database goes.
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        dir: PathBuf,
    },
    /// N contacts matching a saved segment of two conditions; one scheduled run of a campaign
    /// sending each an email, from activation to the last message accepted, on a fresh SQLite file.
    Campaign {
        #[arg(long, default_value_t = 100_000)]
        contacts: u64,
        /// `inline` (in process, as `cairn serve` sends by default) or `queues` (apalis-sqlite,
        /// as with `--sqlite-queues`).
        #[arg(long, value_enum, default_value_t = campaign::DeliveryMode::Inline)]
        delivery: campaign::DeliveryMode,
        /// Where the temporary database goes.
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        dir: PathBuf,
    },
    /// N contacts with tag histories, lists, contracts and sent emails; three segment questions
    /// answered as `POST /api/segments/preview` answers them, and as plain SQL.
    Segments {
        #[arg(long, default_value_t = 100_000)]
        contacts: u64,
        /// Times each question is asked.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Where the temporary database goes.
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        dir: PathBuf,
    },
    /// N contacts with two tags and a list each imported from a CSV file into a fresh SQLite
    /// file, then again (unchanged), beside plain batched inserts of the same rows.
    Import {
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        /// Where the temporary files go.
        #[arg(long, default_value_os_t = std::env::temp_dir())]
        dir: PathBuf,
    },
    /// M SMS through a throttle of R per second from K senders (K processes sharing Redis when
    /// REDIS_URL is set, else K tasks in this process), to the outbox provider.
    Throttle {
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 60_000)]
        messages: u64,
        #[arg(long, default_value_t = 4)]
        workers: u32,
        #[arg(long, env = "REDIS_URL", hide_env_values = true)]
        redis_url: Option<String>,
    },
    /// One sender process of `bench throttle` on Redis; prints acceptance times (Unix ns).
    #[command(hide = true)]
    ThrottleWorker {
        #[arg(long)]
        key: String,
        #[arg(long)]
        rate: u32,
        #[arg(long)]
        messages: u64,
        #[arg(long, env = "REDIS_URL", hide_env_values = true)]
        redis_url: String,
    },
}

pub fn engine_command(contacts: u64, batch: u64, dir: &Path) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    let figures = runtime
        .block_on(crate::cli::bench::engine::engine(contacts, batch.max(1), dir))
        .map_err(|e| CliError::Argument {
            message: format!("benchmark failed: {e:#}"),
        })?;
    println!("{}", serde_json::to_string(&figures).map_err(io::Error::other)?);
    Ok(())
}

pub fn campaign_command(contacts: u64, delivery: campaign::DeliveryMode, dir: &Path) -> Result<(), CliError> {
    // The service's own logs (each run's wave with its timings) when asked for.
    if std::env::var_os("RUST_LOG").is_some() {
        crate::cli::serve::init_logging();
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let figures = runtime
        .block_on(campaign::run(contacts, delivery, dir))
        .map_err(|e| CliError::Argument {
            message: format!("benchmark failed: {e:#}"),
        })?;
    eprintln!(
        "baseline (plain batched inserts of {contacts} token-sized rows): {:.0} rows/s; admission: {:.0} journeys/s",
        figures.baseline_rows_per_s, figures.admitted_per_s
    );
    println!("{}", serde_json::to_string(&figures).map_err(io::Error::other)?);
    Ok(())
}

pub fn segments_command(contacts: u64, runs: usize, dir: &Path) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    let figures = runtime
        .block_on(segments::run(contacts, runs, dir))
        .map_err(|e| CliError::Argument {
            message: format!("benchmark failed: {e:#}"),
        })?;
    println!("{}", serde_json::to_string(&figures).map_err(io::Error::other)?);
    Ok(())
}

pub fn import_command(rows: u64, dir: &Path) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    let figures = runtime
        .block_on(crate::cli::bench::import::import(rows, dir))
        .map_err(|e| CliError::Argument {
            message: format!("benchmark failed: {e:#}"),
        })?;
    eprintln!(
        "baseline (plain batched inserts of the same rows): {:.0} contacts/s; import: {:.0} rows/s",
        figures.ceiling_per_s, figures.rows_per_s
    );
    println!("{}", serde_json::to_string(&figures).map_err(io::Error::other)?);
    Ok(())
}

pub fn throttle_command(b: throttle::ThrottleBench) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    let figures = runtime
        .block_on(crate::cli::bench::throttle::run(b))
        .map_err(|e| CliError::Argument {
            message: format!("benchmark failed: {e:#}"),
        })?;
    eprintln!(
        "baseline without a throttle: {:.0} messages/s; throttled: {} messages in {:.2} s",
        figures.unthrottled_per_s, figures.messages, figures.seconds
    );
    println!("{}", serde_json::to_string(&figures).map_err(io::Error::other)?);
    Ok(())
}

pub fn throttle_worker(
    redis_url: &str,
    key: &str,
    rate: u32,
    messages: u64,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    let stamps = runtime
        .block_on(crate::cli::bench::throttle::worker(redis_url, key, rate, messages))
        .map_err(|e| CliError::Argument {
            message: format!("throttle worker failed: {e:#}"),
        })?;
    let mut w = io::BufWriter::new(out);
    for s in stamps {
        writeln!(w, "{s}")?;
    }
    w.flush()?;
    Ok(())
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}
