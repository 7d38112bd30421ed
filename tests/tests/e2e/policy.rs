//! The send policy in the service, on every backend: windows in the contact's zone (at the
//! step and again at delivery), bounces that suppress an address, and caps across flows.

use chrono::TimeDelta;
use serde_json::json;
use tests::fakes::HttpProvider;
use tests::service::{HttpEndpoint, ProviderConfig, TestApp, backends, eventually};

/// Ann's phone is Estonian: her zone is Europe/Tallinn (UTC+2 in winter), from the phone.
const ANN: &str = r#"{"contact": {"id": "c1", "email": "ann@example.com", "phone": "+37255512345"}}"#;

fn sms_to(provider: &HttpProvider) -> ProviderConfig {
    ProviderConfig {
        sms: Some(HttpEndpoint {
            url: provider.url("/sms"),
            token: None,
        }),
        ..ProviderConfig::default()
    }
}

fn policy(doc: serde_json::Value) -> flows::Policy {
    flows::Policy::from_json(&doc.to_string()).unwrap()
}

fn one_send(name: &str, node: serde_json::Value) -> String {
    json!({"format": "cairn.flow/v1", "name": name, "nodes": [
        {"id": "start", "type": "webhook_entry"}, node, {"id": "done", "type": "exit"}],
        "edges": [{"from": "start", "to": node["id"]}, {"from": node["id"], "to": "done"}]})
    .to_string()
}

async fn activate(t: &TestApp, flow: &str) -> i64 {
    let (status, created) = t.post("/api/flows", flow).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    t.post(&format!("/api/flows/{id}/activate"), "").await;
    id
}

#[tokio::test]
async fn an_sms_outside_the_window_waits_for_it_in_the_contacts_zone() {
    for backend in backends().await {
        let sms = HttpProvider::start(&[]).await;
        let p = policy(json!({"channels": {"sms": {"window": {"start": "12:00", "end": "20:00"}}}}));
        let t = TestApp::spawn_policy(&backend, sms_to(&sms), p).await;
        let flow = activate(
            &t,
            &one_send("Text", json!({"id": "text", "type": "send_sms", "text": "Hi"})),
        )
        .await;
        // 08:00Z is 10:00 in Tallinn: two hours before the window opens.
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        assert_eq!(
            t.journal("c1").await,
            ["start entered", "text deferred"],
            "{}",
            backend.name
        );
        assert!(sms.received().is_empty());
        let (_, journal) = t.get("/api/contacts/c1/journal").await;
        let deferred = &journal[1];
        assert_eq!(deferred["until"], "2026-12-30T10:00:00Z");
        assert_eq!(deferred["zone"], "Europe/Tallinn");
        assert_eq!(deferred["zone_source"], "phone");
        let (_, contact) = t.get("/api/contacts/c1").await;
        assert_eq!(contact["timezone"], "Europe/Tallinn");
        assert_eq!(contact["timezone_source"], "phone");
        assert_eq!(contact["country"], "EE");

        t.advance(TimeDelta::minutes(119)).await;
        assert!(sms.received().is_empty(), "{}: not a minute early", backend.name);
        t.advance(TimeDelta::minutes(1)).await;
        assert_eq!(sms.received().len(), 1, "{}", backend.name);
        // `sent` is journaled when the provider accepts, after the step that queued it.
        assert_eq!(
            t.journal("c1").await,
            ["start entered", "text deferred", "done exited", "text sent"]
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_message_delayed_past_its_window_is_held_at_delivery_not_sent_late() {
    for backend in backends().await {
        // The provider is down for the first attempt; the retry comes after the window closed.
        let sms = HttpProvider::start(&[503]).await;
        let p = policy(json!({"channels": {"sms": {"window": {"start": "09:00", "end": "10:01"}}}}));
        let t = TestApp::spawn_policy(&backend, sms_to(&sms), p).await;
        let flow = activate(
            &t,
            &one_send("Text", json!({"id": "text", "type": "send_sms", "text": "Hi"})),
        )
        .await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        assert_eq!(sms.received().len(), 1, "the first attempt, inside the window");
        t.advance(TimeDelta::seconds(90)).await;
        assert_eq!(
            sms.received().len(),
            1,
            "{}: no attempt at 10:01:30 local",
            backend.name
        );
        let (_, journal) = t.get("/api/contacts/c1/journal").await;
        let last = journal.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["action"], "deferred", "{journal}");
        assert_eq!(last["until"], "2026-12-31T07:00:00Z", "09:00 tomorrow in Tallinn");
        assert!(last["reason"].as_str().unwrap().contains("at delivery"), "{last}");
        t.clock.advance(TimeDelta::hours(23));
        t.settle().await;
        assert_eq!(sms.received().len(), 2, "{}", backend.name);
        assert!(t.journal("c1").await.contains(&"text sent".to_string()));
        t.stop().await;
    }
}

#[tokio::test]
async fn an_unreachable_number_is_suppressed_for_every_later_send() {
    for backend in backends().await {
        let sms = HttpProvider::start(&[410]).await;
        let t = TestApp::spawn_policy(&backend, sms_to(&sms), flows::Policy::default()).await;
        let flow = activate(
            &t,
            &one_send("Text", json!({"id": "text", "type": "send_sms", "text": "Hi"})),
        )
        .await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        let (_, journal) = t.get("/api/contacts/c1/journal").await;
        let failed = journal
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["action"] == "failed")
            .unwrap();
        assert!(failed["reason"].as_str().unwrap().contains("suppressed"), "{failed}");
        let (_, contact) = t.get("/api/contacts/c1").await;
        assert!(contact["suppressed"]["+37255512345"].is_string(), "{contact}");

        // The journey ended; a second entry meets the suppression before any provider call.
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        assert_eq!(sms.received().len(), 1, "{}", backend.name);
        let journal = t.journal("c1").await;
        assert_eq!(journal.last().map(String::as_str), Some("done exited"));
        assert!(journal.contains(&"text skipped".to_string()), "{journal:?}");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_frequency_cap_counts_the_messages_of_every_flow() {
    for backend in backends().await {
        let p = policy(json!({"channels": {"email": {"cap": {"max": 1, "per": "7d"}}}}));
        let t = TestApp::spawn_policy(&backend, ProviderConfig::default(), p).await;
        let mail = |id: &str| json!({"id": id, "type": "send_email", "subject": "s", "html": "<p>h</p>"});
        let first = activate(&t, &one_send("First", mail("news"))).await;
        let second = activate(&t, &one_send("Second", mail("offer"))).await;
        t.post(&format!("/api/flows/{first}/entries"), ANN).await;
        t.settle().await;
        t.post(&format!("/api/flows/{second}/entries"), ANN).await;
        t.settle().await;
        let journal = t.journal("c1").await;
        assert!(journal.contains(&"news sent".to_string()), "{journal:?}");
        assert!(
            journal.contains(&"offer skipped".to_string()),
            "{}: {journal:?}",
            backend.name
        );
        assert_eq!(t.outbox().await, ["email ann@example.com"]);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_flow_naming_an_unknown_calendar_is_refused_with_the_node_and_field() {
    let backend = &backends().await[0];
    let p = policy(json!({"calendars": {"shutdown": ["2026-12-24"]}}));
    let t = TestApp::spawn_policy(backend, ProviderConfig::default(), p).await;
    let flow = one_send(
        "Pause",
        json!({"id": "pause", "type": "holiday_pause", "calendar": "closed"}),
    );
    let (status, body) = t.post("/api/flows", &flow).await;
    assert_eq!(status, 422, "{body}");
    let detail = &body["error"]["details"][0];
    assert_eq!(detail["node"], "pause");
    assert_eq!(detail["field"], "calendar");
    assert!(detail["message"].as_str().unwrap().contains("'closed'"), "{body}");
    let known = one_send(
        "Pause",
        json!({"id": "pause", "type": "holiday_pause", "calendar": "shutdown"}),
    );
    assert_eq!(t.post("/api/flows", &known).await.0, 201);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_workers_hold_a_message_whose_window_closed_while_it_waited() {
    let Some(url) = tests::service::redis_url().await else {
        return;
    };
    let all = backends().await;
    // PostgreSQL + Redis when both are there: the scale-out set-up.
    let backend = all.last().unwrap();
    let sms = HttpProvider::start(&[503]).await;
    let p = policy(json!({"channels": {"sms": {"window": {"start": "09:00", "end": "10:01"}}}}));
    let queues = orchestrator::app::QueueMode::Redis(url);
    let t = TestApp::start(backend, sms_to(&sms), queues, true, p).await;
    let flow = activate(
        &t,
        &one_send("Text", json!({"id": "text", "type": "send_sms", "text": "Hi"})),
    )
    .await;
    t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
    eventually("the first attempt recorded as a retry", async || {
        let row = orchestrator::db::one(&t.app.state.services.db, "SELECT attempts FROM outbox_later", vec![]).await;
        row.ok()
            .flatten()
            .is_some_and(|r| orchestrator::db::col::<i64>(&r, 0).ok() == Some(1))
    })
    .await;
    assert_eq!(sms.received().len(), 1);
    // The retry is due 2 s later; by then (10:01:30 in Tallinn) the window has closed, so the
    // worker defers it instead of sending.
    t.clock.advance(TimeDelta::seconds(90));
    eventually("the deferral at delivery", async || {
        let (_, journal) = t.get("/api/contacts/c1/journal").await;
        journal
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["action"] == "deferred" && l["reason"].as_str().is_some_and(|r| r.contains("at delivery")))
    })
    .await;
    assert_eq!(
        sms.received().len(),
        1,
        "{}: nothing sent outside the window",
        backend.name
    );
    t.clock.advance(TimeDelta::hours(23));
    eventually("the send when the window opens", async || sms.received().len() == 2).await;
    eventually("sent", async || {
        t.journal("c1").await.contains(&"text sent".to_string())
    })
    .await;
    t.stop().await;
}

#[tokio::test]
async fn the_service_refuses_to_start_with_a_policy_missing_a_calendar_an_active_flow_uses() {
    let backend = &backends().await[0];
    let with = policy(json!({"calendars": {"shutdown": ["2026-12-24"]}}));
    let t = TestApp::spawn_policy(backend, ProviderConfig::default(), with).await;
    activate(
        &t,
        &one_send(
            "Pause",
            json!({"id": "pause", "type": "holiday_pause", "calendar": "shutdown"}),
        ),
    )
    .await;
    t.stop().await;
    let config = orchestrator::app::ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: backend.url.clone(),
        policy: flows::Policy::default(),
        policy_source: None,
        background: false,
        providers: ProviderConfig::default(),
        public_url: None,
        allowed_hosts: Vec::new(),
        secret: Some("s".into()),
        delivery_lease: orchestrator::runtime::delivery::LEASE,
        queues: orchestrator::app::QueueMode::Inline,
        api_token: None,
        admin: None,
        http: Default::default(),
    };
    let clock = orchestrator::clock::ManualClock::new(tests::service::START.parse().unwrap());
    let Err(e) = orchestrator::app::App::start(config, std::sync::Arc::new(clock)).await else {
        panic!("the service started without the calendar its active flow needs");
    };
    let message = format!("{e:#}");
    assert!(
        message.contains("'Pause'") && message.contains("'shutdown'"),
        "{message}"
    );
}
