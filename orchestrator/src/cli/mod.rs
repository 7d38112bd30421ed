//! The `cairn` command line: argument types and the commands. Commands that run without the
//! service (`flows validate`, `flows schema`, `simulate`, `import`, `export`) write to the writers
//! they are given, so tests run them in-process.
//!
//! - [`serve`]: `cairn serve` and `cairn worker`; [`simulate`]: `cairn simulate`;
//!   [`flows`]: `cairn flows validate|schema`; [`bench`]: `cairn bench …`; [`demo`]: the
//!   sample data of `cairn serve --demo`; [`transfer`]: `cairn import contacts`, `cairn export
//!   contacts`; [`import_records`]: `cairn import records`.

pub mod bench;
pub mod demo;
pub mod flows;
pub mod import_records;
pub mod serve;
pub mod simulate;
pub mod transfer;

use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use ::flows::Policy;
use clap::{Parser, Subcommand};

pub use self::bench::BenchCommand;
pub use self::flows::{FlowsCommand, load_flow, schema, validate};
pub use self::serve::{ProviderArgs, ServeArgs, WorkerArgs};
pub use self::simulate::{DEFAULT_HORIZON_DAYS, SimulateArgs, render_summary, simulate_files};
pub use self::transfer::{ExportCommand, ImportCommand};
use crate::service::import::ImportError;

#[derive(Debug, Parser)]
#[command(name = "cairn", version, about = "Cairn — journey orchestration for marketing teams")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `cairn openapi`: the document the web app's types are generated from.
fn openapi(out: &mut dyn Write) -> io::Result<()> {
    let document = <crate::http::docs::ApiDoc as utoipa::OpenApi>::openapi();
    let text = document.to_pretty_json().map_err(io::Error::other)?;
    writeln!(out, "{text}")
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP API, engine and delivery in one process.
    Serve(Box<ServeArgs>),
    /// Run send workers only, on the service's queues (Redis, or its SQLite file).
    Worker(WorkerArgs),
    /// Benchmarks; each prints its figures as JSON on its last line.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Work with flow files (cairn.flow/v1 JSON).
    #[command(subcommand)]
    Flows(FlowsCommand),
    /// Show what Cairn would do with a flow for a list of contacts, on a virtual clock.
    Simulate(SimulateArgs),
    /// Import into the database (contacts from CSV or NDJSON).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export from the database (contacts as CSV or NDJSON, to stdout).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Print the OpenAPI document of the HTTP API (what `/api/openapi.json` serves).
    Openapi,
}

/// Reads the policy file (if any) and applies a `--default-timezone` over it.
pub fn load_policy(path: Option<&Path>, default_timezone: Option<chrono_tz::Tz>) -> Result<Policy, CliError> {
    let mut policy = match path {
        None => Policy::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| CliError::Argument {
                message: format!("{}: cannot read: {e}", path.display()),
            })?;
            Policy::from_json(&text).map_err(|message| CliError::Argument {
                message: format!("{}: {message}", path.display()),
            })?
        }
    };
    if let Some(tz) = default_timezone {
        policy.default_timezone = tz;
    }
    Ok(policy)
}

/// Why a command failed; its `Display` is what the user sees, one problem per line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{}", prefix_lines(.file, .problems))]
    Flow { file: String, problems: ::flows::Problems },
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("{message}")]
    Argument { message: String },
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn prefix_lines(file: &str, problems: &::flows::Problems) -> String {
    problems
        .0
        .iter()
        .map(|p| format!("{file}: {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(*args).map(|()| 0),
        Command::Worker(args) => serve::worker(args).map(|()| 0),
        Command::Bench(BenchCommand::Engine { contacts, batch, dir }) => {
            bench::engine_command(contacts, batch, &dir).map(|()| 0)
        }
        Command::Bench(BenchCommand::Campaign {
            contacts,
            delivery,
            dir,
        }) => bench::campaign_command(contacts, delivery, &dir).map(|()| 0),
        Command::Bench(BenchCommand::Segments { contacts, runs, dir }) => {
            bench::segments_command(contacts, runs, &dir).map(|()| 0)
        }
        Command::Bench(BenchCommand::Import { rows, dir }) => bench::import_command(rows, &dir).map(|()| 0),
        Command::Bench(BenchCommand::Throttle {
            rate,
            messages,
            workers,
            redis_url,
        }) => bench::throttle_command(bench::throttle::ThrottleBench {
            rate,
            messages,
            workers,
            redis_url,
        })
        .map(|()| 0),
        Command::Bench(BenchCommand::ThrottleWorker {
            key,
            rate,
            messages,
            redis_url,
        }) => bench::throttle_worker(&redis_url, &key, rate, messages, &mut out).map(|()| 0),
        Command::Flows(FlowsCommand::Validate { files }) => validate(&files, &mut out)
            .map(|ok| if ok { 0 } else { 1 })
            .map_err(CliError::from),
        Command::Flows(FlowsCommand::Schema) => schema(&mut out).map(|()| 0).map_err(CliError::from),
        Command::Openapi => openapi(&mut out).map(|()| 0).map_err(CliError::from),
        Command::Import(ImportCommand::Contacts(args)) => {
            transfer::import_contacts(&args, &mut out).map(|all_in| if all_in { 0 } else { 1 })
        }
        Command::Import(ImportCommand::Records(args)) => {
            import_records::import_records(&args, &mut out).map(|all_in| if all_in { 0 } else { 1 })
        }
        Command::Export(ExportCommand::Contacts(args)) => transfer::export_contacts(&args, &mut out).map(|()| 0),
        Command::Simulate(args) => {
            let started = Instant::now();
            simulate_files(&args, &mut out).map(|summary| {
                eprint!("{}", render_summary(&summary, started.elapsed()));
                0
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(CliError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = out.flush();
            eprintln!("{e}");
            1
        }
    }
}
