//! The HTTP API (axum). Handlers are thin: parse the request, call a store or the core, map
//! errors through [`error::ApiError`]. `app(state)` builds the router, so tests can serve it on
//! port 0.

mod contact;
pub mod docs;
pub mod error;
pub mod guard;
mod handlers;
mod signed;
pub mod strict;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::engine::FlowCache;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 1 << 20;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub flows: Arc<FlowCache>,
    /// Poked when an entry or an event is accepted.
    pub engine: Arc<Notify>,
    /// Verifies open and click tokens.
    pub tracker: Arc<crate::tracking::Tracker>,
    /// When set, `/api/*` requires `Authorization: Bearer <token>` (entries may instead be
    /// signed with their flow's secret).
    pub api_token: Option<Arc<str>>,
    /// The workspace send policy (contacts' default zone).
    pub policy: Arc<flows::Policy>,
    /// The names this service answers to (see [`guard`]).
    pub hosts: Arc<guard::Hosts>,
}

/// A path segment: an id, a contact's external id or a tracking token. A segment that is not
/// UTF-8 (`%FF`) names nothing that can exist, so it is a 404 in the API's error shape, like any
/// other unknown id, rather than axum's plain-text 400. Any other rejection is a route that
/// does not match its handler: our mistake, a 500.
#[derive(Debug, Clone)]
pub struct Segment(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Segment {
    type Rejection = error::ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(segment)) => Ok(Segment(segment)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(error::ApiError::NotFound(format!(
                "nothing at {}: {}",
                parts.uri.path(),
                e.body_text()
            ))),
            Err(e) => Err(error::ApiError::Internal(format!(
                "path of {}: {}",
                parts.uri.path(),
                e.body_text()
            ))),
        }
    }
}

/// Whether the request carried the admin token (a request extension set by [`authenticate`]).
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub bool);

/// Checks the bearer token on `/api/*`. Entries pass through to their handler, which accepts
/// them when authenticated or validly signed for a flow with a secret.
async fn authenticate(
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
        .is_some_and(|(_, g)| crate::tracking::constant_time_eq(g.trim().as_bytes(), token.as_bytes()));
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

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/flows", post(handlers::create_flow).get(handlers::list_flows))
        .route("/api/flows/{id}", get(handlers::get_flow).put(handlers::update_flow))
        .route("/api/flows/{id}/activate", post(handlers::activate_flow))
        .route("/api/flows/{id}/pause", post(handlers::pause_flow))
        .route("/api/flows/{id}/entries", post(handlers::enter))
        .route("/api/flows/{id}/secret", axum::routing::put(handlers::set_flow_secret))
        .route("/api/flows/{id}/stats", get(handlers::flow_stats))
        .route("/api/events", post(handlers::post_event))
        .route("/api/contacts/{id}", get(handlers::get_contact))
        .route("/api/contacts/{id}/journal", get(handlers::journal))
        .route("/api/outbox", get(handlers::outbox))
        .route("/api/set-aside", get(handlers::list_set_aside))
        .route("/api/set-aside/{id}/retry", post(handlers::retry_set_aside))
        .route("/api/set-aside/{id}/cancel", post(handlers::cancel_set_aside))
        .route("/healthz", get(handlers::healthz))
        .route("/api/schema/flow.json", get(handlers::flow_schema))
        .route("/t/o/{token}", get(handlers::track_open))
        .route("/t/c/{token}", get(handlers::track_click))
        .route("/", get(handlers::home))
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .url("/api/openapi.json", <docs::ApiDoc as utoipa::OpenApi>::openapi()),
        )
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::same_site_json,
        ))
        .layer(axum::middleware::map_response(guard::harden))
        .with_state(state)
}
