//! `/api/tags` and `/api/lists`: tag definitions (lifetimes) and the tags and lists in use.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::body::{self, ApiResult};
use super::docs::ErrorBody;
use super::{AppState, Segment, strict};
use crate::service::contacts as service;
use crate::store::tags;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tags", get(list_tags))
        .route("/api/tags/{name}", put(define_tag))
        .route("/api/lists", get(list_lists))
}

/// `PUT /api/tags/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagDefinitionBody {
    /// How long the tag stays after each addition (`30d`, `12h`, `1w`); null or absent: for
    /// good. A change applies to active tags from their last addition.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub lifetime: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

/// A tag: its definition, if it has one, and how many contacts have it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagSummary {
    pub name: String,
    pub defined: bool,
    /// The lifetime as written in durations (`30d`), or null.
    pub lifetime: Option<String>,
    pub lifetime_ms: Option<i64>,
    pub description: Option<String>,
    /// Contacts that have it now.
    pub active: i64,
    /// Contacts that ever had it.
    pub total: i64,
}

/// A list and how many contacts are in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListSummary {
    pub list: String,
    pub members: i64,
}

#[utoipa::path(put, path = "/api/tags/{name}", tag = "contacts", params(("name" = String, Path)), request_body = TagDefinitionBody, responses((status = 201, description = "Defined", body = serde_json::Value), (status = 200, description = "Changed; active tags now expire at their last addition plus the new lifetime (none without one)", body = serde_json::Value), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn define_tag(
    State(state): State<AppState>,
    Segment(name): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let request: TagDefinitionBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let created = service::define_tag(
        &state.services,
        &name,
        request.lifetime.as_deref(),
        request.description.as_deref(),
    )
    .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"name": name, "created": created}))).into_response())
}

#[utoipa::path(get, path = "/api/tags", tag = "contacts", responses((status = 200, description = "Defined tags and tags in use, by name", body = Vec<TagSummary>)))]
pub async fn list_tags(State(state): State<AppState>) -> ApiResult<Json<Vec<TagSummary>>> {
    let tags = tags::summary(&state.services.db).await?;
    Ok(Json(
        tags.into_iter()
            .map(|(name, definition, active, total)| {
                let lifetime_ms = definition.as_ref().and_then(|d| d.lifetime_ms);
                TagSummary {
                    name,
                    defined: definition.is_some(),
                    lifetime: lifetime_ms.map(|ms| flows::values::Duration::from_seconds(ms / 1000).to_string()),
                    lifetime_ms,
                    description: definition.and_then(|d| d.description),
                    active,
                    total,
                }
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/lists", tag = "contacts", responses((status = 200, description = "Lists with members, by name", body = Vec<ListSummary>)))]
pub async fn list_lists(State(state): State<AppState>) -> ApiResult<Json<Vec<ListSummary>>> {
    let lists = tags::lists(&state.services.db).await?;
    Ok(Json(
        lists
            .into_iter()
            .map(|(list, members)| ListSummary { list, members })
            .collect(),
    ))
}
