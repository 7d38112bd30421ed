//! Real and fake peers for delivery tests: an SMTP server (aiosmtpd, a real implementation run
//! by Debian's Python) and an HTTP provider that records requests and answers from a script.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router, routing::any};
use serde_json::Value;

/// A running aiosmtpd; killed on drop.
pub struct SmtpServer {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl SmtpServer {
    /// Starts a server that answers 451 to the first `fail_first` messages. `None` (with a loud
    /// note) when aiosmtpd is not installed, unless `CAIRN_REQUIRE_SMTP` is set (CI sets it).
    pub fn start(fail_first: u32) -> Option<SmtpServer> {
        let python = "/usr/bin/python3";
        let available = Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(
                std::env::var_os("CAIRN_REQUIRE_SMTP").is_none(),
                "CAIRN_REQUIRE_SMTP is set but /usr/bin/python3 has no aiosmtpd (apt-get install python3-aiosmtpd)"
            );
            eprintln!("NOTE: python3-aiosmtpd is not installed: the SMTP delivery test was SKIPPED");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("cairn-smtp-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = crate::repo_root().join("tests/smtp_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(&dir)
            .arg(port.to_string())
            .arg(fail_first.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        Some(SmtpServer { child, dir, port })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The raw messages received, in order.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One request an [`HttpProvider`] received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A fake SMS/push/webhook receiver on port 0: records every request and answers with the next
/// status of its script (then 200 with `{"id": "ref-<n>"}`).
#[derive(Clone)]
pub struct HttpProvider {
    pub addr: SocketAddr,
    state: Arc<Mutex<Script>>,
}

#[derive(Default)]
struct Script {
    statuses: Vec<u16>,
    received: Vec<Received>,
}

impl HttpProvider {
    pub async fn start(statuses: &[u16]) -> HttpProvider {
        let state = Arc::new(Mutex::new(Script {
            statuses: statuses.to_vec(),
            received: Vec::new(),
        }));
        let app = Router::new().fallback(any(record)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HttpProvider { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

async fn record(
    State(state): State<Arc<Mutex<Script>>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut script = state.lock().unwrap();
    script.received.push(Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        idempotency_key: header("idempotency-key"),
        authorization: header("authorization"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let n = script.received.len();
    let status = if script.statuses.is_empty() {
        200
    } else {
        script.statuses.remove(0)
    };
    let status = StatusCode::from_u16(status).unwrap();
    (status, Json(serde_json::json!({"id": format!("ref-{n}")})))
}

/// An HTTP endpoint (`http://…{path}`) that accepts connections and never answers.
pub async fn silent_server(path: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}{path}")
}
