//! Authentication as a layer: who calls `/api/*`, and whether they may.
//!
//! A request is known by, in this order:
//! 1. `Authorization: Bearer <CAIRN_API_TOKEN>` ([`Caller::Token`]);
//! 2. `Authorization: Bearer <API key>`, a key not revoked, found by its hash ([`Caller::Key`]);
//! 3. the `cairn_session` cookie of a live session ([`Caller::Session`]). Such a request that
//!    changes something (any method but GET, HEAD and OPTIONS) must carry `X-CSRF-Token` equal
//!    to its session's CSRF token, else 403: the cookie is sent by the browser on its own, the
//!    header only by the web app, which read the token from `GET /api/session` or its login.
//!    Logging in (`POST /api/session`, `POST /api/setup`) reads no cookie, so a stale one never
//!    stands in the way of a new login.
//!
//! **Open mode**: with no API token set and no user in the database, every request is
//! [`Caller::Open`] and `/api/*` answers everyone, as before accounts existed (loopback
//! quickstarts and the tests rely on it; [`exposure`] keeps `cairn serve` from being open
//! beyond loopback). Otherwise `/api/*` needs one of the three, except the public routes
//! ([`is_public`]): the API's description, the flow schema, entries (their handler takes them
//! when known or validly signed for a flow with a secret), the session and the first-run set-up.
//! Paths outside `/api/` (the web app, tracking links, `/docs`, `/healthz`) are public.
//!
//! A request handler reads [`Caller`] (and [`Authenticated`], whether it is known) from the
//! request's extensions.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::AppState;
use super::error::ApiError;
pub use crate::service::accounts::Caller;
use crate::service::{accounts, keys};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cairn_session";
/// The header a cookie-authenticated write carries its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether the request's caller is known: it carried the API token, an API key or a live
/// session, or the API is open (a request extension set by [`authenticate`]).
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub bool);

/// Finds the caller of an `/api/*` request and refuses those who may not call it (see the
/// module documentation); re-sends the session cookie when its expiry moved.
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if !path.starts_with("/api/") {
        request.extensions_mut().insert(Authenticated(false));
        request.extensions_mut().insert(Caller::Anonymous);
        return next.run(request).await;
    }
    let caller = match identify(&state, &method, &path, request.headers()).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let mut renew = None;
    if let Caller::Session(session) = &caller {
        let writes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        let given = request.headers().get(CSRF_HEADER).map(HeaderValue::as_bytes);
        if writes && !given.is_some_and(|g| crate::signing::constant_time_eq(g, session.csrf.as_bytes())) {
            return ApiError::Forbidden(
                "a request logged in by its session cookie that changes something must carry the \
                 header X-CSRF-Token with the session's CSRF token (GET /api/session gives it)"
                    .into(),
            )
            .into_response();
        }
        renew = session
            .renewed
            .zip(cookie(request.headers(), SESSION_COOKIE).map(str::to_owned));
    }
    let known = !matches!(caller, Caller::Anonymous);
    request.extensions_mut().insert(Authenticated(known));
    request.extensions_mut().insert(caller);
    if !known && !is_public(&method, &path) {
        return ApiError::Unauthorized(
            "this API requires a login (the cairn_session cookie) or Authorization: Bearer <API key \
             or CAIRN_API_TOKEN>"
                .into(),
        )
        .into_response();
    }
    let secure = state.tracker.base().starts_with("https://");
    let mut response = next.run(request).await;
    if let Some((expires_at, token)) = renew
        && !response.headers().contains_key(header::SET_COOKIE)
    {
        let now = state.services.clock.now();
        let cookie = session_cookie(&token, expires_at, now, secure);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Who calls: the API token, an API key, a session, the open API, or nobody known.
async fn identify(state: &AppState, method: &Method, path: &str, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let s = &state.services;
    if let Some(given) = bearer(headers) {
        if let Some(token) = &state.api_token
            && crate::signing::constant_time_eq(given.as_bytes(), token.as_bytes())
        {
            return Ok(Caller::Token);
        }
        if let Some(key) = keys::find(s, given).await? {
            return Ok(Caller::Key(key));
        }
    } else if !logs_in(method, path)
        && let Some(token) = cookie(headers, SESSION_COOKIE)
        && let Some(session) = accounts::session(s, token).await?
    {
        return Ok(Caller::Session(Box::new(session)));
    }
    if state.api_token.is_none() && !state.logins.users_exist(s).await? {
        return Ok(Caller::Open);
    }
    Ok(Caller::Anonymous)
}

/// The routes anyone may call (see the module documentation).
pub fn is_public(method: &Method, path: &str) -> bool {
    let entry = method == Method::POST && path.starts_with("/api/flows/") && path.ends_with("/entries");
    entry
        || matches!(
            path,
            "/api/openapi.json" | "/api/schema/flow.json" | "/api/session" | "/api/setup"
        )
}

/// The requests that start a session: they read no cookie.
fn logs_in(method: &Method, path: &str) -> bool {
    method == Method::POST && matches!(path, "/api/session" | "/api/setup")
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 7235).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let given = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = given.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of the cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a session token until `expires_at`: `HttpOnly` (no script reads it),
/// `SameSite=Strict` (no other site's page sends it), `Secure` when the service is served over
/// HTTPS.
pub fn session_cookie(token: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>, secure: bool) -> HeaderValue {
    let max_age = (expires_at - now).num_seconds().max(0);
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    // A token is base64url: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("cairn_session=; Max-Age=0"))
}

/// `Set-Cookie` that makes the browser forget the session cookie.
pub fn cleared_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static("cairn_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure")
    } else {
        HeaderValue::from_static("cairn_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    }
}

/// What a service configured this way would leave open, as a refusal to start: listening
/// beyond loopback with no API token, no admin to create and no user in the database would
/// serve the whole API to anyone who can reach it.
pub fn exposure(listen: SocketAddr, token: bool, admin: bool, users: bool) -> Result<(), String> {
    if listen.ip().is_loopback() || token || admin || users {
        return Ok(());
    }
    Err(format!(
        "listening on {listen} (beyond this machine) with no user, no admin and no API token would \
         leave the API open to anyone who reaches it: set CAIRN_ADMIN_EMAIL and \
         CAIRN_ADMIN_PASSWORD (the first owner, who logs in), or CAIRN_API_TOKEN, or listen on \
         127.0.0.1"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_loopback_an_unprotected_service_refuses_to_start_and_says_what_to_set() {
        let anywhere: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let refusal = exposure(anywhere, false, false, false).unwrap_err();
        for named in [
            "CAIRN_ADMIN_EMAIL",
            "CAIRN_ADMIN_PASSWORD",
            "CAIRN_API_TOKEN",
            "127.0.0.1",
        ] {
            assert!(refusal.contains(named), "{refusal}");
        }
        assert!(exposure(anywhere, true, false, false).is_ok(), "a token protects it");
        assert!(
            exposure(anywhere, false, true, false).is_ok(),
            "an admin will be created"
        );
        assert!(exposure(anywhere, false, false, true).is_ok(), "users exist");
        for local in ["127.0.0.1:8080", "[::1]:8080"] {
            assert!(exposure(local.parse().unwrap(), false, false, false).is_ok(), "{local}");
        }
    }

    #[test]
    fn the_session_cookie_is_read_from_any_cookie_header_and_set_http_only_and_strict() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; cairn_session=abc_-9 ; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc_-9"));
        assert_eq!(cookie(&headers, "missing"), None);
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let set = session_cookie("abc", now + chrono::TimeDelta::days(14), now, true);
        assert_eq!(
            set.to_str().unwrap(),
            "cairn_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=1209600; Secure"
        );
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("BEARER  t0ken "));
        assert_eq!(bearer(&headers), Some("t0ken"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
    }
}
