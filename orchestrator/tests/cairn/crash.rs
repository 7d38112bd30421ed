//! `cairn serve` killed with SIGKILL in the middle of 10 000 journeys, then restarted on the same
//! database while the client re-posts every entry with its key: every contact's journey runs
//! exactly once, and every message is delivered exactly once.
//!
//! It runs on SQLite; on PostgreSQL when `CAIRN_TEST_DATABASE_URL` is set; and on PostgreSQL with
//! Redis queues and a separate `cairn worker` process (both killed) when `CAIRN_TEST_REDIS_URL`
//! is set too. Without those variables it says loudly what it skipped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

const CONTACTS: usize = 10_000;

const FLOW: &str = r#"{"format": "cairn.flow/v1", "name": "Crash", "nodes": [
  {"id": "start", "type": "webhook_entry"},
  {"id": "tag", "type": "add_tag", "tag": "crash"},
  {"id": "mail", "type": "send_email", "subject": "Hi {{contact.id}}", "html": "<p>Hi</p>"},
  {"id": "pause", "type": "wait", "duration": "1s"},
  {"id": "text", "type": "send_sms", "text": "Hi again"},
  {"id": "done", "type": "exit"}],
  "edges": [{"from": "start", "to": "tag"}, {"from": "tag", "to": "mail"}, {"from": "mail", "to": "pause"},
            {"from": "pause", "to": "text"}, {"from": "text", "to": "done"}]}"#;

/// Where the service keeps its state, and where its queues are.
struct Backend {
    name: &'static str,
    database_url: String,
    /// Redis queues, with a `cairn worker` process beside the service.
    redis_url: Option<String>,
    /// apalis queues in the SQLite file (`--sqlite-queues`) instead of in-process delivery.
    sqlite_queues: bool,
    /// How long a send may take before it is retried: short, so the killed run's sends come
    /// back soon; longer with queues, where a job also waits in the queue.
    lease: &'static str,
}

async fn backends(dir: &Path) -> Vec<Backend> {
    let mut out = vec![
        Backend {
            name: "sqlite",
            database_url: orchestrator::db::sqlite_url(&dir.join("cairn.db")),
            redis_url: None,
            // The embedded default: in-process delivery from the outbox.
            sqlite_queues: false,
            lease: "2s",
        },
        Backend {
            name: "sqlite+queues",
            database_url: orchestrator::db::sqlite_url(&dir.join("cairn-queues.db")),
            redis_url: None,
            // apalis-sqlite queues in the same file.
            sqlite_queues: true,
            lease: "10s",
        },
    ];
    let Some(admin) = std::env::var("CAIRN_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("NOTE: CAIRN_TEST_DATABASE_URL is not set: the crash test on PostgreSQL (and Redis) was SKIPPED");
        return out;
    };
    out.push(Backend {
        name: "postgres",
        database_url: fresh_postgres(&admin, "cairn_crash_pg").await,
        redis_url: None,
        sqlite_queues: false,
        lease: "2s",
    });
    match std::env::var("CAIRN_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) {
        Some(redis) => {
            // This test binary owns that Redis while it runs: no jobs of an earlier run.
            let client = redis::Client::open(redis.as_str()).expect("CAIRN_TEST_REDIS_URL is a Redis URL");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("Redis is reachable");
            let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.expect("FLUSHDB");
            out.push(Backend {
                name: "postgres+redis",
                database_url: fresh_postgres(&admin, "cairn_crash_redis").await,
                redis_url: Some(redis),
                sqlite_queues: false,
                lease: "10s",
            });
        }
        None => eprintln!("NOTE: CAIRN_TEST_REDIS_URL is not set: the crash test with Redis queues was SKIPPED"),
    }
    out
}

/// A new, empty database on the server `admin` points at.
async fn fresh_postgres(admin: &str, prefix: &str) -> String {
    use sea_orm::ConnectionTrait;
    let name = format!("{prefix}_{}", std::process::id());
    let db = sea_orm::Database::connect(admin)
        .await
        .expect("CAIRN_TEST_DATABASE_URL must be reachable");
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .expect("drop an old test database");
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

struct Server {
    child: Child,
    /// `cairn worker`, when the queues are in Redis.
    worker: Option<Child>,
    base: String,
}

impl Server {
    fn start(backend: &Backend) -> Server {
        let mut serve = Command::new(env!("CARGO_BIN_EXE_cairn"));
        serve
            .arg("serve")
            .env("CAIRN_LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", &backend.database_url)
            .env("CAIRN_DELIVERY_LEASE", backend.lease)
            .env("RUST_LOG", "warn")
            .env_remove("REDIS_URL")
            .env_remove("CAIRN_DIRECT_DELIVERY")
            .env_remove("CAIRN_SQLITE_QUEUES")
            .stderr(Stdio::piped());
        if let Some(redis) = &backend.redis_url {
            serve.env("REDIS_URL", redis);
        }
        if backend.sqlite_queues {
            serve.arg("--sqlite-queues");
        }
        let mut child = serve.spawn().expect("cairn serve starts");
        let worker = backend.redis_url.as_ref().map(|redis| {
            Command::new(env!("CARGO_BIN_EXE_cairn"))
                .arg("worker")
                .env("REDIS_URL", redis)
                .env("RUST_LOG", "warn")
                .spawn()
                .expect("cairn worker starts")
        });
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("cairn serve printed its address").unwrap();
            if let Some(addr) = line.strip_prefix("Cairn is listening on ") {
                break addr.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server { child, worker, base }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        if let Some(mut worker) = self.worker.take() {
            worker.kill().unwrap();
            worker.wait().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in std::iter::once(&mut self.child).chain(self.worker.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Imports [`FLOW`] through `base` and activates it; returns its id.
async fn import_and_activate(client: &reqwest::Client, base: &str) -> i64 {
    let created: Value = client
        .post(format!("{base}/api/flows"))
        .header("content-type", "application/json")
        .body(FLOW)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flow = created["id"].as_i64().unwrap();
    let activated = client
        .post(format!("{base}/api/flows/{flow}/activate"))
        .send()
        .await
        .unwrap();
    assert!(activated.status().is_success(), "the flow activates");
    flow
}

async fn post_entries(client: &reqwest::Client, base: &str, flow: i64, range: std::ops::Range<usize>) -> usize {
    futures::stream::iter(range)
        .map(|i| {
            let body = json!({"contact": {"id": format!("c{i}"), "email": format!("c{i}@example.com"), "phone": "+3725550000"},
                              "key": format!("signup-{i}")});
            let request = client.post(format!("{base}/api/flows/{flow}/entries")).json(&body).send();
            async move { request.await.is_ok_and(|r| r.status() == 202) }
        })
        .buffer_unordered(32)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await
}

/// Posts contact `c{i}`'s entry to `base` and returns how long until its journal shows a step.
async fn stepped_after_entry(client: &reqwest::Client, base: &str, flow: i64, i: usize) -> Duration {
    let posted = Instant::now();
    assert_eq!(
        post_entries(client, base, flow, i..i + 1).await,
        1,
        "entry {i} accepted"
    );
    loop {
        let journal = get_json(client, &format!("{base}/api/contacts/c{i}/journal")).await;
        if journal.as_array().is_some_and(|lines| !lines.is_empty()) {
            return posted.elapsed();
        }
        assert!(posted.elapsed() < Duration::from_secs(10), "entry {i} never stepped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_restarted_finishes_every_journey_exactly_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("cairn-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for backend in backends(&dir).await {
        let started = Instant::now();
        kill_and_restart(&backend).await;
        eprintln!(
            "crash test on {}: {:.1} s",
            backend.name,
            started.elapsed().as_secs_f64()
        );
        if let (Some(admin), true) = (
            std::env::var("CAIRN_TEST_DATABASE_URL").ok(),
            backend.database_url.starts_with("postgres"),
        ) {
            drop_postgres(&admin, &backend.database_url).await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn kill_and_restart(backend: &Backend) {
    let name = backend.name;
    let client = reqwest::Client::new();

    let first = Server::start(backend);
    let flow = import_and_activate(&client, &first.base).await;

    // Enter 4 000 contacts, then kill the process while the engine and delivery are busy.
    let accepted = post_entries(&client, &first.base, flow, 0..4_000).await;
    assert_eq!(accepted, 4_000, "{name}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();
    let unfinished = {
        let db = orchestrator::db::connect(&backend.database_url).await.unwrap();
        let row = orchestrator::db::one(&db, "SELECT COUNT(*) FROM tokens WHERE finished = 0", vec![])
            .await
            .unwrap()
            .unwrap();
        let n: i64 = orchestrator::db::col(&row, 0).unwrap();
        db.close().await.unwrap();
        n
    };
    assert!(unfinished > 0, "{name}: the kill must interrupt running journeys");

    // Restart on the same file; the client re-posts everything (its retry after the outage).
    let second = Server::start(backend);
    let accepted = post_entries(&client, &second.base, flow, 0..CONTACTS).await;
    assert_eq!(
        accepted, CONTACTS,
        "{name}: every entry is acknowledged, duplicates included"
    );

    // Journeys do not wait for delivery: a message the killed run had leased is sent again only
    // when its lease has run out, so wait for every count.
    let stats = until_finished(&client, &second.base, flow, CONTACTS as i64, Duration::from_secs(240)).await;
    assert_every_step_counts(&stats, CONTACTS as i64, name);
    let outbox = get_json(&client, &format!("{}/api/outbox?limit=100000", second.base)).await;
    let messages = outbox.as_array().unwrap();
    assert_eq!(
        messages.len(),
        2 * CONTACTS,
        "{name}: one email and one SMS per contact"
    );
    assert!(messages.iter().all(|m| m["status"] == "sent"), "{name}");
    let mut ids: Vec<&str> = messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2 * CONTACTS, "{name}");
    drop(second);
}

/// Removes a test database (its server processes are gone).
async fn drop_postgres(admin: &str, url: &str) {
    use sea_orm::ConnectionTrait;
    let name = url.rsplit('/').next().unwrap_or_default();
    let db = sea_orm::Database::connect(admin)
        .await
        .expect("CAIRN_TEST_DATABASE_URL must be reachable");
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop the test database");
}

/// The JSON body of `GET url`.
async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// A flow's per-node stats from `base`.
async fn stats(client: &reqwest::Client, base: &str, flow: i64) -> Value {
    get_json(client, &format!("{base}/api/flows/{flow}/stats")).await
}

/// Asserts that each step of the flow (entered, tagged, email, SMS, exit) counts `n` in `stats`.
fn assert_every_step_counts(stats: &Value, n: i64, backend: &str) {
    for (node, action) in [
        ("start", "entered"),
        ("tag", "tag_added"),
        ("mail", "sent"),
        ("text", "sent"),
        ("done", "exited"),
    ] {
        assert_eq!(
            stats["nodes"][node]["actions"][action].as_i64(),
            Some(n),
            "{backend}: {node} {action}: {stats}"
        );
    }
}

/// Waits up to `limit` until `flow` has `n` journeys through `done` with `n` emails and `n` SMS
/// sent.
async fn until_finished(client: &reqwest::Client, base: &str, flow: i64, n: i64, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let s = stats(client, base, flow).await;
        let count = |node: &str, action: &str| s["nodes"][node]["actions"][action].as_i64().unwrap_or(0);
        if count("done", "exited") >= n && count("mail", "sent") >= n && count("text", "sent") >= n {
            return s;
        }
        assert!(started.elapsed() < limit, "not finished in {limit:?}: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_sqlite_file_run_one_engine_and_the_other_takes_over_when_it_dies() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("cairn-two-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let backend = Backend {
        name: "sqlite",
        database_url: orchestrator::db::sqlite_url(&dir.join("cairn.db")),
        redis_url: None,
        // The embedded default: in-process delivery from the outbox.
        sqlite_queues: false,
        lease: "2s",
    };
    let client = reqwest::Client::new();
    let first = Server::start(&backend);
    let flow = import_and_activate(&client, &first.base).await;
    let second = Server::start(&backend);
    // The engine's first pass (right after start) takes the lock; give it a moment.
    let started = Instant::now();
    let lock = loop {
        if let Ok(file) = std::fs::File::open(dir.join("cairn.db-engine"))
            && file.try_lock().is_err()
        {
            break file;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a server holds the engine lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // An entry through the server without the engine is stepped at once, not at the engine's
    // next one-second poll: ten in a row, each entered within 600 ms (with the poll alone, ten
    // in a row would make it with a chance of 0.6^10, under 1%).
    for i in 0..10 {
        let took = stepped_after_entry(&client, &second.base, flow, i).await;
        assert!(
            took < Duration::from_millis(600),
            "entry {i} waited {took:?} for the engine"
        );
    }

    // Entries through both: every journey runs exactly once (those ten among them).
    assert_eq!(post_entries(&client, &first.base, flow, 10..300).await, 290);
    assert_eq!(post_entries(&client, &second.base, flow, 300..600).await, 300);
    let s = until_finished(&client, &second.base, flow, 600, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s2 = stats(&client, &second.base, flow).await;
    assert_eq!(s, s2, "nothing more happens once every journey is done");
    assert_every_step_counts(&s, 600, "sqlite");

    // The process that held the engine dies: the other one runs the journeys from now on.
    first.kill();
    assert_eq!(post_entries(&client, &second.base, flow, 600..900).await, 300);
    let s = until_finished(&client, &second.base, flow, 900, Duration::from_secs(60)).await;
    assert_every_step_counts(&s, 900, "sqlite");
    second.kill();
    assert!(lock.try_lock().is_ok(), "the lock ends with the last server");
    let _ = std::fs::remove_dir_all(&dir);
}
