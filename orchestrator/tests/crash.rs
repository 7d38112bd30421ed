//! `cairn serve` killed with SIGKILL in the middle of 10 000 journeys, then restarted on the same
//! database while the client re-posts every entry with its key: every contact's journey runs
//! exactly once, and every message is delivered exactly once.

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

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("serve")
            .env("CAIRN_LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", db.display()))
            .env("CAIRN_DELIVERY_LEASE", "2s")
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .spawn()
            .expect("cairn serve starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("cairn serve printed its address").unwrap();
            if let Some(addr) = line.strip_prefix("Cairn is listening on ") {
                break addr.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_restarted_finishes_every_journey_exactly_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("cairn-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("cairn.db");
    let client = reqwest::Client::new();

    let first = Server::start(&db);
    let created: Value = client
        .post(format!("{}/api/flows", first.base))
        .body(FLOW)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flow = created["id"].as_i64().unwrap();
    client
        .post(format!("{}/api/flows/{flow}/activate", first.base))
        .send()
        .await
        .unwrap();

    // Enter 4 000 contacts, then kill the process while the engine and delivery are busy.
    let accepted = post_entries(&client, &first.base, flow, 0..4_000).await;
    assert_eq!(accepted, 4_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();
    let unfinished = {
        let db = orchestrator::db::connect(&orchestrator::db::sqlite_url(&db))
            .await
            .unwrap();
        let row = orchestrator::db::one(&db, "SELECT COUNT(*) FROM tokens WHERE finished = 0", vec![])
            .await
            .unwrap()
            .unwrap();
        let n: i64 = orchestrator::db::col(&row, 0).unwrap();
        db.close().await.unwrap();
        n
    };
    assert!(unfinished > 0, "the kill must interrupt running journeys");

    // Restart on the same file; the client re-posts everything (its retry after the outage).
    let second = Server::start(&db);
    let accepted = post_entries(&client, &second.base, flow, 0..CONTACTS).await;
    assert_eq!(accepted, CONTACTS, "every entry is acknowledged, duplicates included");

    let started = Instant::now();
    loop {
        let stats: Value = client
            .get(format!("{}/api/flows/{flow}/stats", second.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let exited = stats["nodes"]["done"]["actions"]["exited"].as_u64().unwrap_or(0);
        let sms = stats["nodes"]["text"]["actions"]["sent"].as_u64().unwrap_or(0);
        if exited as usize == CONTACTS && sms as usize == CONTACTS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "not finished in 4 minutes: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stats: Value = client
        .get(format!("{}/api/flows/{flow}/stats", second.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (node, action) in [
        ("start", "entered"),
        ("tag", "tag_added"),
        ("mail", "sent"),
        ("text", "sent"),
        ("done", "exited"),
    ] {
        assert_eq!(
            stats["nodes"][node]["actions"][action].as_u64(),
            Some(CONTACTS as u64),
            "{node} {action}: {stats}"
        );
    }
    let outbox: Value = client
        .get(format!("{}/api/outbox?limit=100000", second.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = outbox.as_array().unwrap();
    assert_eq!(messages.len(), 2 * CONTACTS, "one email and one SMS per contact");
    assert!(messages.iter().all(|m| m["status"] == "sent"));
    let mut ids: Vec<&str> = messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2 * CONTACTS);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
