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
