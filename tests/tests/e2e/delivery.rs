//! Real delivery: email through a real SMTP server, SMS and webhooks to an HTTP provider,
//! retries on transient failures, permanent failures journaled, one delivery per message.

use chrono::TimeDelta;
use serde_json::json;
use tests::fakes::{HttpProvider, SmtpServer};
use tests::service::{HttpEndpoint, ProviderConfig, TestApp, backends, eventually};

const ANN: &str =
    r#"{"contact": {"id": "c1", "email": "ann@example.com", "phone": "+37255512345", "first_name": "Ann"}}"#;

fn providers(smtp: &SmtpServer, sms: &HttpProvider) -> ProviderConfig {
    ProviderConfig {
        smtp_url: Some(smtp.url()),
        email_from: "Shop <news@shop.example>".into(),
        sms: Some(HttpEndpoint {
            url: sms.url("/v1/sms"),
            token: Some("t0k".into()),
        }),
        ..ProviderConfig::default()
    }
}

#[tokio::test]
async fn welcome_email_goes_out_over_smtp_and_the_sms_fallback_over_http() {
    let Some(smtp) = SmtpServer::start(0) else { return };
    let sms = HttpProvider::start(&[]).await;
    let backend = &backends().await[0];
    let t = TestApp::spawn_with(backend, providers(&smtp, &sms)).await;
    let flow = t.activate_template("welcome").await;
    t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
    t.settle().await;
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Subject: Hi Ann"), "{}", mails[0]);
    assert!(mails[0].contains("Message-ID: <1.hello@cairn>"), "{}", mails[0]);
    assert!(mails[0].contains("From: Shop <news@shop.example>"), "{}", mails[0]);
    assert!(mails[0].contains("Welcome aboard, Ann!"), "{}", mails[0]);
    assert!(sms.received().is_empty());

    t.advance(TimeDelta::hours(2)).await;
    let received = sms.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/v1/sms");
    assert_eq!(received[0].idempotency_key.as_deref(), Some("1.nudge"));
    assert_eq!(received[0].authorization.as_deref(), Some("Bearer t0k"));
    assert_eq!(
        received[0].body,
        json!({"id": "1.nudge", "to": "+37255512345", "text": "Did you see our email, Ann?"})
    );
    let (_, outbox) = t.get("/api/outbox").await;
    let providers: Vec<&str> = outbox
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["http", "smtp"]);
    t.stop().await;
}

#[tokio::test]
async fn smtp_4xx_then_2xx_delivers_the_email_exactly_once() {
    let Some(smtp) = SmtpServer::start(1) else { return };
    let sms = HttpProvider::start(&[]).await;
    let backend = &backends().await[0];
    let t = TestApp::spawn_with(backend, providers(&smtp, &sms)).await;
    let flow = t.activate_template("welcome").await;
    t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
    t.settle().await;
    assert!(smtp.messages().is_empty(), "the first attempt got 451");
    assert!(!t.journal("c1").await.contains(&"hello sent".to_string()));
    let (_, outbox) = t.get("/api/outbox").await;
    assert_eq!(outbox[0]["status"], "queued");

    t.advance(TimeDelta::seconds(2)).await;
    assert_eq!(smtp.messages().len(), 1, "delivered on the retry");
    t.advance(TimeDelta::minutes(10)).await;
    assert_eq!(smtp.messages().len(), 1, "and only once");
    let journal = t.journal("c1").await;
    assert_eq!(journal.iter().filter(|l| *l == "hello sent").count(), 1, "{journal:?}");
    t.stop().await;
}

#[tokio::test]
async fn an_sms_provider_5xx_is_retried_with_the_same_idempotency_key() {
    let Some(smtp) = SmtpServer::start(0) else { return };
    let sms = HttpProvider::start(&[503, 429]).await;
    let backend = &backends().await[0];
    let t = TestApp::spawn_with(backend, providers(&smtp, &sms)).await;
    let flow = t.activate_template("welcome").await;
    t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
    t.settle().await;
    t.advance(TimeDelta::hours(2)).await;
    assert_eq!(sms.received().len(), 1);
    t.advance(TimeDelta::seconds(2)).await;
    t.advance(TimeDelta::seconds(4)).await;
    let received = sms.received();
    assert_eq!(received.len(), 3, "503, 429, then 200");
    assert!(received.iter().all(|r| r.idempotency_key.as_deref() == Some("1.nudge")));
    let journal = t.journal("c1").await;
    assert_eq!(journal.iter().filter(|l| *l == "nudge sent").count(), 1, "{journal:?}");
    t.stop().await;
}

#[tokio::test]
async fn a_provider_4xx_fails_the_message_for_good_with_the_reason() {
    let Some(smtp) = SmtpServer::start(0) else { return };
    let sms = HttpProvider::start(&[400]).await;
    let backend = &backends().await[0];
    let t = TestApp::spawn_with(backend, providers(&smtp, &sms)).await;
    let flow = t.activate_template("welcome").await;
    t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
    t.settle().await;
    t.advance(TimeDelta::hours(3)).await;
    assert_eq!(sms.received().len(), 1, "no retry after a 400");
    let (_, journal) = t.get("/api/contacts/c1/journal").await;
    let failed = journal
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["action"] == "failed")
        .expect("a failed line");
    assert_eq!(failed["node"], "nudge");
    assert!(failed["reason"].as_str().unwrap().starts_with("HTTP 400"), "{failed}");
    let (_, outbox) = t.get("/api/outbox").await;
    assert_eq!(outbox[0]["status"], "failed");
    t.stop().await;
}

#[tokio::test]
async fn webhook_nodes_call_their_url_with_an_idempotency_key() {
    let hook = HttpProvider::start(&[]).await;
    for backend in backends().await {
        let t = TestApp::spawn_with(&backend, tests::service::loopback_webhooks()).await;
        let url = hook.url("/crm/{{contact.id}}");
        let flow = json!({"format": "cairn.flow/v1", "name": "Hook", "nodes": [
            {"id": "start", "type": "webhook_entry"},
            {"id": "crm", "type": "webhook", "url": url, "method": "PUT", "body": "{\"name\": {{contact.first_name}}}"},
            {"id": "done", "type": "exit"}],
            "edges": [{"from": "start", "to": "crm"}, {"from": "crm", "to": "done"}]});
        let id = t.activate(&flow.to_string()).await;
        t.post(&format!("/api/flows/{id}/entries"), ANN).await;
        t.settle().await;
        let last = hook.received().pop().expect("the webhook was called");
        assert_eq!((last.method.as_str(), last.path.as_str()), ("PUT", "/crm/c1"));
        assert_eq!(last.body, json!({"name": "Ann"}));
        assert!(last.idempotency_key.unwrap().ends_with(".crm"));
        assert!(
            t.journal("c1").await.contains(&"crm sent".to_string()),
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

/// Decodes a quoted-printable body as a mail client would (soft breaks, `=XX` bytes).
fn unquote(mail: &str) -> String {
    let joined = mail.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token of the first `/t/<kind>/` link in a raw email.
fn tracking_token(mail: &str, kind: &str) -> String {
    let mail = &unquote(mail);
    let marker = format!("https://cairn.example/t/{kind}/");
    let start = mail.find(&marker).unwrap_or_else(|| panic!("no {marker} in {mail}")) + marker.len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
        .collect()
}

#[tokio::test]
async fn the_open_pixel_counts_as_opened_and_a_forged_token_records_nothing() {
    let Some(smtp) = SmtpServer::start(0) else { return };
    let sms = HttpProvider::start(&[]).await;
    let backend = &backends().await[0];
    let t = TestApp::spawn_with(backend, providers(&smtp, &sms)).await;
    let flow = t.activate_template("welcome").await;
    t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
    t.settle().await;
    let mail = smtp.messages().remove(0);
    let token = tracking_token(&mail, "o");

    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let response = t.get_raw(&format!("/t/o/{forged}")).await;
    assert_eq!(response.status(), 404);
    t.settle().await;
    assert!(
        !t.journal("c1").await.contains(&"read event".to_string()),
        "a forged token records nothing"
    );

    let response = t.get_raw(&format!("/t/o/{token}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/gif");
    t.settle().await;
    t.advance(TimeDelta::hours(3)).await;
    let journal = t.journal("c1").await;
    assert!(journal.contains(&"read event".to_string()), "{journal:?}");
    assert!(sms.received().is_empty(), "opened: no SMS");
    t.stop().await;
}

#[tokio::test]
async fn a_click_link_redirects_to_the_original_url_and_records_the_click() {
    let Some(smtp) = SmtpServer::start(0) else { return };
    let sms = HttpProvider::start(&[]).await;
    let backend = &backends().await[0];
    let t = TestApp::spawn_with(backend, providers(&smtp, &sms)).await;
    let flow = json!({"format": "cairn.flow/v1", "name": "Click", "nodes": [
        {"id": "start", "type": "webhook_entry"},
        {"id": "offer", "type": "send_email", "subject": "Offer", "html": "<p><a href=\"https://shop.example/offer?c={{contact.id}}&x=1\">Go</a></p>"},
        {"id": "click", "type": "wait_for_event", "event": "clicked", "message": "offer", "timeout": "1d"},
        {"id": "yes", "type": "add_tag", "tag": "clicked_offer"},
        {"id": "done", "type": "exit"}],
        "edges": [{"from": "start", "to": "offer"}, {"from": "offer", "to": "click"},
                  {"from": "click", "to": "yes", "when": "event"}, {"from": "click", "to": "done", "when": "timeout"},
                  {"from": "yes", "to": "done"}]});
    let id = t.activate(&flow.to_string()).await;
    t.post(&format!("/api/flows/{id}/entries"), ANN).await;
    t.settle().await;
    let mail = smtp.messages().remove(0);
    assert!(
        !unquote(&mail).contains("href=\"https://shop.example"),
        "links are rewritten: {mail}"
    );
    let token = tracking_token(&mail, "c");
    let response = t.get_raw(&format!("/t/c/{token}")).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "https://shop.example/offer?c=c1&x=1");
    t.settle().await;
    let journal = t.journal("c1").await;
    assert!(
        journal.contains(&"click event".to_string()) && journal.contains(&"yes tag_added".to_string()),
        "{journal:?}"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_travel_through_the_queues_to_workers_and_back() {
    use orchestrator::app::QueueMode;
    let Some(smtp) = SmtpServer::start(0) else { return };
    let sms = HttpProvider::start(&[503]).await;
    let mut modes = vec![("sqlite queues", QueueMode::Embedded)];
    if let Some(url) = tests::service::redis_url().await {
        modes.push(("redis queues", QueueMode::Redis(url)));
    }
    for (name, mode) in modes {
        let backend = &backends().await[0];
        let t = TestApp::spawn_full(backend, providers(&smtp, &sms), mode, true).await;
        let before = smtp.messages().len();
        let flow = json!({"format": "cairn.flow/v1", "name": "Queued", "nodes": [
            {"id": "start", "type": "webhook_entry"},
            {"id": "mail", "type": "send_email", "subject": "Queued {{contact.first_name}}", "html": "<p>Hi</p>"},
            {"id": "text", "type": "send_sms", "text": "Queued SMS"},
            {"id": "done", "type": "exit"}],
            "edges": [{"from": "start", "to": "mail"}, {"from": "mail", "to": "text"}, {"from": "text", "to": "done"}]});
        let id = t.activate(&flow.to_string()).await;
        t.post(&format!("/api/flows/{id}/entries"), ANN).await;
        eventually("the email", async || smtp.messages().len() > before).await;
        // The SMS provider answers 503 first: the retry goes back through the queue 2 s later
        // on the service's clock, which this loop keeps moving.
        eventually(&format!("{name}: both messages journaled as sent"), async || {
            t.clock.advance(TimeDelta::seconds(1));
            let journal = t.journal("c1").await;
            journal.contains(&"mail sent".to_string()) && journal.contains(&"text sent".to_string())
        })
        .await;
        let journal = t.journal("c1").await;
        assert_eq!(
            journal.iter().filter(|l| l.ends_with(" sent")).count(),
            2,
            "{name}: {journal:?}"
        );
        assert_eq!(smtp.messages().len(), before + 1, "{name}: one email");
        if name == "sqlite queues" {
            // Finished jobs do not pile up in the SQLite file (they slowed every acknowledgement).
            eventually("finished jobs swept from the embedded queue", async || {
                let left = orchestrator::db::one(&t.app.state.services.db, "SELECT COUNT(*) FROM Jobs", vec![])
                    .await
                    .unwrap()
                    .unwrap();
                orchestrator::db::col::<i64>(&left, 0).unwrap() == 0
            })
            .await;
        }
        t.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_whose_outcome_the_queue_refuses_is_not_sent_again() {
    use orchestrator::db::exec;
    let sms = HttpProvider::start(&[]).await;
    let backend = &backends().await[0];
    let config = ProviderConfig {
        sms: Some(HttpEndpoint {
            url: sms.url("/v1/sms"),
            token: None,
        }),
        ..ProviderConfig::default()
    };
    let t = TestApp::spawn_full(backend, config, orchestrator::app::QueueMode::Embedded, true).await;
    // The embedded outcome queue refuses every outcome until the trigger goes.
    exec(
        &t.app.state.services.db,
        "CREATE TRIGGER refuse_outcomes BEFORE INSERT ON Jobs WHEN NEW.job_type = 'cairn.outcomes' \
         BEGIN SELECT RAISE(ABORT, 'outcome queue unavailable'); END",
        vec![],
    )
    .await
    .unwrap();
    let id = t.activate(&sms_flow().to_string()).await;
    t.post(&format!("/api/flows/{id}/entries"), ANN).await;
    eventually("the SMS at the provider", async || !sms.received().is_empty()).await;
    // Ten polls of the queue: a failed send job would have been run again by now.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(!t.journal("c1").await.contains(&"text sent".to_string()));
    exec(&t.app.state.services.db, "DROP TRIGGER refuse_outcomes", vec![])
        .await
        .unwrap();
    eventually("the SMS journaled as sent", async || {
        t.journal("c1").await.contains(&"text sent".to_string())
    })
    .await;
    assert_eq!(sms.received().len(), 1, "the SMS went out once");
    t.stop().await;
}

#[tokio::test]
async fn a_send_never_outlives_its_lease() {
    let backend = &backends().await[0];
    let config = ProviderConfig {
        sms: Some(HttpEndpoint {
            url: tests::fakes::silent_server("/sms").await,
            token: None,
        }),
        ..ProviderConfig::default()
    };
    let mut t = TestApp::spawn_with(backend, config).await;
    // A 3 s lease: the silent provider's 15 s timeout would outlast it, so the attempt is cut
    // at the lease (less a second for recording) and counted as a retry. The engine leases the
    // row for the hand-over to delivery, so the lease is the handoff's.
    let handoff = std::sync::Arc::new(orchestrator::runtime::handoff::Handoff::new(16, TimeDelta::seconds(3)));
    t.app.engine.handoff = Some(handoff.clone());
    t.app.delivery.handoff = Some(handoff);
    t.app.delivery.lease = TimeDelta::seconds(3);
    let id = t.activate(&sms_flow().to_string()).await;
    t.post(&format!("/api/flows/{id}/entries"), ANN).await;
    let started = std::time::Instant::now();
    t.app.engine.drain().await.unwrap();
    t.app.delivery.run_once(Vec::new()).await.unwrap();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(4), "the attempt took {took:?}");
    let row = orchestrator::db::one(&t.app.state.services.db, "SELECT attempts FROM outbox_later", vec![])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orchestrator::db::col::<i64>(&row, 0).unwrap(), 1, "counted as a retry");
    t.stop().await;
}

#[tokio::test]
async fn a_late_outcome_of_an_expired_lease_does_not_undo_the_next_attempt() {
    late_outcome_then_accepted(false).await;
}

/// Outcomes from the queue are recorded in batches: a stale outcome must not use up the row so
/// that the valid one after it in the same batch is dropped (and the message sent again).
#[tokio::test]
async fn a_stale_outcome_does_not_hide_a_valid_one_in_the_same_batch() {
    late_outcome_then_accepted(true).await;
}

async fn late_outcome_then_accepted(same_batch: bool) {
    use orchestrator::store::outbox;
    use workers::providers::Outcome;
    for backend in backends().await {
        let t = one_queued_sms(&backend).await;
        let db = &t.app.state.services.db;
        let lease = TimeDelta::seconds(90);
        // A first attempt leases the row, then goes quiet past its lease; a second attempt
        // leases it again and the provider accepts.
        let first = outbox::lease_outbox(db, t.now(), t.now() + lease, 10).await.unwrap();
        t.clock.advance(TimeDelta::seconds(91));
        let second = outbox::lease_outbox(db, t.now(), t.now() + lease, 10).await.unwrap();
        assert_eq!((first.len(), second.len()), (1, 1));
        // The first attempt's late "retry" must not free the row or count an attempt.
        let retry = Outcome::Retry {
            provider: "http",
            reason: "late".into(),
        };
        let accepted = Outcome::Accepted {
            provider: "outbox",
            reference: None,
        };
        let (late, valid) = ((first[0].clone().into(), retry), (second[0].clone().into(), accepted));
        if same_batch {
            t.app.delivery.record(&[late, valid]).await.unwrap();
        } else {
            t.app.delivery.record(&[late]).await.unwrap();
            t.app.delivery.record(&[valid]).await.unwrap();
        }
        let journal = t.journal("c1").await;
        assert!(
            journal.contains(&"text sent".to_string()),
            "{}: {journal:?}",
            backend.name
        );
        assert!(
            outbox::lease_outbox(db, t.now() + TimeDelta::hours(1), t.now() + TimeDelta::hours(2), 10)
                .await
                .unwrap()
                .is_empty(),
            "{}: nothing left to send again",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_message_retried_out_of_attempts_fails_for_good_and_leaves_the_outbox() {
    use orchestrator::store::outbox;
    use workers::providers::Outcome;
    for backend in backends().await {
        let t = one_queued_sms(&backend).await;
        let db = &t.app.state.services.db;
        let last = orchestrator::runtime::delivery::MAX_ATTEMPTS - 1;
        orchestrator::db::exec(db, "UPDATE outbox SET attempts = $1", vec![last.into()])
            .await
            .unwrap();
        let leased = outbox::lease_outbox(db, t.now(), t.now() + TimeDelta::seconds(90), 10)
            .await
            .unwrap();
        assert_eq!(leased.len(), 1);
        // An "accepted" from an earlier attempt is stale and changes nothing.
        let mut earlier = leased[0].clone();
        earlier.attempts -= 1;
        let accepted = Outcome::Accepted {
            provider: "outbox",
            reference: None,
        };
        let retry = Outcome::Retry {
            provider: "http",
            reason: "503".into(),
        };
        t.app
            .delivery
            .record(&[(earlier.into(), accepted), (leased[0].clone().into(), retry)])
            .await
            .unwrap();
        let journal = t.journal("c1").await;
        assert!(
            journal.contains(&"text failed".to_string()),
            "{}: {journal:?}",
            backend.name
        );
        assert!(
            !journal.contains(&"text sent".to_string()),
            "{}: {journal:?}",
            backend.name
        );
        assert_eq!(outbox_rows(db).await, 0, "{}", backend.name);
        t.stop().await;
    }
}

/// A row waiting for its retry is out of the outbox the lease scans (`outbox_later`); the
/// next-due probe still sees it, and at its time the lease takes it with its attempts counted.
#[tokio::test]
async fn a_retried_message_waits_apart_and_is_leased_again_when_due() {
    use orchestrator::store::outbox;
    use workers::providers::Outcome;
    for backend in backends().await {
        let t = one_queued_sms(&backend).await;
        let db = &t.app.state.services.db;
        let lease = TimeDelta::seconds(90);
        let leased = outbox::lease_outbox(db, t.now(), t.now() + lease, 10).await.unwrap();
        let retry = Outcome::Retry {
            provider: "http",
            reason: "503".into(),
        };
        t.app
            .delivery
            .record(&[(leased[0].clone().into(), retry)])
            .await
            .unwrap();
        let due = t.now() + orchestrator::runtime::delivery::backoff(1);
        assert_eq!(
            outbox::next_outbox_due(db).await.unwrap(),
            Some(due),
            "{}",
            backend.name
        );
        let early = due - TimeDelta::milliseconds(1);
        assert!(
            outbox::lease_outbox(db, early, early + lease, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}: not before its time",
            backend.name
        );
        let again = outbox::lease_outbox(db, due, due + lease, 10).await.unwrap();
        assert_eq!(again.len(), 1, "{}", backend.name);
        assert_eq!(
            (again[0].outbox_id, again[0].attempts, again[0].message.id.as_str()),
            (leased[0].outbox_id, 1, leased[0].message.id.as_str()),
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

/// The engine leases the outbox rows of the messages it hands to this process's delivery, so a
/// second process delivering from the same database leaves them alone, and this one sends them
/// once, without leasing them again.
#[tokio::test]
async fn a_message_handed_over_in_memory_is_sent_once_and_no_other_process_takes_it() {
    use orchestrator::store::outbox;
    for backend in backends().await {
        let (t, sms) = one_handed_over_sms(&backend).await;
        let db = &t.app.state.services.db;
        let other = outbox::lease_outbox(db, t.now(), t.now() + TimeDelta::seconds(90), 10)
            .await
            .unwrap();
        assert!(other.is_empty(), "{}: another process leased {other:?}", backend.name);
        assert_eq!(t.app.delivery.drain().await.unwrap(), 1, "{}", backend.name);
        assert_eq!(sms.received().len(), 1, "{}", backend.name);
        assert!(
            t.journal("c1").await.contains(&"text sent".to_string()),
            "{}",
            backend.name
        );
        assert_eq!(outbox_rows(db).await, 0, "{}", backend.name);
        t.stop().await;
    }
}

/// What a process held in memory dies with it; the row's lease runs out and any delivery
/// (here a fresh one, with nothing handed over) sends the message then, once.
#[tokio::test]
async fn a_message_handed_over_to_a_process_that_died_is_sent_when_its_lease_runs_out() {
    for backend in backends().await {
        let (mut t, sms) = one_handed_over_sms(&backend).await;
        t.app.delivery.handoff = None;
        assert_eq!(
            t.app.delivery.drain().await.unwrap(),
            0,
            "{}: still leased",
            backend.name
        );
        t.clock.advance(orchestrator::runtime::delivery::LEASE);
        assert_eq!(t.app.delivery.drain().await.unwrap(), 1, "{}", backend.name);
        assert_eq!(sms.received().len(), 1, "{}", backend.name);
        assert_eq!(outbox_rows(&t.app.state.services.db).await, 0, "{}", backend.name);
        t.stop().await;
    }
}

/// A handed-over message whose lease ran out while it waited is not sent from memory (another
/// process may have leased it by then); it goes back to the outbox and is sent from there, once.
#[tokio::test]
async fn a_handed_over_message_whose_lease_ran_out_while_it_waited_is_sent_once_from_the_outbox() {
    for backend in backends().await {
        let (t, sms) = one_handed_over_sms(&backend).await;
        t.clock.advance(orchestrator::runtime::delivery::LEASE);
        t.app.delivery.drain().await.unwrap();
        assert_eq!(sms.received().len(), 1, "{}", backend.name);
        let journal = t.journal("c1").await;
        let sent = journal.iter().filter(|l| *l == "text sent").count();
        assert_eq!(sent, 1, "{}: {journal:?}", backend.name);
        assert_eq!(outbox_rows(&t.app.state.services.db).await, 0, "{}", backend.name);
        t.stop().await;
    }
}

/// Rows in the outbox, waiting or not.
async fn outbox_rows(db: &sea_orm::DatabaseConnection) -> i64 {
    let left = orchestrator::db::one(
        db,
        "SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM outbox_later)",
        vec![],
    )
    .await
    .unwrap()
    .unwrap();
    orchestrator::db::col::<i64>(&left, 0).unwrap()
}

/// A service on `backend` whose outbox holds one SMS: Ann's, from [`sms_flow`], not leased.
async fn one_queued_sms(backend: &tests::service::Backend) -> TestApp {
    let mut t = TestApp::spawn(backend).await;
    // As with queues: the row waits in the outbox for a lease (nothing handed over in memory).
    t.app.engine.handoff = None;
    t.app.delivery.handoff = None;
    let id = t.activate(&sms_flow().to_string()).await;
    t.post(&format!("/api/flows/{id}/entries"), ANN).await;
    t.app.engine.drain().await.unwrap();
    t
}

/// A service on `backend` whose engine queued Ann's SMS from [`sms_flow`] and handed it to its
/// delivery in memory (its outbox row leased), with the SMS provider that will receive it.
async fn one_handed_over_sms(backend: &tests::service::Backend) -> (TestApp, HttpProvider) {
    let sms = HttpProvider::start(&[]).await;
    let config = ProviderConfig {
        sms: Some(HttpEndpoint {
            url: sms.url("/sms"),
            token: None,
        }),
        ..ProviderConfig::default()
    };
    let t = TestApp::spawn_with(backend, config).await;
    let id = t.activate(&sms_flow().to_string()).await;
    t.post(&format!("/api/flows/{id}/entries"), ANN).await;
    t.app.engine.drain().await.unwrap();
    (t, sms)
}

/// `webhook_entry → send_sms "Hi" → exit`.
fn sms_flow() -> serde_json::Value {
    json!({"format": "cairn.flow/v1", "name": "Text", "nodes": [
        {"id": "start", "type": "webhook_entry"}, {"id": "text", "type": "send_sms", "text": "Hi"},
        {"id": "done", "type": "exit"}],
        "edges": [{"from": "start", "to": "text"}, {"from": "text", "to": "done"}]})
}

/// An SMS provider that answers every request `400` with a body holding a NUL byte.
async fn provider_answering_with_a_nul() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut request).await;
                let body = "bad\0number";
                let answer = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/sms")
}

#[tokio::test]
async fn a_provider_answer_holding_a_nul_byte_fails_the_message_with_its_reason_on_every_backend() {
    let url = provider_answering_with_a_nul().await;
    for backend in backends().await {
        let providers = ProviderConfig {
            sms: Some(HttpEndpoint {
                url: url.clone(),
                token: None,
            }),
            ..ProviderConfig::default()
        };
        let t = TestApp::spawn_with(&backend, providers).await;
        let flow = t
            .activate(
                r#"{"format": "cairn.flow/v1", "name": "Text", "nodes": [
                  {"id": "start", "type": "webhook_entry"},
                  {"id": "text", "type": "send_sms", "text": "Hi"},
                  {"id": "done", "type": "exit"}],
                 "edges": [{"from": "start", "to": "text"}, {"from": "text", "to": "done"}]}"#,
            )
            .await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        let (_, outbox) = t.get("/api/outbox").await;
        assert_eq!(outbox[0]["status"], "failed", "{}: {outbox}", backend.name);
        let (_, journal) = t.get("/api/contacts/c1/journal").await;
        let failed = journal
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["action"] == "failed")
            .unwrap_or_else(|| panic!("{}: a failed line in {journal}", backend.name));
        assert!(
            failed["reason"]
                .as_str()
                .unwrap()
                .starts_with("HTTP 400 Bad Request: bad"),
            "{}: {failed}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_outcome_that_cannot_be_recorded_sets_its_message_aside_and_the_others_are_recorded_and_sent_once() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t
            .activate(
                r#"{"format": "cairn.flow/v1", "name": "Mail", "nodes": [
                  {"id": "start", "type": "webhook_entry"},
                  {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"},
                  {"id": "done", "type": "exit"}],
                 "edges": [{"from": "start", "to": "hello"}, {"from": "hello", "to": "done"}]}"#,
            )
            .await;
        // The database refuses to record that c2's email was sent (as it would a value it
        // cannot store): a trigger, so the refusal comes from the database itself.
        let poison: &[&str] = if backend.name == "postgres" {
            &[
                "CREATE FUNCTION refuse_sent() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'refused by the database' USING ERRCODE = '23514'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_c2 BEFORE UPDATE ON messages FOR EACH ROW \
                 WHEN (NEW.recipient = 'c2@example.com' AND NEW.status = 'sent') EXECUTE FUNCTION refuse_sent()",
            ]
        } else {
            &["CREATE TRIGGER refuse_c2 BEFORE UPDATE ON messages \
               WHEN NEW.recipient = 'c2@example.com' AND NEW.status = 'sent' \
               BEGIN SELECT RAISE(ABORT, 'refused by the database'); END"]
        };
        for statement in poison {
            sea_orm::ConnectionTrait::execute_unprepared(&t.app.state.services.db, statement)
                .await
                .expect(statement);
        }
        for c in ["c1", "c2", "c3"] {
            let body = json!({"contact": {"id": c, "email": format!("{c}@example.com")}}).to_string();
            t.post(&format!("/api/flows/{flow}/entries"), &body).await;
        }
        t.settle().await;
        // Past every lease: nothing recorded is sent again.
        t.advance(TimeDelta::minutes(10)).await;
        for c in ["c1", "c3"] {
            let sent = t.journal(c).await.iter().filter(|l| *l == "hello sent").count();
            assert_eq!(sent, 1, "{}: {c} is sent once", backend.name);
        }
        let (_, aside) = t.get("/api/set-aside").await;
        assert_eq!(aside.as_array().unwrap().len(), 1, "{}: {aside}", backend.name);
        assert_eq!(aside[0]["kind"], "message", "{}", backend.name);
        assert_eq!(aside[0]["contact"], "c2", "{}", backend.name);
        let reason = aside[0]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("outbox accepted it, but that could not be recorded")
                && reason.contains("refused by the database"),
            "{}: {reason}",
            backend.name
        );
        t.stop().await;
    }
}
