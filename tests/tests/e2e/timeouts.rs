//! A provider that never answers ends the attempt as a retry within the configured timeout.

use std::time::{Duration, Instant};

use flows::{Channel, Content, Outbound};
use tests::fakes::silent_server;
use workers::providers::{HttpEndpoint, Outcome, ProviderConfig, Providers};

fn message(channel: Channel, content: Content, to: &str) -> Outbound {
    Outbound {
        id: "1.n".into(),
        node: "n".into(),
        channel,
        to: to.into(),
        content,
        guard: None,
    }
}

#[tokio::test]
async fn silent_providers_are_retried_not_waited_for() {
    let url = silent_server("").await;
    let addr = url.trim_start_matches("http://");
    let config = ProviderConfig {
        smtp_url: Some(format!("smtp://{addr}")),
        sms: Some(HttpEndpoint {
            url: format!("http://{addr}/sms"),
            token: None,
        }),
        timeout: Duration::from_millis(300),
        ..ProviderConfig::default()
    };
    let providers = Providers::new(&config).unwrap();
    let sms = message(Channel::Sms, Content::Sms { text: "hi".into() }, "+3725550000");
    let email = message(
        Channel::Email,
        Content::Email {
            subject: "s".into(),
            html: "<p>h</p>".into(),
            text: None,
            from: None,
        },
        "ann@example.com",
    );
    for m in [sms, email] {
        let started = Instant::now();
        let outcome = providers.send(&m).await;
        assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_service_whose_engine_waits_on_a_locked_database_still_stops_within_its_grace() {
    use tests::service::{TestApp, backends};
    let backend = backends().await.remove(0);
    let t = TestApp::spawn_full(
        &backend,
        ProviderConfig::default(),
        orchestrator::app::QueueMode::Inline,
        true,
    )
    .await;
    // Another process holds SQLite's writer: every pass of the engine waits for it, then fails.
    let other = orchestrator::db::connect(&backend.url).await.unwrap();
    let held = orchestrator::db::begin_write(&other).await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(&held, "INSERT INTO settings (key, value) VALUES ('held', 'x')")
        .await
        .unwrap();
    t.app.state.services.engine.notify_one();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let finished = t.app.stop_within(Duration::from_secs(1)).await;
    let took = asked.elapsed();
    assert!(!finished, "the engine was still waiting when the grace ran out");
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    held.rollback().await.unwrap();
}
