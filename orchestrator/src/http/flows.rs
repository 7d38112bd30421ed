//! `/api/flows…`: storing flow versions, activating and pausing, entry secrets, node and edge
//! counts, and the flow format's JSON Schema; for the journey editor, checking a document
//! without storing it, the draft, the versions, and who waits at a node.

use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router, body::Bytes};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::body::{self, ApiResult};
use super::docs::ErrorBody;
use super::error::Detail;
use super::{AppState, Pair, Segment, strict};
use crate::service::flows as flow_service;
use crate::store::flows::FlowRow;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/flows", post(create_flow).get(list_flows))
        .route("/api/flows/validate", post(validate_flow))
        .route("/api/flows/{id}", get(get_flow).put(update_flow).delete(delete_flow))
        .route(
            "/api/flows/{id}/draft",
            get(get_draft).put(put_draft).delete(delete_draft),
        )
        .route("/api/flows/{id}/versions", get(list_versions))
        .route("/api/flows/{id}/versions/{version}", get(get_version))
        .route("/api/flows/{id}/nodes/{node}/contacts", get(node_contacts))
        .route("/api/flows/{id}/activate", post(activate_flow))
        .route("/api/flows/{id}/pause", post(pause_flow))
        .route("/api/flows/{id}/archive", post(archive_flow))
        .route("/api/flows/{id}/restore", post(restore_flow))
        .route("/api/flows/{id}/secret", put(set_flow_secret))
        .route("/api/flows/{id}/stats", get(flow_stats))
        .route("/api/flows/{id}/runs", get(flow_runs))
        .route("/api/flows/{id}/schedule", get(flow_schedule))
        .route("/api/schema/flow.json", get(flow_schema))
}

/// The flow's runs, newest first: each admission of a segment entry's audience (`v<N>` when
/// version N was first activated, else the scheduled date) with its sizes.
#[utoipa::path(get, path = "/api/flows/{id}/runs", tag = "flows", params(("id" = i64, Path), ("limit" = Option<u64>, Query, description = "At most this many (1 to 100 000, default 100)")), responses((status = 200, body = Vec<crate::store::runs::RunRow>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn flow_runs(
    State(state): State<AppState>,
    Segment(id): Segment,
    query: Result<Query<body::Limit>, QueryRejection>,
) -> ApiResult<Json<Vec<crate::store::runs::RunRow>>> {
    let limit = body::limit(query)?;
    let flow = flow_service::existing(&state.services, &id).await?;
    Ok(Json(
        crate::service::campaigns::list(&state.services, flow.id, limit).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct NextRuns {
    next: Option<u64>,
}

/// The next runs of the schedules of the newest version's segment entries.
#[utoipa::path(get, path = "/api/flows/{id}/schedule", tag = "flows", params(("id" = i64, Path), ("next" = Option<u64>, Query, description = "How many runs per entry (1 to 100, default 10)")), responses((status = 200, description = "Per scheduled segment entry: the schedule in words and its next runs", body = Vec<crate::service::campaigns::SchedulePreview>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn flow_schedule(
    State(state): State<AppState>,
    Segment(id): Segment,
    query: Result<Query<NextRuns>, QueryRejection>,
) -> ApiResult<Json<Vec<crate::service::campaigns::SchedulePreview>>> {
    let Query(q) = query.map_err(|_| super::error::ApiError::field("next", "must be a whole number"))?;
    let next = body::bounded_limit(q.next, 10, 100)
        .map_err(|_| super::error::ApiError::field("next", "must be between 1 and 100"))?;
    let s = &state.services;
    let flow = flow_service::existing(s, &id).await?;
    let compiled = s
        .flows
        .get(&s.db, flow.id, flow.version)
        .await
        .map_err(crate::service::Error::from)?;
    Ok(Json(crate::service::campaigns::preview(s, &compiled, next as usize)))
}

/// `{"id", "version"}` of a stored flow version.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowVersion {
    pub id: i64,
    pub version: i64,
}

#[utoipa::path(post, path = "/api/flows", tag = "flows", request_body(content = serde_json::Value, description = "A cairn.flow/v1 document (JSON Schema: /api/schema/flow.json)"), responses((status = 201, description = "Stored as version 1, a draft", body = FlowVersion), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "Every problem, located", body = ErrorBody)))]
pub async fn create_flow(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Response> {
    let id = flow_service::create(&state.services, body::json(body, strict::DOCUMENTS)?).await?;
    Ok((StatusCode::CREATED, Json(FlowVersion { id, version: 1 })).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    archived: Option<bool>,
}

#[utoipa::path(get, path = "/api/flows", tag = "flows", params(("archived" = Option<bool>, Query, description = "true: only the archived flows; otherwise every flow but them")), responses((status = 200, body = Vec<FlowRow>), (status = 422, body = ErrorBody)))]
pub async fn list_flows(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<FlowRow>>> {
    let Query(q) = query.map_err(|_| super::error::ApiError::field("archived", "must be true or false"))?;
    let archived = q.archived.unwrap_or(false);
    Ok(Json(crate::store::flows::list(&state.services.db, archived).await?))
}

#[utoipa::path(post, path = "/api/flows/{id}/archive", tag = "flows", params(("id" = i64, Path)), responses((status = 200, description = "Archived: out of the list, journeys waiting as when paused, history kept", body = FlowRow), (status = 404, body = ErrorBody), (status = 409, description = "The flow is active: pause it first", body = ErrorBody)))]
pub async fn archive_flow(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<FlowRow>> {
    Ok(Json(flow_service::archive(&state.services, &id).await?))
}

#[utoipa::path(post, path = "/api/flows/{id}/restore", tag = "flows", params(("id" = i64, Path)), responses((status = 200, description = "Back in the list, paused (a draft when it never ran)", body = FlowRow), (status = 404, body = ErrorBody), (status = 409, description = "The flow is not archived", body = ErrorBody)))]
pub async fn restore_flow(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<FlowRow>> {
    Ok(Json(flow_service::restore(&state.services, &id).await?))
}

/// The newest version's definition, as re-importable JSON.
#[utoipa::path(get, path = "/api/flows/{id}", tag = "flows", params(("id" = i64, Path)), responses((status = 200, description = "The newest version, re-importable", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn get_flow(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    Ok(Json(flow_service::newest_definition(&state.services, &id).await?))
}

#[utoipa::path(put, path = "/api/flows/{id}", tag = "flows", params(("id" = i64, Path)), request_body(content = serde_json::Value, description = "A cairn.flow/v1 document"), responses((status = 200, description = "A new version", body = FlowVersion), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_flow(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<FlowVersion>> {
    let flow = flow_service::existing(&state.services, &id).await?;
    let document = body::json(body, strict::DOCUMENTS)?;
    let version = flow_service::update(&state.services, &flow, document).await?;
    Ok(Json(FlowVersion { id: flow.id, version }))
}

/// Activates the newest version; the first activation of a version admits the audience of its
/// segment entries (resuming a paused flow does not admit it again).
#[utoipa::path(post, path = "/api/flows/{id}/activate", tag = "flows", params(("id" = i64, Path)), responses((status = 200, description = "Active; `entered` counts the segment audience admitted", body = FlowRow), (status = 404, body = ErrorBody), (status = 409, description = "The flow is archived: restore it first", body = ErrorBody), (status = 422, description = "A segment entry or a branch names a saved segment that does not exist", body = ErrorBody)))]
pub async fn activate_flow(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let (row, entered) = flow_service::activate(&state.services, &id).await?;
    let mut body = json!(row);
    body["entered"] = json!(entered);
    Ok(Json(body))
}

#[utoipa::path(delete, path = "/api/flows/{id}", tag = "flows", params(("id" = i64, Path)), responses((status = 204, description = "Deleted with its versions and draft"), (status = 404, body = ErrorBody), (status = 409, description = "The flow has been activated: its journeys and their history keep it", body = ErrorBody)))]
pub async fn delete_flow(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<StatusCode> {
    flow_service::delete(&state.services, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/flows/{id}/pause", tag = "flows", params(("id" = i64, Path)), responses((status = 200, body = FlowRow), (status = 404, body = ErrorBody)))]
pub async fn pause_flow(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<FlowRow>> {
    Ok(Json(flow_service::pause(&state.services, &id).await?))
}

/// `PUT /api/flows/{id}/secret`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// At least 16 characters, or null to stop requiring signatures. Required: an empty body
    /// must not quietly turn signing off.
    #[serde(deserialize_with = "present")]
    #[schema(required = true, nullable)]
    pub secret: Option<String>,
}

/// A field that must be given, though it may be `null` (serde treats a missing `Option` field as
/// `None` unless its deserializer is named).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

#[utoipa::path(put, path = "/api/flows/{id}/secret", tag = "flows", params(("id" = i64, Path)), request_body = SecretBody, responses((status = 200, body = serde_json::Value), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_flow_secret(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    flow_service::flow_id(&id)?;
    let request: SecretBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let id = flow_service::set_secret(&state.services, &id, request.secret.as_deref()).await?;
    Ok(Json(json!({"id": id, "signed_entries": request.secret.is_some()})))
}

/// `GET /api/flows/{id}/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsBody {
    pub flow: i64,
    /// Per node id: journal lines by action (`actions`) and journeys there now (`here`).
    #[schema(value_type = Object)]
    pub nodes: Value,
    /// Per labelled edge of the newest version, how many journeys took it.
    pub edges: Vec<flow_service::EdgeCount>,
}

#[utoipa::path(get, path = "/api/flows/{id}/stats", tag = "flows", params(("id" = i64, Path)), responses((status = 200, description = "Per node: journal actions and journeys here now; per labelled edge: journeys that took it", body = StatsBody), (status = 404, body = ErrorBody)))]
pub async fn flow_stats(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<StatsBody>> {
    let stats = flow_service::stats(&state.services, &id).await?;
    Ok(Json(StatsBody {
        flow: stats.flow,
        nodes: serde_json::to_value(&stats.nodes).map_err(super::error::ApiError::internal)?,
        edges: stats.edges,
    }))
}

/// `POST /api/flows/validate`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    /// Whether `POST /api/flows` would store it.
    pub valid: bool,
    /// Every problem, each with its node and field where it has them.
    pub problems: Vec<Detail>,
}

/// Checks a flow document as `POST /api/flows` does, without storing it: every problem at once.
#[utoipa::path(post, path = "/api/flows/validate", tag = "flows", request_body(content = serde_json::Value, description = "Any JSON value, usually a cairn.flow/v1 document being edited"), responses((status = 200, description = "Valid or not, with every problem located", body = Validation), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "JSON over the body limits", body = ErrorBody)))]
pub async fn validate_flow(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Validation>> {
    let document = body::json(body, strict::DOCUMENTS)?;
    let problems: Vec<Detail> = flow_service::validate(&state.services.policy.get(), document)
        .into_iter()
        .map(Detail::from)
        .collect();
    Ok(Json(Validation {
        valid: problems.is_empty(),
        problems,
    }))
}

/// `GET /api/flows/{id}/draft`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftBody {
    /// The document as saved.
    #[schema(value_type = Object)]
    pub definition: Value,
    pub saved_at: DateTime<Utc>,
}

/// `PUT /api/flows/{id}/draft`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftSaved {
    pub saved_at: DateTime<Utc>,
}

/// The flow's draft: the document being edited, as last saved.
#[utoipa::path(get, path = "/api/flows/{id}/draft", tag = "flows", params(("id" = i64, Path)), responses((status = 200, body = DraftBody), (status = 404, description = "No such flow, or it has no draft", body = ErrorBody)))]
pub async fn get_draft(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<DraftBody>> {
    let (definition, saved_at) = flow_service::draft(&state.services, &id).await?;
    Ok(Json(DraftBody { definition, saved_at }))
}

/// Saves the flow's draft, replacing the one before. Any JSON object: work in progress need
/// not compile. Publishing (`PUT /api/flows/{id}`) deletes it.
#[utoipa::path(put, path = "/api/flows/{id}/draft", tag = "flows", params(("id" = i64, Path)), request_body(content = Object, description = "Any JSON object, usually a cairn.flow/v1 document being edited"), responses((status = 200, body = DraftSaved), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, description = "Not a JSON object, or over the body limits", body = ErrorBody)))]
pub async fn put_draft(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<DraftSaved>> {
    flow_service::flow_id(&id)?;
    let document = body::json(body, strict::DOCUMENTS)?;
    let saved_at = flow_service::save_draft(&state.services, &id, &document).await?;
    Ok(Json(DraftSaved { saved_at }))
}

/// Deletes the flow's draft (no error when it has none).
#[utoipa::path(delete, path = "/api/flows/{id}/draft", tag = "flows", params(("id" = i64, Path)), responses((status = 204, description = "No draft now"), (status = 404, body = ErrorBody)))]
pub async fn delete_draft(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<StatusCode> {
    flow_service::delete_draft(&state.services, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every version of the flow, newest first.
#[utoipa::path(get, path = "/api/flows/{id}/versions", tag = "flows", params(("id" = i64, Path)), responses((status = 200, body = Vec<flow_service::VersionSummary>), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(state): State<AppState>,
    Segment(id): Segment,
) -> ApiResult<Json<Vec<flow_service::VersionSummary>>> {
    Ok(Json(flow_service::versions(&state.services, &id).await?))
}

/// One version's definition, as re-importable JSON.
#[utoipa::path(get, path = "/api/flows/{id}/versions/{version}", tag = "flows", params(("id" = i64, Path), ("version" = i64, Path)), responses((status = 200, description = "The version's definition", body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_version(State(state): State<AppState>, Pair(id, version): Pair) -> ApiResult<Json<Value>> {
    Ok(Json(flow_service::version(&state.services, &id, &version).await?))
}

#[derive(Debug, Deserialize)]
pub struct Page {
    limit: Option<u64>,
    offset: Option<u64>,
}

/// Who waits at a node now: the contacts whose journey in this flow is there, oldest journey
/// first, and how many in all.
#[utoipa::path(get, path = "/api/flows/{id}/nodes/{node}/contacts", tag = "flows", params(("id" = i64, Path), ("node" = String, Path), ("limit" = Option<u64>, Query, description = "At most this many (1 to 1 000, default 50)"), ("offset" = Option<u64>, Query, description = "Skip this many (default 0)")), responses((status = 200, body = flow_service::AtNode), (status = 404, description = "No such flow, or no such node in any of its versions", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn node_contacts(
    State(state): State<AppState>,
    Pair(id, node): Pair,
    query: Result<Query<Page>, QueryRejection>,
) -> ApiResult<Json<flow_service::AtNode>> {
    let Query(q) =
        query.map_err(|_| super::error::ApiError::field("limit", "limit and offset must be whole numbers"))?;
    let limit = body::bounded_limit(q.limit, 50, 1_000)?;
    let offset = q.offset.unwrap_or(0);
    if offset > i64::MAX as u64 {
        return Err(super::error::ApiError::field("offset", "is too large"));
    }
    Ok(Json(
        flow_service::at_node(&state.services, &id, &node, (limit, offset)).await?,
    ))
}

#[utoipa::path(get, path = "/api/schema/flow.json", tag = "flows", responses((status = 200, description = "The JSON Schema of cairn.flow/v1", body = serde_json::Value)))]
pub async fn flow_schema() -> Json<Value> {
    Json(flows::definition::json_schema())
}
