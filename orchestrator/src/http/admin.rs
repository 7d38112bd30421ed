//! What operators look at and act on: the outbox, what the engine and delivery set aside
//! (with retry and cancel), health, and the API's own 404 and 405.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::body::{self, ApiResult, Limit};
use super::docs::ErrorBody;
use super::error::ApiError;
use super::{AppState, Segment};
use crate::store::set_aside;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/outbox", get(outbox))
        .route("/api/set-aside", get(list_set_aside))
        .route("/api/set-aside/{id}/retry", post(retry_set_aside))
        .route("/api/set-aside/{id}/cancel", post(cancel_set_aside))
        .route("/healthz", get(healthz))
        .route("/", get(super::web::index_page))
}

/// `GET /api/outbox`'s query.
#[derive(Debug, serde::Deserialize)]
pub struct OutboxQuery {
    limit: Option<u64>,
    contact: Option<String>,
}

#[utoipa::path(get, path = "/api/outbox", tag = "messages", params(("limit" = Option<u64>, Query, minimum = 1, maximum = 100000, description = "1 to 100000; 100 when absent"), ("contact" = Option<String>, Query, description = "Only this contact's messages (their external id)")), responses((status = 200, description = "Messages, newest first; emails not failed show their tracking pixel and links", body = Vec<serde_json::Value>), (status = 422, description = "limit out of range", body = ErrorBody)))]
pub async fn outbox(
    State(state): State<AppState>,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = query.map_err(|_| super::error::ApiError::field("limit", "must be a whole number"))?;
    let limit = body::bounded_limit(q.limit, 100, 100_000)?;
    let mut messages = crate::store::outbox::messages(&state.services.db, limit, q.contact.as_deref()).await?;
    state.tracker.instrument_listed(&mut messages);
    Ok(Json(Value::Array(messages)))
}

/// What the engine and delivery set aside: journeys, events and messages they could not load,
/// step or record, oldest first.
#[utoipa::path(get, path = "/api/set-aside", tag = "journeys", params(("limit" = Option<u64>, Query, minimum = 1, maximum = 100000, description = "1 to 100000; 100 when absent")), responses((status = 200, description = "Set-aside items, oldest first", body = Vec<crate::store::set_aside::SetAside>), (status = 422, description = "limit out of range", body = ErrorBody)))]
pub async fn list_set_aside(
    State(state): State<AppState>,
    query: Result<Query<Limit>, QueryRejection>,
) -> ApiResult<Json<Vec<set_aside::SetAside>>> {
    let limit = body::limit(query)?;
    Ok(Json(set_aside::list(&state.services.db, limit).await?))
}

/// Puts a set-aside item back: the journey is due at once, the event or message queued again.
#[utoipa::path(post, path = "/api/set-aside/{id}/retry", tag = "journeys", params(("id" = i64, Path)), responses((status = 200, description = "Queued again", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn retry_set_aside(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let id = crate::service::set_aside::retry(&state.services, &id).await?;
    Ok(Json(json!({"id": id, "retried": true})))
}

/// Gives a set-aside item up: a journey ends, an event or a message is dropped.
#[utoipa::path(post, path = "/api/set-aside/{id}/cancel", tag = "journeys", params(("id" = i64, Path)), responses((status = 200, description = "Cancelled", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn cancel_set_aside(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let id = crate::service::set_aside::cancel(&state.services, &id).await?;
    Ok(Json(json!({"id": id, "cancelled": true})))
}

#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = serde_json::Value)))]
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    crate::db::ping(&state.services.db).await?;
    Ok(Json(json!({"status": "ok"})))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
