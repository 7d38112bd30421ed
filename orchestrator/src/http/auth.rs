//! Authentication as a layer: `/api/*` needs `Authorization: Bearer <CAIRN_API_TOKEN>` when a
//! token is set. Entries pass through to their handler, which takes them when authenticated or
//! validly signed for a flow with a secret; the tracking links, the docs and the schemas are
//! public.

use super::AppState;
use super::error;

/// Whether the request carried the admin token (a request extension set by [`authenticate`]).
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub bool);

/// Checks the bearer token on `/api/*`. Entries pass through to their handler, which accepts
/// them when authenticated or validly signed for a flow with a secret.
pub async fn authenticate(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(token) = &state.api_token else {
        request.extensions_mut().insert(Authenticated(true));
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The scheme is case-insensitive (RFC 7235): `bearer` and `BEARER` are `Bearer`.
    let ok = given
        .trim()
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, g)| crate::signing::constant_time_eq(g.trim().as_bytes(), token.as_bytes()));
    request.extensions_mut().insert(Authenticated(ok));
    let path = request.uri().path();
    let is_entry =
        request.method() == axum::http::Method::POST && path.starts_with("/api/flows/") && path.ends_with("/entries");
    let public = !path.starts_with("/api/") || path == "/api/openapi.json" || path == "/api/schema/flow.json";
    if ok || public || is_entry {
        return next.run(request).await;
    }
    error::ApiError::Unauthorized("this API requires Authorization: Bearer <CAIRN_API_TOKEN>".into()).into_response()
}
