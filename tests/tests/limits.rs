//! Limits on what flow data can make Cairn do: templates that would run for ever or render
//! megabytes fail their own send and nobody else's.

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
