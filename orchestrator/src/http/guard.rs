//! What every request and response passes through besides its handler:
//!
//! - **Only this service's own names are answered** (DNS rebinding). A page at
//!   `http://evil.example:8080` whose name its owner then points at 127.0.0.1 reaches a Cairn
//!   on that port as its own origin: the browser sends `Host` and `Origin` both
//!   `evil.example:8080`. So every request's `Host` (and a request target's authority, if it
//!   has one) must be an IP literal (rebinding needs a name), `localhost`, the `--public-url`
//!   host, or a name given with `--allowed-hosts`; any other name gets 421. A request without
//!   `Host` (HTTP/1.0) passes: a browser always sends it.
//! - **Cross-site requests are refused.** A browser lets any web page send a "simple" request
//!   (a form post, or a `fetch` without a preflight: `text/plain`, form-encoded or multipart,
//!   or no body at all) to any address, so an open API on `localhost` or an intranet could be
//!   driven from a page its user visits. A request with a body must therefore be
//!   `Content-Type: application/json` (415 otherwise), which a page cannot send to another
//!   origin without a CORS preflight that Cairn never grants (it sends no CORS headers) — or, for
//!   `POST /api/imports`, `text/csv` or `application/x-ndjson`, which need a preflight too; and a
//!   request that changes something (any method but GET, HEAD and OPTIONS), even without a
//!   body (activate, pause), is refused with 403 when its `Origin` is another site's (it must
//!   be an allowed host, and the request's `Host` or the public URL) or its `Sec-Fetch-Site`
//!   says `cross-site` or `same-site`. Servers and `curl` send neither header.
//! - **Security headers** on every response: `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer` and `Content-Security-Policy: frame-ancestors 'none'` (only
//!   that directive: Swagger UI at `/docs` needs its inline scripts and styles).
//! - **Error responses without a body** (from axum's extractors or layers) get the API's JSON
//!   error shape.

use std::net::{Ipv4Addr, Ipv6Addr};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, status_body};

/// The headers every response carries.
pub const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", "frame-ancestors 'none'"),
];

/// The host names this service answers to besides IP literals and `localhost`: the public
/// URL's and those of `--allowed-hosts`, lowercase, without ports.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    names: Vec<String>,
}

impl Hosts {
    /// The public URL's host and `allowed` (names, with or without a port).
    pub fn new(public_url: &str, allowed: &[String]) -> Hosts {
        let names = std::iter::once(authority(public_url).as_str())
            .chain(allowed.iter().map(|a| a.trim()))
            .filter_map(|a| host_of(a).map(|(host, _)| host))
            .collect();
        Hosts { names }
    }

    /// Whether a `Host` header (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`) names this
    /// service.
    pub fn allows(&self, host: &str) -> bool {
        host_of(host).is_some_and(|(name, ip)| ip || name == "localhost" || self.names.contains(&name))
    }
}

/// The host of an authority, lowercase and without its port, and whether it is an IP literal;
/// `None` when it is not an authority.
fn host_of(authority: &str) -> Option<(String, bool)> {
    let digits = |port: &str| port.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        inside.parse::<Ipv6Addr>().ok()?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(digits);
        return port_ok.then(|| (inside.to_ascii_lowercase(), true));
    }
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, ""));
    if host.is_empty() || host.contains(['[', ']', '@', '/', ' ']) || !digits(port) {
        return None;
    }
    Some((host.to_ascii_lowercase(), host.parse::<Ipv4Addr>().is_ok()))
}

/// Refuses requests to names that are not this service's, cross-site requests and bodies that
/// are not JSON (see the module documentation).
pub async fn same_site_json(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, request.method(), request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

fn check(state: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    let misdirected = |name: &str| {
        ApiError::MisdirectedRequest(format!(
            "this service does not answer to the name {name}: call it by its address, localhost, \
             its public URL or a name given with --allowed-hosts"
        ))
    };
    let host = match headers.get(header::HOST).map(|v| v.to_str().map(str::trim)) {
        None => None,
        Some(Ok(host)) if state.hosts.allows(host) => Some(host),
        Some(Ok(host)) => return Err(misdirected(host)),
        Some(Err(_)) => return Err(misdirected("in this Host header")),
    };
    if let Some(target) = uri.authority()
        && !state.hosts.allows(target.as_str())
    {
        return Err(misdirected(target.as_str()));
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && (site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site"))
    {
        return Err(ApiError::Forbidden(format!(
            "a {site} request from a web page cannot change anything here"
        )));
    }
    if let Some(origin) = text(header::ORIGIN)
        && !same_origin(origin, host, state.tracker.base(), &state.hosts)
    {
        return Err(ApiError::Forbidden(format!(
            "a request from the web page at {origin} cannot change anything here"
        )));
    }
    let has_body =
        headers.contains_key(header::TRANSFER_ENCODING) || text(header::CONTENT_LENGTH).is_some_and(|n| n != "0");
    match text(header::CONTENT_TYPE) {
        Some(kind) if is_json(kind) => Ok(()),
        // An import's file: neither type can be sent across sites without a CORS preflight.
        Some(kind) if uri.path() == super::imports::IMPORTS && super::imports::file_format(kind).is_some() => Ok(()),
        None if !has_body => Ok(()),
        kind => Err(ApiError::UnsupportedMediaType(format!(
            "send JSON with Content-Type: application/json (got {})",
            kind.unwrap_or("no content type")
        ))),
    }
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether a browser's `Origin` is this service: an allowed host, and the request's `Host` or
/// its public URL.
fn same_origin(origin: &str, host: Option<&str>, public_url: &str, hosts: &Hosts) -> bool {
    let origin = authority(origin);
    hosts.allows(&origin) && (host.is_some_and(|h| h.eq_ignore_ascii_case(&origin)) || authority(public_url) == origin)
}

/// The authority of a URL (`https://cairn.example:8443/x` → `cairn.example:8443`), lowercase.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or("").to_ascii_lowercase()
}

/// Adds the security headers, and the JSON error shape to error responses without a body.
pub async fn harden(response: Response) -> Response {
    let empty_error = (response.status().is_client_error() || response.status().is_server_error())
        && !response.headers().contains_key(header::CONTENT_TYPE)
        && axum::body::HttpBody::size_hint(response.body()).exact() == Some(0);
    let mut response = if empty_error {
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        let body = axum::Json(status_body(parts.status)).into_response();
        let (json_parts, body) = body.into_parts();
        parts.headers.extend(json_parts.headers);
        Response::from_parts(parts, body)
    } else {
        response
    };
    for (name, value) in SECURITY_HEADERS {
        // The web app's pages carry a fuller policy of their own (it says `frame-ancestors
        // 'none'` too); every other response gets this one.
        if name == "content-security-policy" && response.headers().contains_key(name) {
            continue;
        }
        response.headers_mut().insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_with_parameters_is_json_and_origins_match_host_or_public_url() {
        assert!(is_json("application/json; charset=utf-8") && is_json("Application/JSON"));
        assert!(!is_json("text/plain") && !is_json("application/jsonp"));
        let hosts = Hosts::new("https://cairn.example/", &[]);
        assert!(same_origin(
            "http://localhost:8080",
            Some("localhost:8080"),
            "http://x",
            &hosts
        ));
        assert!(same_origin(
            "https://cairn.example",
            None,
            "https://cairn.example/",
            &hosts
        ));
        assert!(!same_origin(
            "https://evil.example",
            Some("localhost:8080"),
            "http://localhost:8080",
            &hosts
        ));
        assert!(!same_origin("null", Some("null"), "http://x", &hosts));
        assert!(
            !same_origin(
                "http://evil.example:8080",
                Some("evil.example:8080"),
                "http://x",
                &hosts
            ),
            "a rebound name is not this service even when Origin and Host agree"
        );
    }

    #[test]
    fn hosts_are_ip_literals_localhost_the_public_url_and_the_allowed_names() {
        let hosts = Hosts::new("https://Cairn.example:8443/base", &["hooks.internal:8080".into()]);
        for host in [
            "127.0.0.1:8080",
            "10.1.2.3",
            "[::1]:8080",
            "[2001:db8::1]",
            "localhost:8080",
            "LOCALHOST",
            "cairn.example",
            "cairn.example:443",
            "hooks.internal",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "0x7f.1",
            "[evil.example]:80",
            "cairn.example:x",
            "user@cairn.example",
            "",
        ] {
            assert!(!hosts.allows(host), "{host}");
        }
    }
}
