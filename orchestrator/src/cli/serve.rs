//! `cairn serve` (the service: API, engine and delivery in one process) and `cairn worker`
//! (send workers only, on the service's queues), with the arguments they share.

use std::io;
use std::path::PathBuf;

use clap::Args;
use flows::Duration;

use super::{CliError, load_policy};

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
    /// Without Redis, deliver through apalis queues in the SQLite file, so that `cairn worker`
    /// processes on the same file share the sending. Off by default: this process delivers
    /// straight from the outbox. Measured (`cairn bench campaign --contacts 100000`): a
    /// campaign's 100 000 emails were all accepted 8.0 s after activation in process, 141.6 s
    /// through the queues.
    #[arg(long, env = "CAIRN_SQLITE_QUEUES", conflicts_with = "direct_delivery")]
    pub sqlite_queues: bool,
    /// Deliver straight from the outbox in this process: the default without Redis (kept for
    /// the configurations that set it).
    #[arg(long, env = "CAIRN_DIRECT_DELIVERY", hide = true)]
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
    /// Accept `Authorization: Bearer <token>` on /api/*, beside logins and API keys; with it
    /// set the API is never open to callers without credentials (entries may be signed
    /// instead).
    #[arg(long, env = "CAIRN_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// E-mail address of the first owner, created at start when the database has no user
    /// (with --admin-password); ignored once a user exists.
    #[arg(long, env = "CAIRN_ADMIN_EMAIL", requires = "admin_password")]
    pub admin_email: Option<String>,
    /// Password of that owner, at least 10 characters. Never logged.
    #[arg(long, env = "CAIRN_ADMIN_PASSWORD", hide_env_values = true, requires = "admin_email")]
    pub admin_password: Option<Hidden>,
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

/// A value that `Debug` does not show (a password).
#[derive(Clone)]
pub struct Hidden(pub String);

impl From<String> for Hidden {
    fn from(s: String) -> Self {
        Hidden(s)
    }
}

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(hidden)")
    }
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

pub(crate) fn init_logging() {
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

pub fn worker(args: WorkerArgs) -> Result<(), CliError> {
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
            now: std::sync::Arc::new(chrono::Utc::now),
        };
        queues.run_senders(deps, stop).await.map_err(|e| fail(e.to_string()))
    })
}

pub fn serve(args: ServeArgs) -> Result<(), CliError> {
    init_logging();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let config = crate::app::ServeConfig {
            listen: args.listen,
            database_url: args.database_url.clone(),
            policy: load_policy(args.policy.as_deref(), args.default_timezone)?,
            policy_source: args.policy.as_ref().map(|p| p.display().to_string()),
            background: true,
            providers: args.providers.providers(),
            public_url: args.public_url.clone(),
            allowed_hosts: args.allowed_hosts.clone(),
            secret: args.secret.clone(),
            delivery_lease: args.delivery_lease.to_chrono(),
            queues: match (&args.redis_url, args.sqlite_queues) {
                (Some(url), _) => crate::app::QueueMode::Redis(url.clone()),
                (None, true) => crate::app::QueueMode::Embedded,
                (None, false) => crate::app::QueueMode::Inline,
            },
            // An empty variable sets nothing.
            api_token: args.api_token.clone().filter(|t| !t.is_empty()),
            admin: match (&args.admin_email, &args.admin_password) {
                (Some(email), Some(Hidden(password))) if !email.is_empty() => Some(crate::app::Admin {
                    email: email.clone(),
                    password: password.clone(),
                }),
                _ => None,
            },
            http: crate::http::server::HttpLimits {
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
            let loaded = crate::cli::demo::load(&app.state.services)
                .await
                .map_err(|e| CliError::Argument {
                    message: format!("cannot load the demo: {e:#}"),
                })?;
            match loaded {
                Some(l) => {
                    let flows: Vec<String> = l.flows.iter().map(|(n, id)| format!("{n} (#{id})")).collect();
                    eprintln!(
                        "Demo: {} contacts, flows {}, {} journeys started, {} carts abandoned, \
                         {} tag additions over the past months, {} contracts, segments {}",
                        l.contacts,
                        flows.join(", "),
                        l.entries,
                        l.events,
                        l.tags_added,
                        l.records,
                        l.segments.join(", ")
                    );
                }
                None => eprintln!("Demo: the database already has flows; nothing loaded"),
            }
            app.state.services.engine.notify_one();
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
