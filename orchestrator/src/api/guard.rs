//! What every request and response passes through besides its handler:
//!
//! - **Cross-site requests are refused.** A browser lets any web page send a "simple" request
//!   (a form post, or a `fetch` without a preflight: `text/plain`, form-encoded or multipart,
//!   or no body at all) to any address, so an open API on `localhost` or an intranet could be
//!   driven from a page its user visits. A request with a body must therefore be
//!   `Content-Type: application/json` (415 otherwise), which a page cannot send to another
//!   origin without a CORS preflight that Cairn never grants (it sends no CORS headers); and a
//!   request that changes something (any method but GET, HEAD and OPTIONS), even without a
//!   body (activate, pause), is refused with 403 when its `Origin` is another site's or its
//!   `Sec-Fetch-Site` says `cross-site` or `same-site`. Servers and `curl` send neither header.
//! - **Security headers** on every response: `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer` and `Content-Security-Policy: frame-ancestors 'none'` (only
//!   that directive: Swagger UI at `/docs` needs its inline scripts and styles).
//! - **Error responses without a body** (from axum's extractors or layers) get the API's JSON
//!   error shape.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
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

/// Refuses cross-site requests and bodies that are not JSON (see the module documentation).
pub async fn same_site_json(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

fn check(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
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
        && !same_origin(origin, text(header::HOST), state.tracker.base())
    {
        return Err(ApiError::Forbidden(format!(
            "a request from the web page at {origin} cannot change anything here"
        )));
    }
    let has_body =
        headers.contains_key(header::TRANSFER_ENCODING) || text(header::CONTENT_LENGTH).is_some_and(|n| n != "0");
    match text(header::CONTENT_TYPE) {
        Some(kind) if is_json(kind) => Ok(()),
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

/// Whether a browser's `Origin` is this service: its `Host`, or its public URL.
fn same_origin(origin: &str, host: Option<&str>, public_url: &str) -> bool {
    let authority = |url: &str| {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        rest.split('/').next().unwrap_or("").to_ascii_lowercase()
    };
    let origin = authority(origin);
    !origin.is_empty()
        && origin != "null"
        && (host.is_some_and(|h| h.eq_ignore_ascii_case(&origin)) || authority(public_url) == origin)
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
        assert!(same_origin("http://localhost:8080", Some("localhost:8080"), "http://x"));
        assert!(same_origin("https://cairn.example", None, "https://cairn.example/"));
        assert!(!same_origin(
            "https://evil.example",
            Some("localhost:8080"),
            "http://localhost:8080"
        ));
        assert!(!same_origin("null", Some("null"), "http://x"));
    }
}
