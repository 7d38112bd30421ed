//! A test harness for the service: a fresh database per test, a manual clock, the router
//! called in-process, and the engine and delivery driven by hand so every test is deterministic.
//!
//! Every service test runs on SQLite. When `CAIRN_TEST_DATABASE_URL` names a PostgreSQL server
//! (any database on it; the harness creates a fresh database per test), it runs there too;
//! without it the harness says loudly that PostgreSQL was skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use orchestrator::app::{App, ServeConfig};
use orchestrator::clock::ManualClock;
pub use orchestrator::http::server::HttpLimits;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use tower::ServiceExt;
pub use workers::providers::{HttpEndpoint, ProviderConfig};

/// Where a test's database lives.
#[derive(Debug, Clone)]
pub struct Backend {
    pub name: &'static str,
    pub url: String,
    /// Removes the SQLite file when the last copy of the backend is dropped.
    _file: Option<Arc<RemoveOnDrop>>,
}

/// A test's SQLite file (with its `-wal`, `-shm` and `-engine`), removed when dropped.
#[derive(Debug)]
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        for suffix in ["-wal", "-shm", "-engine"] {
            let mut name = self.0.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A fresh SQLite file, and a fresh PostgreSQL database when the environment offers a server.
pub async fn backends() -> Vec<Backend> {
    let path = std::env::temp_dir().join(format!("{}.db", unique("cairn_test")));
    let mut out = vec![Backend {
        name: "sqlite",
        url: orchestrator::db::sqlite_url(&path),
        _file: Some(Arc::new(RemoveOnDrop(path))),
    }];
    match std::env::var("CAIRN_TEST_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => out.push(Backend {
            name: "postgres",
            url: fresh_postgres(&admin).await,
            _file: None,
        }),
        _ => eprintln!("NOTE: CAIRN_TEST_DATABASE_URL is not set: PostgreSQL was SKIPPED (SQLite only)"),
    }
    out
}

async fn fresh_postgres(admin: &str) -> String {
    let name = unique("cairn_t");
    let db = sea_orm::Database::connect(admin)
        .await
        .expect("CAIRN_TEST_DATABASE_URL must be reachable");
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    let base = admin.split('?').next().unwrap_or(admin);
    let cut = base
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .unwrap_or(base.len());
    format!("{}/{name}", &base[..cut])
}

/// Providers whose `webhook` nodes may call loopback addresses, where the tests' fake
/// receivers listen (without it they are refused, as in production).
pub fn loopback_webhooks() -> ProviderConfig {
    ProviderConfig {
        webhook: workers::address::Destinations {
            allow: "127.0.0.0/8".parse().unwrap(),
            own: None,
        },
        ..ProviderConfig::default()
    }
}

/// The start of every test's manual clock: a Wednesday, 08:00 UTC.
pub const START: &str = "2026-12-30T08:00:00Z";

pub struct TestApp {
    pub app: App,
    pub clock: ManualClock,
    pub backend: Backend,
}

impl TestApp {
    /// The service on `backend` at [`START`], with the engine and delivery left to the test.
    pub async fn spawn(backend: &Backend) -> TestApp {
        Self::spawn_with(backend, ProviderConfig::default()).await
    }

    /// The service with the given providers (default: the built-in outbox for every channel).
    pub async fn spawn_with(backend: &Backend, providers: ProviderConfig) -> TestApp {
        Self::spawn_full(backend, providers, orchestrator::app::QueueMode::Inline, false).await
    }

    /// The service requiring `Authorization: Bearer <token>` on its API.
    pub async fn spawn_secured(backend: &Backend, token: &str) -> TestApp {
        let mut t = Self::spawn(backend).await;
        t.app.state.api_token = Some(token.into());
        t
    }

    /// The service with queues and (when `background`) its engine, delivery and workers running.
    pub async fn spawn_full(
        backend: &Backend,
        providers: ProviderConfig,
        queues: orchestrator::app::QueueMode,
        background: bool,
    ) -> TestApp {
        Self::start(backend, providers, queues, background, flows::Policy::default()).await
    }

    /// The service under a workspace send policy, engine and delivery left to the test.
    pub async fn spawn_policy(backend: &Backend, providers: ProviderConfig, policy: flows::Policy) -> TestApp {
        Self::start(backend, providers, orchestrator::app::QueueMode::Inline, false, policy).await
    }

    /// The service with everything chosen: providers, queues, background loops and policy.
    pub async fn start(
        backend: &Backend,
        providers: ProviderConfig,
        queues: orchestrator::app::QueueMode,
        background: bool,
        policy: flows::Policy,
    ) -> TestApp {
        let config = ServeConfig {
            background,
            queues,
            ..Self::config(backend, providers, policy)
        };
        Self::launch(backend, config).await
    }

    /// The tests' configuration: port 0, fixed secrets, no background loops, no queues.
    fn config(backend: &Backend, providers: ProviderConfig, policy: flows::Policy) -> ServeConfig {
        ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: backend.url.clone(),
            policy,
            policy_source: None,
            background: false,
            providers,
            public_url: Some("https://cairn.example".into()),
            allowed_hosts: Vec::new(),
            secret: Some("test tracking secret".into()),
            delivery_lease: orchestrator::runtime::delivery::LEASE,
            queues: orchestrator::app::QueueMode::Inline,
            api_token: None,
            admin: None,
            http: HttpLimits::default(),
        }
    }

    /// The service with the given HTTP server limits (engine and delivery left to the test).
    pub async fn spawn_http(backend: &Backend, http: HttpLimits) -> TestApp {
        Self::spawn_configured(backend, |config| config.http = http).await
    }

    /// The tests' configuration changed by `configure` (engine and delivery left to the test).
    pub async fn spawn_configured(backend: &Backend, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let mut config = Self::config(backend, ProviderConfig::default(), flows::Policy::default());
        configure(&mut config);
        Self::launch(backend, config).await
    }

    async fn launch(backend: &Backend, config: ServeConfig) -> TestApp {
        match Self::try_launch(backend, config).await {
            Ok(t) => t,
            Err(e) => panic!("the service starts: {e}"),
        }
    }

    /// [`TestApp::spawn_configured`], answering why the service did not start when it did not.
    pub async fn try_spawn(backend: &Backend, configure: impl FnOnce(&mut ServeConfig)) -> Result<TestApp, String> {
        let mut config = Self::config(backend, ProviderConfig::default(), flows::Policy::default());
        configure(&mut config);
        Self::try_launch(backend, config).await
    }

    async fn try_launch(backend: &Backend, config: ServeConfig) -> Result<TestApp, String> {
        let clock = ManualClock::new(START.parse().unwrap());
        let app = App::start(config, Arc::new(clock.clone()))
            .await
            .map_err(|e| format!("{e:#}"))?;
        Ok(TestApp {
            app,
            clock,
            backend: backend.clone(),
        })
    }

    /// Sends a request to the router; returns the status and the JSON body (Null when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = orchestrator::http::app(self.app.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    /// Sends a request with extra headers. It is JSON unless `headers` name another
    /// `content-type`; an empty `content-type` sends none.
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let answer = self.request(method, path, body, headers).await;
        (answer.status, answer.body)
    }

    /// [`TestApp::call_with`], answering the response's headers too.
    pub async fn request(&self, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            request = request.header("content-type", "application/json");
        }
        for (k, v) in headers.iter().filter(|(_, v)| !v.is_empty()) {
            request = request.header(*k, *v);
        }
        let response = orchestrator::http::app(self.app.state.clone())
            .oneshot(request.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// A GET returning the status and the raw response.
    pub async fn get_raw(&self, path: &str) -> axum::response::Response {
        let request = Request::builder().method("GET").uri(path).body(Body::empty()).unwrap();
        orchestrator::http::app(self.app.state.clone())
            .oneshot(request)
            .await
            .unwrap()
    }

    /// A request with headers and no body, returning the raw response.
    pub async fn request_raw(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> axum::response::Response {
        let mut request = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        orchestrator::http::app(self.app.state.clone())
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    /// Sends raw bytes to the server over TCP and returns everything it answers until it
    /// closes the connection (send `Connection: close`), at most 5 s.
    pub async fn tcp(&self, request: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.app.addr).await.expect("connect");
        stream.write_all(request).await.expect("send");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "no complete answer within 5 s: {}",
            String::from_utf8_lossy(&answer)
        );
        String::from_utf8_lossy(&answer).into_owned()
    }

    pub async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.call("POST", path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, None).await
    }

    /// Imports and activates a flow file from `flows/templates`; returns its id.
    pub async fn activate_template(&self, name: &str) -> i64 {
        let text = std::fs::read_to_string(crate::repo_root().join(format!("flows/templates/{name}.json"))).unwrap();
        self.activate(&text).await
    }

    /// Imports and activates a flow given as `cairn.flow/v1` JSON; returns its id.
    pub async fn activate(&self, flow: &str) -> i64 {
        let (status, body) = self.post("/api/flows", flow).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_i64().unwrap();
        let (status, body) = self.post(&format!("/api/flows/{id}/activate"), "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    /// Runs the engine and delivery until nothing is left to do at the current time.
    pub async fn settle(&self) {
        loop {
            let expired = self.app.expiry.drain().await.expect("expiry pass");
            let scheduled = self.app.scheduler.drain().await.expect("scheduler pass");
            let steps = self.app.engine.drain().await.expect("engine pass");
            let sent = self.app.delivery.drain().await.expect("delivery pass");
            if expired == 0 && scheduled == 0 && steps.is_idle() && sent == 0 {
                return;
            }
        }
    }

    /// Moves the clock and settles.
    pub async fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
        self.settle().await;
    }

    pub fn now(&self) -> DateTime<Utc> {
        use orchestrator::clock::Clock;
        self.clock.now()
    }

    /// A contact's journal as `"<node> <action>"` lines.
    pub async fn journal(&self, contact: &str) -> Vec<String> {
        let (status, body) = self.get(&format!("/api/contacts/{contact}/journal")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|l| format!("{} {}", l["node"].as_str().unwrap(), l["action"].as_str().unwrap()))
            .collect()
    }

    /// Messages in the outbox, oldest first, as `"<channel> <to>"`.
    pub async fn outbox(&self) -> Vec<String> {
        let (_, body) = self.get("/api/outbox?limit=10000").await;
        let mut lines: Vec<String> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|m| format!("{} {}", m["channel"].as_str().unwrap(), m["to"].as_str().unwrap()))
            .collect();
        lines.reverse();
        lines
    }

    pub async fn stop(self) {
        self.app.stop().await;
    }
}

/// A response: its status, headers and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// A response header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// Waits (real time) until `check` holds, for at most 20 s: for tests with background loops.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The Redis URL for queue tests, emptied first (the tests own that Redis: jobs left by an
/// earlier run would otherwise be delivered into this one), or `None` with a loud note.
pub async fn redis_url() -> Option<String> {
    match std::env::var("CAIRN_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let client = redis::Client::open(url.as_str()).expect("CAIRN_TEST_REDIS_URL is a Redis URL");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("Redis is reachable");
            let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.expect("FLUSHDB");
            Some(url)
        }
        _ => {
            eprintln!("NOTE: CAIRN_TEST_REDIS_URL is not set: the Redis queue test was SKIPPED (SQLite queues only)");
            None
        }
    }
}
