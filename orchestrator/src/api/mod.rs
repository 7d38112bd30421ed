//! The HTTP API (axum). Handlers are thin: parse the request, call a store or the core, map
//! errors through [`error::ApiError`]. `app(state)` builds the router, so tests can serve it on
//! port 0.

pub mod docs;
pub mod error;
mod handlers;

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
        .route("/api/contacts/{id}/journal", get(handlers::journal))
        .route("/api/outbox", get(handlers::outbox))
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
        .with_state(state)
}
