//! `/api/segments`: saved segments and "Load contacts" (previews of a condition or a saved
//! segment). The use cases are [`crate::service::segments`].

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::body::{self, ApiResult};
use super::docs::ErrorBody;
use super::error::ApiError;
use super::{AppState, Segment, strict};
use crate::service::segments::{self as service, Draft, Preview, SavedSegment};

/// Contacts a preview shows when the request does not say.
const PREVIEW_LIMIT: u64 = 50;
const PREVIEW_MAX: u64 = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/segments", get(list_segments).post(create_segment))
        .route("/api/segments/preview", post(preview_condition))
        .route(
            "/api/segments/{id}",
            get(get_segment).put(update_segment).delete(delete_segment),
        )
        .route("/api/segments/{id}/preview", get(preview_segment))
}

/// A segment as `POST` and `PUT` take it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentBody {
    /// Unique; not a number (numbers name segments by id).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// A condition, as in `branch` nodes; `{"segment": "<id or name>"}` includes another.
    #[schema(value_type = Object)]
    pub condition: Value,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

impl From<SegmentBody> for Draft {
    fn from(b: SegmentBody) -> Self {
        Draft {
            name: b.name,
            condition: b.condition,
            description: b.description,
        }
    }
}

/// `POST /api/segments/preview`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    #[schema(value_type = Object)]
    pub condition: Value,
    /// How many matching contacts to show: 1 to 1000, 50 when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PreviewQuery {
    /// How many matching contacts to show: 1 to 1000, 50 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/segments", tag = "segments", responses((status = 200, description = "Every saved segment, by name", body = Vec<SavedSegment>)))]
pub async fn list_segments(State(state): State<AppState>) -> ApiResult<Json<Vec<SavedSegment>>> {
    Ok(Json(service::list(&state.services).await?))
}

#[utoipa::path(post, path = "/api/segments", tag = "segments", request_body = SegmentBody, responses((status = 201, description = "Saved", body = SavedSegment), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 409, description = "The name is taken", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "A bad name or condition, each problem named by its field (`condition.all[1].tag.count`); an unknown segment included, or segments that include each other", body = ErrorBody)))]
pub async fn create_segment(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Response> {
    let request: SegmentBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let saved = service::create(&state.services, request.into()).await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

#[utoipa::path(get, path = "/api/segments/{id}", tag = "segments", params(("id" = String, Path, description = "The segment's id or name")), responses((status = 200, body = SavedSegment), (status = 404, body = ErrorBody)))]
pub async fn get_segment(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<SavedSegment>> {
    Ok(Json(service::get(&state.services, &id).await?))
}

#[utoipa::path(put, path = "/api/segments/{id}", tag = "segments", params(("id" = String, Path, description = "The segment's id or name")), request_body = SegmentBody, responses((status = 200, description = "Changed; segments that include it change with it", body = SavedSegment), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The new name is another segment's", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_segment(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<SavedSegment>> {
    let request: SegmentBody = body::typed(body::json(body, strict::RECORDS)?)?;
    Ok(Json(service::update(&state.services, &id, request.into()).await?))
}

#[utoipa::path(delete, path = "/api/segments/{id}", tag = "segments", params(("id" = String, Path, description = "The segment's id or name")), responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody), (status = 409, description = "Other segments include it, or an active flow's segment entry names it", body = ErrorBody)))]
pub async fn delete_segment(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<StatusCode> {
    service::delete(&state.services, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/segments/preview", tag = "segments", request_body = PreviewBody, responses((status = 200, description = "\"Load contacts\": how many contacts match now, the first of them (by when they were created) with the facts the condition read, and the time it took", body = Preview), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "A bad condition or limit, named by its field", body = ErrorBody)))]
pub async fn preview_condition(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Preview>> {
    let request: PreviewBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let limit = body::bounded_limit(request.limit, PREVIEW_LIMIT, PREVIEW_MAX)?;
    Ok(Json(
        service::preview(&state.services, request.condition, limit as usize).await?,
    ))
}

#[utoipa::path(get, path = "/api/segments/{id}/preview", tag = "segments", params(("id" = String, Path, description = "The segment's id or name"), PreviewQuery), responses((status = 200, description = "\"Load contacts\" for the saved segment", body = Preview), (status = 404, body = ErrorBody), (status = 422, description = "A bad limit", body = ErrorBody)))]
pub async fn preview_segment(
    State(state): State<AppState>,
    Segment(id): Segment,
    query: Result<Query<PreviewQuery>, QueryRejection>,
) -> ApiResult<Json<Preview>> {
    let Query(q) = query.map_err(|_| ApiError::field("limit", "must be a whole number"))?;
    let limit = body::bounded_limit(q.limit, PREVIEW_LIMIT, PREVIEW_MAX)?;
    Ok(Json(
        service::preview_saved(&state.services, &id, limit as usize).await?,
    ))
}
