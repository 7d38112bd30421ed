//! The `cairn` command line: argument types and the commands that run without the service
//! (`flows validate`, `flows schema`, `simulate`). Each command writes to the writers it is
//! given, so tests run them in-process.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use flows::simulate::{Scenario, Summary, simulate};
use flows::{CompiledFlow, Duration, Policy};

use crate::import::{ImportError, read_contacts, read_events};

#[derive(Debug, Parser)]
#[command(name = "cairn", version, about = "Cairn — journey orchestration for marketing teams")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP API, engine and delivery in one process.
    Serve(ServeArgs),
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
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CAIRN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Database: a SQLite file (default) or postgres://user:password@host/db.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://cairn.db?mode=rwc",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Zone for contacts whose zone comes from nowhere else (overrides the policy file's;
    /// default UTC).
    #[arg(long, env = "CAIRN_DEFAULT_TIMEZONE")]
    pub default_timezone: Option<chrono_tz::Tz>,
    /// Send policy file (JSON): windows, holidays, caps and throttles per channel, custom
    /// calendars. See README, "Send policy".
    #[arg(long, env = "CAIRN_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub providers: ProviderArgs,
    /// Queues in Redis (scale-out: run `cairn worker` processes too). Without it, the queues
    /// live in the SQLite file (apalis-sqlite); on PostgreSQL without Redis, each process
    /// delivers from the outbox directly.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Without Redis, deliver straight from the outbox in this process instead of through the
    /// apalis-sqlite queues in the SQLite file. Measured (`scripts/bench-queues.py 5000`):
    /// 10 000 messages of 5 000 journeys were all sent after 5.1–5.5 s, against 9.6–10.1 s
    /// through the queues; `cairn worker` processes then get nothing to do.
    #[arg(long, env = "CAIRN_DIRECT_DELIVERY")]
    pub direct_delivery: bool,
    /// Public base URL of this service, used in tracking links (default: http://<listen>).
    #[arg(long, env = "CAIRN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Host names the HTTP API answers to besides IP literals, localhost and the public URL's
    /// host: comma-separated (cairn.internal,cairn). Requests naming any other host get 421.
    #[arg(long, env = "CAIRN_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Key that signs tracking links (default: generated once, kept in the database).
    #[arg(long, env = "CAIRN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// How long a delivery process holds the messages it is sending; after a crash they are
    /// sent again (with the same message id) once it has passed.
    #[arg(long, env = "CAIRN_DELIVERY_LEASE", default_value = "90s")]
    pub delivery_lease: Duration,
    /// Require `Authorization: Bearer <token>` on /api/* (entries may be signed instead).
    #[arg(long, env = "CAIRN_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// On SIGTERM or Ctrl-C, how long to let running work finish before abandoning it
    /// (abandoned work is redone: transactions roll back, leases run out).
    #[arg(long, env = "CAIRN_SHUTDOWN_TIMEOUT", default_value = "10s")]
    pub shutdown_timeout: Duration,
    /// A request's headers must be complete within this, from the connection's opening or the
    /// first byte of a later request; slower connections are closed.
    #[arg(long, env = "CAIRN_HEADER_TIMEOUT", default_value = "10s")]
    pub header_timeout: Duration,
    /// From a request's complete headers to its response, reading the body included (408).
    #[arg(long, env = "CAIRN_REQUEST_TIMEOUT", default_value = "30s")]
    pub request_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    #[arg(long, env = "CAIRN_IDLE_TIMEOUT", default_value = "60s")]
    pub idle_timeout: Duration,
    /// How long a response being written may make no progress because the client reads
    /// nothing; then the connection is closed.
    #[arg(long, env = "CAIRN_WRITE_TIMEOUT", default_value = "30s")]
    pub write_timeout: Duration,
    /// Open connections at most; at the limit a new one replaces the connection that has
    /// waited longest without a request in flight.
    #[arg(long, env = "CAIRN_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Into an empty database, load the template journeys and 300 sample contacts.
    #[arg(long)]
    pub demo: bool,
}

/// Provider settings, shared by `serve` and `worker`.
#[derive(Debug, Args)]
pub struct ProviderArgs {
    /// SMTP server for email: smtp://host:port, smtp://user:pass@host:587?tls=required, smtps://…
    /// (default: the built-in outbox provider).
    #[arg(long, env = "CAIRN_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of emails whose node sets no `from`.
    #[arg(long, env = "CAIRN_EMAIL_FROM", default_value = "Cairn <cairn@localhost>")]
    pub email_from: String,
    /// HTTP endpoint of the SMS provider (default: the built-in outbox provider).
    #[arg(long, env = "CAIRN_SMS_URL")]
    pub sms_url: Option<String>,
    /// Bearer token for the SMS endpoint.
    #[arg(long, env = "CAIRN_SMS_TOKEN", hide_env_values = true)]
    pub sms_token: Option<String>,
    /// HTTP endpoint of the push provider (default: the built-in outbox provider).
    #[arg(long, env = "CAIRN_PUSH_URL")]
    pub push_url: Option<String>,
    /// Bearer token for the push endpoint.
    #[arg(long, env = "CAIRN_PUSH_TOKEN", hide_env_values = true)]
    pub push_token: Option<String>,
    /// Destinations `webhook` nodes may call although they are loopback, private, link-local
    /// or otherwise not public: comma-separated CIDRs (10.0.0.0/8) and host names
    /// (hooks.internal, allowed whatever it resolves to).
    #[arg(long, env = "CAIRN_WEBHOOK_ALLOW", default_value = "")]
    pub webhook_allow: workers::address::AllowList,
}

/// `cairn worker`: send workers only, on the same queues as the service.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Queues in Redis (the usual scale-out).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Without Redis: the service's SQLite file, whose queues this worker then shares.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://cairn.db?mode=rwc",
        hide_env_values = true
    )]
    pub database_url: String,
    /// The service's listen address: webhook nodes may not call it.
    #[arg(long, env = "CAIRN_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub providers: ProviderArgs,
}

impl ProviderArgs {
    pub fn providers(&self) -> workers::providers::ProviderConfig {
        use workers::providers::{HttpEndpoint, ProviderConfig};
        let endpoint = |url: &Option<String>, token: &Option<String>| {
            url.clone().map(|url| HttpEndpoint {
                url,
                token: token.clone(),
            })
        };
        ProviderConfig {
            smtp_url: self.smtp_url.clone(),
            email_from: self.email_from.clone(),
            sms: endpoint(&self.sms_url, &self.sms_token),
            push: endpoint(&self.push_url, &self.push_token),
            webhook: workers::address::Destinations {
                allow: self.webhook_allow.clone(),
                own: None,
            },
            ..ProviderConfig::default()
        }
    }
}

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

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Check flow files; prints `FILE: ok` or one line per problem, exits 1 if any is invalid.
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the cairn.flow/v1 format.
    Schema,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The flow file.
    #[arg(value_name = "FLOW")]
    pub flow: PathBuf,
    /// Contacts: CSV with a header, or NDJSON. Keys id, email, phone, timezone, country,
    /// tags, lists ("a;b" in CSV); any other becomes a contact field.
    #[arg(long, value_name = "FILE")]
    pub contacts: PathBuf,
    /// Events, NDJSON: {"at", "contact", "type", "message"?, "tag"?, "list"?, "data"?}.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Simulated start time, RFC 3339 (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub start: Option<DateTime<Utc>>,
    /// How long to simulate, e.g. 14d (default: until every journey ends, at most 90d).
    #[arg(long = "for", value_name = "DURATION")]
    pub span: Option<Duration>,
    /// Zone for contacts whose zone comes from nowhere else (overrides the policy file's).
    #[arg(long, value_name = "ZONE")]
    pub default_timezone: Option<chrono_tz::Tz>,
    /// Send policy file (JSON), as for `cairn serve --policy`.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
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

/// The longest a simulation runs without `--for`.
pub const DEFAULT_HORIZON_DAYS: i64 = 90;

/// Why a command failed; its `Display` is what the user sees, one problem per line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{}", prefix_lines(.file, .problems))]
    Flow { file: String, problems: flows::Problems },
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("{message}")]
    Argument { message: String },
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn prefix_lines(file: &str, problems: &flows::Problems) -> String {
    problems
        .0
        .iter()
        .map(|p| format!("{file}: {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and compiles a flow file.
pub fn load_flow(path: &Path) -> Result<CompiledFlow, CliError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Flow {
        file: file.clone(),
        problems: flows::Problem {
            node: None,
            field: None,
            message: format!("cannot read: {e}"),
            line: None,
            column: None,
        }
        .into(),
    })?;
    CompiledFlow::from_json(&text).map_err(|problems| CliError::Flow { file, problems })
}

/// `cairn flows validate`: returns whether every file is valid.
pub fn validate(files: &[PathBuf], out: &mut dyn Write) -> io::Result<bool> {
    let mut all_ok = true;
    for path in files {
        match load_flow(path) {
            Ok(_) => writeln!(out, "{}: ok", path.display())?,
            Err(e) => {
                all_ok = false;
                writeln!(out, "{e}")?;
            }
        }
    }
    Ok(all_ok)
}

/// `cairn flows schema`.
pub fn schema(out: &mut dyn Write) -> io::Result<()> {
    let text = serde_json::to_string_pretty(&flows::definition::json_schema()).map_err(io::Error::other)?;
    writeln!(out, "{text}")
}

/// `cairn simulate`: writes the journal as NDJSON to `out`, returns the summary.
pub fn simulate_files(args: &SimulateArgs, out: &mut dyn Write) -> Result<Summary, CliError> {
    let flow = load_flow(&args.flow)?;
    let contacts = read_contacts(&args.contacts)?;
    let start = args.start.unwrap_or_else(Utc::now);
    let span = args
        .span
        .map(Duration::to_chrono)
        .unwrap_or_else(|| chrono::TimeDelta::days(DEFAULT_HORIZON_DAYS));
    let end = start.checked_add_signed(span).ok_or_else(|| CliError::Argument {
        message: format!(
            "--start {} plus the simulated span is beyond the calendar chrono supports",
            start.to_rfc3339()
        ),
    })?;
    let events = match &args.events {
        Some(path) => {
            let events = read_events(path)?;
            check_events(path, &events, &contacts, start)?;
            events
        }
        None => Vec::new(),
    };
    let policy = load_policy(args.policy.as_deref(), args.default_timezone)?;
    policy.check_flow(&flow).map_err(|problems| CliError::Flow {
        file: args.flow.display().to_string(),
        problems,
    })?;
    let scenario = Scenario {
        contacts,
        events,
        start,
        end,
    };
    let mut writer = io::BufWriter::with_capacity(1 << 16, out);
    let mut failure: Option<io::Error> = None;
    let summary = simulate(&flow, &policy, scenario, &mut |entry| {
        if failure.is_none() {
            let result = serde_json::to_writer(&mut writer, entry)
                .map_err(io::Error::from)
                .and_then(|()| writer.write_all(b"\n"));
            if let Err(e) = result {
                failure = Some(e);
            }
        }
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    writer.flush()?;
    Ok(summary)
}

/// Events must name known contacts and happen no earlier than `start`.
fn check_events(
    path: &Path,
    events: &[flows::Event],
    contacts: &[flows::Contact],
    start: DateTime<Utc>,
) -> Result<(), CliError> {
    let known: HashSet<&str> = contacts.iter().map(|c| c.id.as_str()).collect();
    // Lines of non-blank events, to name them in errors.
    let text = std::fs::read_to_string(path)?;
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, _)| i as u64 + 1);
    let mut problems = Vec::new();
    let mut more = 0;
    for (event, line) in events.iter().zip(lines) {
        let mut found = Vec::new();
        if !known.contains(event.contact.as_str()) {
            found.push(format!("contact '{}' is not in the contacts file", event.contact));
        }
        if event.at < start {
            found.push(format!(
                "event at {} is before the simulation starts ({start})",
                event.at.to_rfc3339()
            ));
        }
        for message in found {
            if problems.len() < crate::import::MAX_REPORTED {
                problems.push((line, message));
            } else {
                more += 1;
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ImportError {
            file: path.display().to_string(),
            problems,
            more,
        }
        .into())
    }
}

/// The human summary `cairn simulate` prints to stderr.
pub fn render_summary(summary: &Summary, elapsed: std::time::Duration) -> String {
    let mut out = String::new();
    let id_width = summary.nodes.iter().map(|n| n.id.len()).max().unwrap_or(4).max(4);
    let type_width = summary
        .nodes
        .iter()
        .map(|n| n.type_name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!("{:id_width$}  {:type_width$}  counts\n", "node", "type"));
    for n in &summary.nodes {
        let mut parts: Vec<String> = n.actions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if n.waiting_at_end > 0 {
            parts.push(format!("still_here={}", n.waiting_at_end));
        }
        if parts.is_empty() {
            parts.push("-".into());
        }
        out.push_str(&format!(
            "{:id_width$}  {:type_width$}  {}\n",
            n.id,
            n.type_name,
            parts.join(" ")
        ));
    }
    out.push_str(&format!(
        "{} contacts, {} journeys ({} still running), {} journal lines, {:.3} s",
        summary.contacts,
        summary.tokens,
        summary.active,
        summary.journal_lines,
        elapsed.as_secs_f64()
    ));
    if let Some(last) = summary.last_activity {
        out.push_str(&format!(", last activity {}", last.to_rfc3339()));
    }
    out.push('\n');
    out
}

fn bench_engine(contacts: u64, batch: u64, dir: &Path) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    let figures = runtime
        .block_on(crate::bench::engine(contacts, batch.max(1), dir))
        .map_err(|e| CliError::Argument {
            message: format!("benchmark failed: {e:#}"),
        })?;
    println!("{}", serde_json::to_string(&figures).map_err(io::Error::other)?);
    Ok(())
}

fn bench_throttle(b: crate::bench_throttle::ThrottleBench) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    let figures = runtime
        .block_on(crate::bench_throttle::run(b))
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

fn throttle_worker(redis_url: &str, key: &str, rate: u32, messages: u64, out: &mut dyn Write) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    let stamps = runtime
        .block_on(crate::bench_throttle::worker(redis_url, key, rate, messages))
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

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into()),
        )
        .with_writer(io::stderr)
        // Colour codes only for a person at a terminal, not in a log file or a collector.
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .init();
}

fn worker(args: WorkerArgs) -> Result<(), CliError> {
    init_logging();
    let fail = |e: String| CliError::Argument {
        message: format!("cannot start the worker: {e}"),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut config = args.providers.providers();
        config.webhook.own = args.listen.map(|a| a.ip());
        let providers =
            std::sync::Arc::new(workers::providers::Providers::new(&config).map_err(|e| fail(e.to_string()))?);
        let queues = match &args.redis_url {
            Some(url) => workers::queues::Queues::redis(url)
                .await
                .map_err(|e| fail(e.to_string()))?,
            None if args.database_url.starts_with("sqlite:") => {
                let db = crate::db::connect(&args.database_url)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                workers::queues::Queues::sqlite(db.get_sqlite_connection_pool())
                    .await
                    .map_err(|e| fail(e.to_string()))?
            }
            None => {
                return Err(fail(
                    "set REDIS_URL (workers share queues through Redis or the service's SQLite file)".into(),
                ));
            }
        };
        eprintln!("Cairn worker started on {queues:?}");
        if matches!(queues, workers::queues::Queues::Sqlite(_)) {
            eprintln!("note: without REDIS_URL, throttles are kept per process (each worker applies the full limit)");
        }
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let deps = workers::queues::SendDeps {
            providers,
            throttle: queues.throttle(),
            now: std::sync::Arc::new(Utc::now),
        };
        queues.run_senders(deps, stop).await.map_err(|e| fail(e.to_string()))
    })
}

fn serve(args: ServeArgs) -> Result<(), CliError> {
    init_logging();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let config = crate::app::ServeConfig {
            listen: args.listen,
            database_url: args.database_url.clone(),
            policy: load_policy(args.policy.as_deref(), args.default_timezone)?,
            background: true,
            providers: args.providers.providers(),
            public_url: args.public_url.clone(),
            allowed_hosts: args.allowed_hosts.clone(),
            secret: args.secret.clone(),
            delivery_lease: args.delivery_lease.to_chrono(),
            queues: match (&args.redis_url, args.direct_delivery) {
                (Some(url), _) => crate::app::QueueMode::Redis(url.clone()),
                (None, false) => crate::app::QueueMode::Embedded,
                (None, true) => crate::app::QueueMode::Inline,
            },
            api_token: args.api_token.clone(),
            http: crate::server::HttpLimits {
                header_timeout: args.header_timeout.to_chrono().to_std().unwrap_or_default(),
                request_timeout: args.request_timeout.to_chrono().to_std().unwrap_or_default(),
                idle_timeout: args.idle_timeout.to_chrono().to_std().unwrap_or_default(),
                write_timeout: args.write_timeout.to_chrono().to_std().unwrap_or_default(),
                max_connections: args.max_connections as usize,
            },
        };
        let app = crate::app::App::start(config, std::sync::Arc::new(crate::clock::SystemClock))
            .await
            .map_err(|e| CliError::Argument {
                message: format!("cannot start: {e:#}"),
            })?;
        if args.demo {
            let loaded = crate::demo::load(&app.state.db, app.state.clock.now())
                .await
                .map_err(|e| CliError::Argument {
                    message: format!("cannot load the demo: {e:#}"),
                })?;
            match loaded {
                Some(l) => {
                    let flows: Vec<String> = l.flows.iter().map(|(n, id)| format!("{n} (#{id})")).collect();
                    eprintln!(
                        "Demo: {} contacts, flows {}, {} journeys started, {} carts abandoned",
                        l.contacts,
                        flows.join(", "),
                        l.entries,
                        l.events
                    );
                }
                None => eprintln!("Demo: the database already has flows; nothing loaded"),
            }
            app.state.engine.notify_one();
        }
        eprintln!("Cairn is listening on http://{}", app.addr);
        app.run_until_signal(
            args.shutdown_timeout
                .to_chrono()
                .to_std()
                .unwrap_or(crate::app::SHUTDOWN_GRACE),
        )
        .await;
        Ok(())
    })
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Serve(args) => serve(args).map(|()| 0),
        Command::Worker(args) => worker(args).map(|()| 0),
        Command::Bench(BenchCommand::Engine { contacts, batch, dir }) => {
            bench_engine(contacts, batch, &dir).map(|()| 0)
        }
        Command::Bench(BenchCommand::Throttle {
            rate,
            messages,
            workers,
            redis_url,
        }) => bench_throttle(crate::bench_throttle::ThrottleBench {
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
        }) => throttle_worker(&redis_url, &key, rate, messages, &mut out).map(|()| 0),
        Command::Flows(FlowsCommand::Validate { files }) => validate(&files, &mut out)
            .map(|ok| if ok { 0 } else { 1 })
            .map_err(CliError::from),
        Command::Flows(FlowsCommand::Schema) => schema(&mut out).map(|()| 0).map_err(CliError::from),
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
