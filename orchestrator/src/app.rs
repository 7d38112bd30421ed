//! The running service: database, engine, delivery and HTTP API in one process.
//!
//! [`App::start`] binds (port 0 works: [`App::addr`] reports the real port), spawns the engine
//! and delivery loops and the server, and returns a handle; [`App::stop`] shuts them down.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use flows::Policy;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::http::{AppState, app};
use crate::runtime::delivery::Delivery;
use crate::runtime::engine::Engine;
use crate::runtime::expiry::Expiry;
use crate::runtime::flow_cache::FlowCache;
use crate::runtime::handoff::{self, Handoff};

/// How messages reach the providers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueMode {
    /// This process sends from its outbox directly, without queues: the embedded default (and
    /// what PostgreSQL without Redis does). Its engine hands what it queues to its delivery in
    /// memory.
    Inline,
    /// apalis queues in the SQLite file with in-process workers, shared with `cairn worker`
    /// processes on the same file (`--sqlite-queues`). Falls back to `Inline` on PostgreSQL.
    Embedded,
    /// apalis queues in Redis: in-process workers plus any number of `cairn worker` processes.
    Redis(String),
}

/// What `cairn serve` needs to start.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    /// The workspace send policy (default zone, channel rules, calendars).
    pub policy: Policy,
    /// The policy's file: `policy` is what it holds, and it is in force. `None`: `policy` is
    /// the defaults, and a policy stored by `PUT /api/policy` is in force instead if there is
    /// one.
    pub policy_source: Option<String>,
    /// Run the engine and delivery loops (off for API-only tests that drive them by hand).
    pub background: bool,
    pub providers: workers::providers::ProviderConfig,
    /// Base URL of tracking links in emails (default: `http://<listen address>`).
    pub public_url: Option<String>,
    /// Host names the API answers to besides IP literals, `localhost` and the public URL's
    /// (see [`crate::http::guard`]).
    pub allowed_hosts: Vec<String>,
    /// Key of tracking tokens (default: generated once and kept in the database).
    pub secret: Option<String>,
    /// See [`Delivery::lease`].
    pub delivery_lease: chrono::TimeDelta,
    pub queues: QueueMode,
    /// See [`AppState::api_token`].
    pub api_token: Option<String>,
    /// The first owner, created at start when no user exists.
    pub admin: Option<Admin>,
    /// Timeouts and the connection limit of the HTTP server.
    pub http: crate::http::server::HttpLimits,
}

/// The owner `cairn serve` creates when the database has no user (`CAIRN_ADMIN_EMAIL`,
/// `CAIRN_ADMIN_PASSWORD`). Its `Debug` hides the password, which is never logged.
#[derive(Clone)]
pub struct Admin {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("email", &self.email)
            .field("password", &"(hidden)")
            .finish()
    }
}

/// How long `cairn serve` waits for running work once asked to stop (`--shutdown-timeout`).
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub struct App {
    pub addr: SocketAddr,
    pub state: AppState,
    pub engine: Engine,
    pub delivery: Delivery,
    pub expiry: Expiry,
    pub scheduler: crate::runtime::scheduler::Scheduler,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Creates the configured owner when no user exists; says so, or that it was not needed.
async fn create_admin(state: &AppState, admin: &Admin) -> anyhow::Result<()> {
    let given = crate::service::accounts::Credentials {
        email: admin.email.clone(),
        password: admin.password.clone(),
    };
    match crate::service::accounts::create_admin(&state.services, &state.logins, given).await {
        Ok(Some(user)) => tracing::info!(email = %user.email, "created the owner named by CAIRN_ADMIN_EMAIL"),
        Ok(None) => tracing::info!("users exist already: CAIRN_ADMIN_EMAIL and CAIRN_ADMIN_PASSWORD are ignored"),
        Err(e) => anyhow::bail!("cannot create the owner of CAIRN_ADMIN_EMAIL and CAIRN_ADMIN_PASSWORD: {e}"),
    }
    Ok(())
}

impl App {
    pub async fn start(config: ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        let db = crate::db::connect(&config.database_url).await?;
        Self::start_with(config, clock, db).await
    }

    pub async fn start_with(config: ServeConfig, clock: Arc<dyn Clock>, db: DatabaseConnection) -> anyhow::Result<App> {
        let secret = match &config.secret {
            Some(s) => s.clone(),
            None => crate::store::flows::setting(&db, "tracking_secret", crate::signing::new_secret).await?,
        };
        let users = crate::store::accounts::any_user(&db).await?;
        crate::http::auth::exposure(config.listen, config.api_token.is_some(), config.admin.is_some(), users)
            .map_err(anyhow::Error::msg)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        let tracker = Arc::new(crate::signing::Tracker::new(secret.as_bytes(), &public_url));
        let flows = Arc::new(FlowCache::default());
        let policy = crate::service::policy::at_start(&db, config.policy.clone(), config.policy_source.clone()).await?;
        // A policy that lost a calendar an active flow uses would quietly open its closed days.
        if let Some(why) = crate::service::policy::misfits(&db, &flows, &policy.get())
            .await?
            .into_iter()
            .next()
        {
            anyhow::bail!(why);
        }
        let wake = Arc::new(Notify::new());
        let delivery_wake = Arc::new(Notify::new());
        // Webhook nodes may not call this service: its bound address is refused to them.
        let mut provider_config = config.providers.clone();
        provider_config.webhook.own.get_or_insert(addr.ip());
        let providers = Arc::new(workers::providers::Providers::new(&provider_config)?);
        let queues = match &config.queues {
            QueueMode::Inline => None,
            QueueMode::Embedded if db.get_database_backend() == sea_orm::DbBackend::Sqlite => {
                Some(workers::queues::Queues::sqlite(db.get_sqlite_connection_pool()).await?)
            }
            QueueMode::Embedded => {
                tracing::info!("PostgreSQL without REDIS_URL: this process delivers from its outbox directly");
                None
            }
            QueueMode::Redis(url) => Some(workers::queues::Queues::redis(url).await?),
        };
        // Sending itself, this process's delivery takes the messages its engine queues from
        // memory (see `handoff::Handoff`).
        let handoff = queues
            .is_none()
            .then(|| Arc::new(Handoff::new(handoff::HANDOFF_CAPACITY, config.delivery_lease)));
        let engine = Engine {
            db: db.clone(),
            clock: clock.clone(),
            flows: flows.clone(),
            policy: policy.clone(),
            wake: wake.clone(),
            delivery: delivery_wake.clone(),
            batch: 1000,
            handoff: handoff.clone(),
        };
        let throttled = policy.get().channels.values().any(|r| r.throttle.is_some());
        if throttled && !matches!(config.queues, QueueMode::Redis(_)) {
            tracing::warn!(
                "throttles are kept in this process: without REDIS_URL, every process sending for \
                 this workspace applies the full limit on its own"
            );
        }
        let delivery = Delivery {
            db: db.clone(),
            clock: clock.clone(),
            providers: providers.clone(),
            tracker: Some(tracker.clone()),
            wake: delivery_wake,
            batch: crate::runtime::delivery::LEASE_BATCH,
            lease: config.delivery_lease,
            queues: queues.clone(),
            throttle: queues
                .as_ref()
                .map_or_else(workers::throttle::Throttle::local, |q| q.throttle()),
            in_flight: Arc::default(),
            handoff,
        };
        let expiry = Expiry {
            db: db.clone(),
            clock: clock.clone(),
            engine: wake.clone(),
            wake: Arc::new(Notify::new()),
        };
        let segments = crate::runtime::segments::Segments::default();
        let state = AppState {
            services: crate::service::Services {
                db,
                clock,
                flows,
                policy: engine.policy.clone(),
                engine: wake,
                scheduler: Arc::new(Notify::new()),
                segments: segments.clone(),
            },
            tracker,
            api_token: config.api_token.as_deref().map(Arc::from),
            logins: Arc::default(),
            hosts: Arc::new(crate::http::guard::Hosts::new(&public_url, &config.allowed_hosts)),
            settings: Arc::new(crate::http::editor::Settings::new(&config.providers)),
        };
        tokio::task::spawn_blocking(crate::service::credentials::prepare);
        if let Some(admin) = &config.admin {
            create_admin(&state, admin).await?;
        }
        // An import whose process stopped is failed, never left running.
        match crate::service::imports::recover(&state.services).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                imports = n,
                "imports left running by a stopped process are marked failed"
            ),
            Err(e) => tracing::warn!(error = %e, "imports left running could not be marked failed"),
        }
        let scheduler = crate::runtime::scheduler::Scheduler {
            services: state.services.clone(),
        };
        let (stop, stopped) = watch::channel(false);
        let until_stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let mut tasks = JoinSet::new();
        let router = app(state.clone());
        tasks.spawn(crate::http::server::serve(
            listener,
            router,
            config.http,
            stopped.clone(),
        ));
        if config.background {
            tasks.spawn(engine.clone().run(until_stopped(stopped.clone())));
            tasks.spawn(expiry.clone().run(until_stopped(stopped.clone())));
            tasks.spawn(segments.follow(
                state.services.db.clone(),
                state.services.clock.clone(),
                until_stopped(stopped.clone()),
            ));
            tasks.spawn(delivery.clone().run(until_stopped(stopped.clone())));
            tasks.spawn(scheduler.clone().run(until_stopped(stopped.clone())));
            if let Some(queues) = &queues {
                let service_clock = delivery.clock.clone();
                let deps = workers::queues::SendDeps {
                    providers: providers.clone(),
                    throttle: delivery.throttle.clone(),
                    now: Arc::new(move || service_clock.now()),
                };
                let (q, stop) = (queues.clone(), until_stopped(stopped.clone()));
                tasks.spawn(async move {
                    if let Err(e) = q.run_senders(deps, stop).await {
                        tracing::error!(error = %e, "send workers stopped");
                    }
                });
                let (q, sink, stop) = (
                    queues.clone(),
                    Arc::new(delivery.outcome_sink()),
                    until_stopped(stopped.clone()),
                );
                tasks.spawn(async move {
                    if let Err(e) = q.run_outcomes(sink, stop).await {
                        tracing::error!(error = %e, "outcome consumer stopped");
                    }
                });
            }
        }
        tracing::info!(%addr, "cairn is listening");
        Ok(App {
            addr,
            state,
            engine,
            delivery,
            expiry,
            scheduler,
            stop,
            tasks,
        })
    }

    /// [`App::stop_within`] the default grace, [`SHUTDOWN_GRACE`].
    pub async fn stop(self) {
        self.stop_within(SHUTDOWN_GRACE).await;
    }

    /// Stops accepting requests and lets running passes and sends finish, for at most `grace`;
    /// then abandons what is still running. Nothing is lost or done twice either way: an
    /// abandoned transaction rolls back (its work is due again), and a message being sent stays
    /// leased until its lease runs out, then is sent again with the same id. Returns whether
    /// everything finished within `grace`.
    pub async fn stop_within(mut self, grace: std::time::Duration) -> bool {
        let _ = self.stop.send(true);
        let finished = tokio::time::timeout(grace, async { while self.tasks.join_next().await.is_some() {} })
            .await
            .is_ok();
        if !finished {
            tracing::warn!(?grace, "shutdown: abandoning what is still running");
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
        finished
    }

    /// Serves until Ctrl-C or SIGTERM, then stops within `grace` ([`App::stop_within`]).
    pub async fn run_until_signal(self, grace: std::time::Duration) {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        self.stop_within(grace).await;
    }
}
