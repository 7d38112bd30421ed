//! Channel providers and the classification of their answers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flows::{Channel, Content, Outbound};
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;

use crate::address::{Destinations, Refused};

/// An HTTP endpoint of an SMS or push provider.
#[derive(Debug, Clone)]
pub struct HttpEndpoint {
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<String>,
}

/// Which provider serves each channel. `None` means the built-in `outbox` provider.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// `smtp://host:port` (plain), `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host:465` (TLS).
    pub smtp_url: Option<String>,
    /// Sender for emails whose node sets no `from`.
    pub email_from: String,
    pub sms: Option<HttpEndpoint>,
    pub push: Option<HttpEndpoint>,
    /// Per request.
    pub timeout: Duration,
    /// Where `webhook` nodes may connect (the SMS and push endpoints are the operator's and
    /// are not checked).
    pub webhook: Destinations,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            smtp_url: None,
            email_from: "Cairn <cairn@localhost>".into(),
            sms: None,
            push: None,
            timeout: Duration::from_secs(15),
            webhook: Destinations::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("SMTP URL '{url}': {reason}")]
    Smtp { url: String, reason: String },
    #[error("email sender '{0}' is not an address (write e.g. 'Shop <news@shop.example>')")]
    From(String),
    #[error("HTTP client: {0}")]
    Http(String),
}

/// What a provider said about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Taken for delivery; `reference` is the provider's own id when it gives one.
    Accepted {
        provider: &'static str,
        reference: Option<String>,
    },
    /// Not taken now, may succeed later (a 4xx SMTP reply, HTTP 429/5xx, a timeout).
    Retry { provider: &'static str, reason: String },
    /// Refused for good (a 5xx SMTP reply, HTTP 4xx, an invalid address).
    Failed { provider: &'static str, reason: String },
    /// Refused for good because the address does not exist or cannot be reached (SMTP 550,
    /// 551, 553 or 5.1.x; HTTP 410, or a 4xx saying "unreachable"): the address is suppressed.
    Undeliverable { provider: &'static str, reason: String },
    /// Not attempted: the send policy holds it until `until` (outside its window at delivery,
    /// or its throttle has no slot soon enough).
    Deferred { until: DateTime<Utc>, reason: String },
    /// Not attempted: its throttle has no slot within [`crate::throttle::MAX_WAIT`]; due again
    /// at `until`. Not journaled (the throttle decides the second, not whether).
    Throttled { until: DateTime<Utc> },
    /// Not attempted: the provider's answer could not come back within the row's lease. The
    /// row is released (if still this attempt's) and comes due again.
    LeaseLost,
}

impl Outcome {
    pub fn provider(&self) -> &'static str {
        match self {
            Outcome::Accepted { provider, .. }
            | Outcome::Retry { provider, .. }
            | Outcome::Failed { provider, .. }
            | Outcome::Undeliverable { provider, .. } => provider,
            Outcome::Deferred { .. } | Outcome::Throttled { .. } | Outcome::LeaseLost => "policy",
        }
    }
}

/// The configured providers; cheap to share behind an `Arc`.
pub struct Providers {
    /// Bound on one whole attempt (lettre's own timeout is per SMTP command), so an attempt
    /// always ends well within the delivery lease.
    attempt_timeout: Duration,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    email_from: Mailbox,
    http: reqwest::Client,
    /// For `webhook` nodes: resolves through [`GuardedResolver`], follows no redirect, uses no
    /// proxy (a proxy would resolve the host itself, past the check).
    webhook_http: reqwest::Client,
    /// Checks IP-literal hosts, which never reach the resolver.
    destinations: Arc<Destinations>,
    sms: Option<HttpEndpoint>,
    push: Option<HttpEndpoint>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("smtp", &self.smtp.is_some())
            .field("sms", &self.sms)
            .field("push", &self.push)
            .finish()
    }
}

impl Providers {
    pub fn new(config: &ProviderConfig) -> Result<Self, ConfigError> {
        // reqwest and lettre use rustls with ring; it must be the process's provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let smtp = match &config.smtp_url {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| ConfigError::Smtp {
                        url: redact(url),
                        reason: e.to_string(),
                    })?
                    .timeout(Some(config.timeout))
                    .build(),
            ),
        };
        let email_from = config
            .email_from
            .parse()
            .map_err(|_| ConfigError::From(config.email_from.clone()))?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let destinations = Arc::new(config.webhook.clone());
        let webhook_http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolver {
                destinations: destinations.clone(),
            })
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        Ok(Providers {
            attempt_timeout: config.timeout,
            smtp,
            email_from,
            http,
            webhook_http,
            destinations,
            sms: config.sms.clone(),
            push: config.push.clone(),
        })
    }

    /// The name of the provider that serves `channel`.
    pub fn name(&self, channel: Channel) -> &'static str {
        match channel {
            Channel::Email if self.smtp.is_some() => "smtp",
            Channel::Sms if self.sms.is_some() => "http",
            Channel::Push if self.push.is_some() => "http",
            Channel::Webhook => "webhook",
            _ => "outbox",
        }
    }

    /// One delivery attempt, ended as a retry if it outlasts the configured timeout.
    pub async fn send(&self, m: &Outbound) -> Outcome {
        self.send_within(m, self.attempt_timeout).await
    }

    /// One delivery attempt, ended as a retry if it outlasts the configured timeout or `limit`.
    pub async fn send_within(&self, m: &Outbound, limit: Duration) -> Outcome {
        let limit = limit.min(self.attempt_timeout);
        match tokio::time::timeout(limit, self.attempt(m)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Retry {
                provider: self.name(m.channel),
                reason: format!("no answer within {:.1} s", limit.as_secs_f64()),
            },
        }
    }

    async fn attempt(&self, m: &Outbound) -> Outcome {
        match (&m.content, m.channel) {
            (
                Content::Email {
                    subject,
                    html,
                    text,
                    from,
                },
                _,
            ) => match &self.smtp {
                Some(smtp) => {
                    self.email(smtp, m, subject, html, text.as_deref(), from.as_deref())
                        .await
                }
                None => outbox(),
            },
            (Content::Sms { text }, _) => match &self.sms {
                Some(endpoint) => {
                    self.post(endpoint, m, json!({"id": m.id, "to": m.to, "text": text}))
                        .await
                }
                None => outbox(),
            },
            (Content::Push { title, body, url }, _) => match &self.push {
                Some(endpoint) => {
                    self.post(
                        endpoint,
                        m,
                        json!({"id": m.id, "to": m.to, "title": title, "body": body, "url": url}),
                    )
                    .await
                }
                None => outbox(),
            },
            (Content::Webhook { method, headers, body }, _) => self.webhook(m, *method, headers, body).await,
        }
    }

    async fn email(
        &self,
        smtp: &AsyncSmtpTransport<Tokio1Executor>,
        m: &Outbound,
        subject: &str,
        html: &str,
        text: Option<&str>,
        from: Option<&str>,
    ) -> Outcome {
        let failed = |reason: String| Outcome::Failed {
            provider: "smtp",
            reason,
        };
        let from = match from.map(str::parse::<Mailbox>) {
            None => self.email_from.clone(),
            Some(Ok(f)) => f,
            Some(Err(_)) => return failed(format!("sender '{}' is not an email address", from.unwrap_or_default())),
        };
        let to: Mailbox = match m.to.parse() {
            Ok(to) => to,
            Err(_) => return failed(format!("'{}' is not an email address", m.to)),
        };
        let builder = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .message_id(Some(message_id(&m.id)));
        let message = match text {
            Some(text) => builder.multipart(MultiPart::alternative_plain_html(text.to_string(), html.to_string())),
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.to_string()),
            ),
        };
        let message = match message {
            Ok(message) => message,
            Err(e) => return failed(format!("cannot build the email: {e}")),
        };
        match smtp.send(message).await {
            Ok(response) => Outcome::Accepted {
                provider: "smtp",
                reference: response.message().next().map(str::to_string),
            },
            Err(e) if e.is_permanent() => {
                let reason = format!("SMTP server refused: {e}");
                let code = e.status().map(|c| c.to_string()).unwrap_or_default();
                if ["550", "551", "553"].contains(&code.as_str()) || reason.contains(" 5.1.") {
                    Outcome::Undeliverable {
                        provider: "smtp",
                        reason,
                    }
                } else {
                    failed(reason)
                }
            }
            Err(e) => Outcome::Retry {
                provider: "smtp",
                reason: format!("SMTP: {e}"),
            },
        }
    }

    async fn post(&self, endpoint: &HttpEndpoint, m: &Outbound, body: serde_json::Value) -> Outcome {
        let mut request = self
            .http
            .post(&endpoint.url)
            .header("Idempotency-Key", &m.id)
            .json(&body);
        if let Some(token) = &endpoint.token {
            request = request.bearer_auth(token);
        }
        classify("http", request.send().await).await
    }

    async fn webhook(
        &self,
        m: &Outbound,
        method: flows::definition::HttpMethod,
        headers: &[(String, String)],
        body: &str,
    ) -> Outcome {
        use flows::definition::HttpMethod as M;
        let method = match method {
            M::Get => reqwest::Method::GET,
            M::Post => reqwest::Method::POST,
            M::Put => reqwest::Method::PUT,
            M::Patch => reqwest::Method::PATCH,
            M::Delete => reqwest::Method::DELETE,
        };
        let failed = |reason: String| Outcome::Failed {
            provider: "webhook",
            reason,
        };
        let url = match reqwest::Url::parse(&m.to) {
            Ok(url) => url,
            Err(e) => return failed(format!("invalid URL '{}': {e}", m.to)),
        };
        // The parsed host: `2130706433` and `0x7f.1` are 127.0.0.1 by now.
        let literal = url.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']'));
        if let Some(Ok(ip)) = literal.map(str::parse::<std::net::IpAddr>)
            && let Err(refused) = self.destinations.check(ip)
        {
            return failed(refused.to_string());
        }
        let mut request = self.webhook_http.request(method, url).header("Idempotency-Key", &m.id);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            request = request.header("Content-Type", "application/json");
        }
        for (k, v) in headers {
            request = request.header(k, v);
        }
        match request.body(body.to_string()).send().await {
            Err(e) if refusal(&e).is_some() => failed(refusal(&e).map(ToString::to_string).unwrap_or_default()),
            result => classify("webhook", result).await,
        }
    }
}

/// The refusal inside a request's error, when the resolver refused every address.
fn refusal(e: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = err.source();
    }
    None
}

/// Resolves webhook hosts and keeps only the addresses [`Destinations`] allows, so the
/// connection uses exactly the addresses that were checked. A host the allow-list names keeps
/// all its addresses; a host left with none fails with the first [`Refused`].
struct GuardedResolver {
    destinations: Arc<Destinations>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let destinations = self.destinations.clone();
        Box::pin(async move {
            let host = name.as_str();
            let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
            if destinations.allow.allows_host(host) {
                return Ok(Box::new(resolved.into_iter()) as reqwest::dns::Addrs);
            }
            let mut refused = None;
            let kept: Vec<std::net::SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match destinations.check(addr.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        refused.get_or_insert(r);
                        false
                    }
                })
                .collect();
            match refused {
                Some(refused) if kept.is_empty() => Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

fn outbox() -> Outcome {
    Outcome::Accepted {
        provider: "outbox",
        reference: None,
    }
}

/// `<id@cairn>` with characters an RFC 5322 msg-id cannot hold replaced.
pub fn message_id(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("<{safe}@cairn>")
}

async fn classify(provider: &'static str, result: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match result {
        // A request that cannot even be built (bad URL, bad header value) never will be.
        Err(e) if e.is_builder() => Outcome::Failed {
            provider,
            reason: format!("invalid request: {e}"),
        },
        Err(e) => Outcome::Retry {
            provider,
            reason: format!("request failed: {e}"),
        },
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                let reference = response
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_string));
                return Outcome::Accepted { provider, reference };
            }
            let text = response.text().await.unwrap_or_default();
            let excerpt: String = text.chars().take(200).collect();
            let reason = format!("HTTP {status}: {excerpt}");
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Outcome::Retry { provider, reason }
            } else if status.as_u16() == 410 || text.to_ascii_lowercase().contains("unreachable") {
                Outcome::Undeliverable { provider, reason }
            } else {
                Outcome::Failed { provider, reason }
            }
        }
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_valid_msg_ids() {
        assert_eq!(message_id("42.hello"), "<42.hello@cairn>");
        assert_eq!(message_id("c 1.1:x"), "<c_1.1_x@cairn>");
    }

    #[test]
    fn passwords_stay_out_of_error_messages() {
        assert_eq!(
            redact("smtps://user:secret@mail.example:465"),
            "smtps://…@mail.example:465"
        );
    }

    #[test]
    fn bad_configuration_is_refused_clearly() {
        let config = ProviderConfig {
            smtp_url: Some("ftp://x".into()),
            ..ProviderConfig::default()
        };
        assert!(matches!(Providers::new(&config), Err(ConfigError::Smtp { .. })));
        let config = ProviderConfig {
            email_from: "not an address".into(),
            ..ProviderConfig::default()
        };
        assert!(matches!(Providers::new(&config), Err(ConfigError::From(_))));
    }
}
