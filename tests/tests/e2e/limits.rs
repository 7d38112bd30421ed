//! Limits on what flow data can make Cairn do: templates that would run for ever or render
//! megabytes fail their own send and nobody else's, and webhook nodes reach no loopback (or
//! otherwise non-public) address the operator did not allow, nor follow redirects.

use std::time::Instant;

use serde_json::{Value, json};
use tests::fakes::HttpProvider;
use tests::service::{HttpEndpoint, ProviderConfig, TestApp, backends};

/// A flow `start → sms → done` whose SMS text is `text`.
fn sms_flow(name: &str, text: &str) -> String {
    json!({"format": "cairn.flow/v1", "name": name, "nodes": [
        {"id": "start", "type": "webhook_entry"},
        {"id": "sms", "type": "send_sms", "text": text},
        {"id": "done", "type": "exit"}],
        "edges": [{"from": "start", "to": "sms"}, {"from": "sms", "to": "done"}]})
    .to_string()
}

/// Enters contact `id` (with a phone) into `flow`.
async fn enter(t: &TestApp, flow: i64, id: &str) {
    let body = json!({"contact": {"id": id, "phone": "+37255512345", "first_name": "Ann"}});
    let (status, answer) = t.post(&format!("/api/flows/{flow}/entries"), &body.to_string()).await;
    assert_eq!(status, 202, "{answer}");
}

/// The contact's journal lines at `node` with `action`.
async fn lines(t: &TestApp, contact: &str, node: &str, action: &str) -> Vec<Value> {
    let (_, journal) = t.get(&format!("/api/contacts/{contact}/journal")).await;
    journal
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["node"] == node && l["action"] == action)
        .cloned()
        .collect()
}

#[tokio::test]
async fn pathological_templates_fail_their_own_sends_and_the_journeys_beside_them_finish() {
    let sms = HttpProvider::start(&[]).await;
    for backend in backends().await {
        let providers = ProviderConfig {
            sms: Some(HttpEndpoint {
                url: sms.url("/v1/sms"),
                token: None,
            }),
            ..ProviderConfig::default()
        };
        let t = TestApp::spawn_with(&backend, providers).await;
        let ordinary = t.activate(&sms_flow("Ordinary", "Hi {{ contact.first_name }}")).await;
        let looping = t
            .activate(&sms_flow(
                "Loops",
                "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            ))
            .await;
        let huge = t.activate(&sms_flow("Huge", r#"{{ "a" * 100000000 }}"#)).await;
        let before = sms.received().len();
        // Interleaved, so the pathological journeys sit in the same engine batch as the others.
        for i in 0..10 {
            enter(&t, ordinary, &format!("ok{i}")).await;
            enter(&t, looping, &format!("loop{i}")).await;
            enter(&t, huge, &format!("huge{i}")).await;
        }
        let started = Instant::now();
        t.settle().await;
        eprintln!(
            "{}: 10 ordinary, 10 looping and 10 huge journeys settled in {:?}",
            backend.name,
            started.elapsed()
        );

        for i in 0..10 {
            let ok = format!("ok{i}");
            assert_eq!(lines(&t, &ok, "sms", "sent").await.len(), 1, "{ok}");
            assert_eq!(lines(&t, &ok, "done", "exited").await.len(), 1, "{ok}");
            let failed = lines(&t, &format!("loop{i}"), "sms", "failed").await;
            assert_eq!(
                failed[0]["reason"], "template of field 'text' exceeded its work limit (50000 steps)",
                "{failed:?}"
            );
            let failed = lines(&t, &format!("huge{i}"), "sms", "failed").await;
            assert_eq!(
                failed[0]["reason"], "rendered 'text' is over 1600 bytes, the limit for an SMS",
                "{failed:?}"
            );
        }
        let received: Vec<_> = sms.received().into_iter().skip(before).collect();
        assert_eq!(received.len(), 10, "only the ordinary SMS reach the provider");
        assert!(received.iter().all(|r| r.body["text"] == "Hi Ann"));
        t.stop().await;
    }
}

/// A flow `start → hook → done` whose webhook node calls `url`.
fn webhook_flow(name: &str, url: &str) -> String {
    json!({"format": "cairn.flow/v1", "name": name, "nodes": [
        {"id": "start", "type": "webhook_entry"},
        {"id": "hook", "type": "webhook", "url": url},
        {"id": "done", "type": "exit"}],
        "edges": [{"from": "start", "to": "hook"}, {"from": "hook", "to": "done"}]})
    .to_string()
}

/// The same port on loopback written four ways: literal, by name, as one decimal number, and
/// as an IPv4-mapped IPv6 literal.
fn loopback_urls(hook: &HttpProvider) -> [String; 4] {
    let port = hook.addr.port();
    [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
    ]
}

/// Activates one webhook flow per URL and enters contact `c<i>` into the i-th.
async fn call_each(t: &TestApp, urls: &[String]) {
    for (i, url) in urls.iter().enumerate() {
        let flow = t.activate(&webhook_flow(&format!("Hook {i}"), url)).await;
        enter(t, flow, &format!("c{i}")).await;
    }
    t.settle().await;
}

#[tokio::test]
async fn a_webhook_to_loopback_is_refused_however_written_journaled_failed_and_not_retried() {
    let hook = HttpProvider::start(&[]).await;
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let urls = loopback_urls(&hook);
        call_each(&t, &urls).await;
        t.advance(chrono::TimeDelta::hours(1)).await;

        for (i, url) in urls.iter().enumerate() {
            let contact = format!("c{i}");
            let failed = lines(&t, &contact, "hook", "failed").await;
            assert_eq!(failed.len(), 1, "{url}: {failed:?}");
            let reason = failed[0]["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("refused: ")
                    && reason.ends_with(" is a loopback address (allow it with CAIRN_WEBHOOK_ALLOW)"),
                "{url}: {reason}"
            );
            assert_eq!(lines(&t, &contact, "done", "exited").await.len(), 1, "{url}");
        }
        assert_eq!(
            failed_reason_of_literal(&t).await,
            "refused: 127.0.0.1 is a loopback address (allow it with CAIRN_WEBHOOK_ALLOW)"
        );
        let (_, outbox) = t.get("/api/outbox").await;
        assert!(
            outbox.as_array().unwrap().iter().all(|m| m["status"] == "failed"),
            "{outbox}"
        );
        assert!(hook.received().is_empty(), "the listener got {:?}", hook.received());
        t.stop().await;
    }
}

/// The reason of contact `c0`, whose webhook named `127.0.0.1` itself.
async fn failed_reason_of_literal(t: &TestApp) -> String {
    let failed = lines(t, "c0", "hook", "failed").await;
    failed[0]["reason"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_webhook_to_an_allowed_loopback_cidr_reaches_the_listener() {
    let hook = HttpProvider::start(&[]).await;
    for backend in backends().await {
        let before = hook.received().len();
        let t = TestApp::spawn_with(&backend, tests::service::loopback_webhooks()).await;
        let urls = loopback_urls(&hook);
        call_each(&t, &urls).await;
        for (i, url) in urls.iter().enumerate() {
            assert_eq!(lines(&t, &format!("c{i}"), "hook", "sent").await.len(), 1, "{url}");
        }
        assert_eq!(hook.received().len() - before, 4);
        t.stop().await;
    }
}

#[tokio::test]
async fn an_allowed_host_name_reaches_the_listener_but_its_address_written_out_does_not() {
    let hook = HttpProvider::start(&[]).await;
    for backend in backends().await {
        let before = hook.received().len();
        let providers = ProviderConfig {
            webhook: workers::address::Destinations {
                allow: "localhost".parse().unwrap(),
                own: None,
            },
            ..ProviderConfig::default()
        };
        let t = TestApp::spawn_with(&backend, providers).await;
        let [literal, by_name, ..] = loopback_urls(&hook);
        call_each(&t, &[literal, by_name]).await;
        assert_eq!(lines(&t, "c0", "hook", "failed").await.len(), 1);
        assert_eq!(lines(&t, "c1", "hook", "sent").await.len(), 1);
        assert_eq!(hook.received().len() - before, 1);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_webhook_answered_with_a_redirect_fails_and_the_redirect_is_not_followed() {
    let hook = HttpProvider::start(&[]).await;
    let target = hook.url("/hook");
    let redirect = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { axum::response::Redirect::temporary(&target) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, redirect).await.unwrap() });
    for backend in backends().await {
        let t = TestApp::spawn_with(&backend, tests::service::loopback_webhooks()).await;
        call_each(&t, &[format!("http://127.0.0.1:{port}/start")]).await;
        let failed = lines(&t, "c0", "hook", "failed").await;
        assert!(
            failed[0]["reason"].as_str().unwrap().starts_with("HTTP 307"),
            "{failed:?}"
        );
        assert!(hook.received().is_empty(), "the redirect was followed");
        t.stop().await;
    }
}
