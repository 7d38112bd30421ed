//! `/api/contacts…`: contacts written whole (`PUT`) or in part (`PATCH`), searched, read with
//! their tags and lists, erased; their tags and lists; their journal.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::body::{self, ApiResult};
use super::docs::ErrorBody;
use super::error::ApiError;
use super::{AppState, Pair, Segment, strict};
use crate::service::contacts as service;
use crate::store::directory::ContactRow;
use crate::store::tags::{ListFact, TagFact};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/contacts", get(search))
        .route(
            "/api/contacts/{id}",
            get(get_contact)
                .put(put_contact)
                .patch(patch_contact)
                .delete(erase_contact),
        )
        .route("/api/contacts/{id}/journal", get(journal))
        .route("/api/contacts/{id}/tags", post(add_tag))
        .route("/api/contacts/{id}/tags/{tag}", delete(remove_tag))
        .route("/api/contacts/{id}/lists", post(join_list))
        .route("/api/contacts/{id}/lists/{list}", delete(leave_list))
}

/// A contact object for `PUT` and `PATCH`: the keys Cairn knows; any other key is a custom
/// field. In a `PATCH`, `null` clears a known key or removes a field.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct ContactObject {
    /// When given, the path's id.
    #[schema(min_length = 1, max_length = 256)]
    pub id: Option<String>,
    /// An address that can be sent to.
    pub email: Option<String>,
    /// International format: `+` and the country code.
    pub phone: Option<String>,
    /// IANA zone, e.g. `Europe/Tallinn`.
    pub timezone: Option<String>,
    /// ISO 3166 alpha-2 code.
    pub country: Option<String>,
    /// Tags to add (source `api`); tags are never removed by a contact object.
    pub tags: Option<Vec<String>>,
    /// Lists to join (source `api`).
    pub lists: Option<Vec<String>>,
}

/// What added a tag or a list membership.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceBody {
    /// `api` (the default), `flow`, `link`, `form`, `import` or `user`.
    #[serde(default)]
    pub kind: Option<String>,
    /// What it names: a form, a link, an import…
    #[serde(default, rename = "ref")]
    #[schema(min_length = 1, max_length = 256)]
    pub reference: Option<String>,
}

/// `POST /api/contacts/{id}/tags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    #[schema(min_length = 1, max_length = 256)]
    pub tag: String,
    #[serde(default)]
    pub source: Option<SourceBody>,
}

/// `POST /api/contacts/{id}/lists`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListBody {
    #[schema(min_length = 1, max_length = 256)]
    pub list: String,
    #[serde(default)]
    pub source: Option<SourceBody>,
}

/// `GET /api/contacts`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<u64>,
}

/// A page of contacts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactPage {
    #[schema(value_type = Vec<Object>)]
    pub contacts: Vec<ContactRow>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A tag or list change that found nothing to change says so.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    pub removed: bool,
}

fn source(source: Option<SourceBody>) -> ApiResult<crate::store::tags::Source> {
    let (kind, reference) = source.map(|s| (s.kind, s.reference)).unwrap_or_default();
    Ok(service::source("source", kind, reference)?)
}

#[utoipa::path(get, path = "/api/contacts", tag = "contacts", params(("q" = Option<String>, Query, description = "Contacts whose id, e-mail, phone or name (`name`, `first_name`, `last_name` fields) contains this, case-insensitively"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"), ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000; 50 when absent")), responses((status = 200, description = "Contacts in the order they were created", body = ContactPage), (status = 422, description = "A bad limit, cursor or q", body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Json<ContactPage>> {
    let Query(q) = query.map_err(|_| ApiError::field("limit", "must be a whole number"))?;
    let limit = body::bounded_limit(q.limit, 50, 1000)?;
    let page = service::search(&state.services, q.q.as_deref(), q.cursor.as_deref(), limit).await?;
    Ok(Json(ContactPage {
        contacts: page.contacts,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/contacts/{id}", tag = "contacts", params(("id" = String, Path)), responses((status = 200, description = "The contact, the zone its sends use and which source gave it (`contact`, `phone`, `country` or `default`; a flow's own zone applies inside that flow when nothing more specific is known), its country, any suppressed addresses, its tags (`tag`, `count`, `first_added_at`, `last_added_at`, `expires_at`, `active`, `source`) and lists (`list`, `added_at`, `source`)", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn get_contact(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    Ok(Json(service::view(&state.services, &id).await?))
}

#[utoipa::path(put, path = "/api/contacts/{id}", tag = "contacts", params(("id" = String, Path)), request_body = ContactObject, responses((status = 201, description = "Created", body = serde_json::Value), (status = 200, description = "Replaced: what the body leaves out is cleared", body = serde_json::Value), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "A field is wrong (named), or the body's id is not the path's", body = ErrorBody)))]
pub async fn put_contact(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body::json(body, strict::RECORDS)?;
    let created = service::put(&state.services, &id, body).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"id": id, "created": created}))).into_response())
}

#[utoipa::path(patch, path = "/api/contacts/{id}", tag = "contacts", params(("id" = String, Path)), request_body = ContactObject, responses((status = 200, description = "Updated: only the keys given changed", body = serde_json::Value), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "A field is wrong (named)", body = ErrorBody)))]
pub async fn patch_contact(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = body::json(body, strict::RECORDS)?;
    service::patch(&state.services, &id, body).await?;
    Ok(Json(json!({"id": id, "updated": true})))
}

#[utoipa::path(delete, path = "/api/contacts/{id}", tag = "contacts", params(("id" = String, Path)), responses((status = 204, description = "Erased: the contact's personal data is gone from every table and their journeys ended; anonymous per-node counts stay"), (status = 404, body = ErrorBody)))]
pub async fn erase_contact(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<StatusCode> {
    service::erase(&state.services, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/contacts/{id}/journal", tag = "contacts", params(("id" = String, Path)), responses((status = 200, description = "The objects `cairn simulate` prints, plus `flow`; tag and list changes made outside journeys have node `contact` and flow 0", body = Vec<serde_json::Value>), (status = 404, body = ErrorBody)))]
pub async fn journal(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(service::journal_of(&state.services, &id).await?)))
}

#[utoipa::path(post, path = "/api/contacts/{id}/tags", tag = "contacts", params(("id" = String, Path)), request_body = TagBody, responses((status = 200, description = "The tag as it now is: count + 1, last added now, active, expiring by its lifetime", body = TagFact), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_tag(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<TagFact>> {
    let request: TagBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let source = source(request.source)?;
    Ok(Json(
        service::add_tag(&state.services, &id, &request.tag, source).await?,
    ))
}

#[utoipa::path(delete, path = "/api/contacts/{id}/tags/{tag}", tag = "contacts", params(("id" = String, Path), ("tag" = String, Path)), responses((status = 200, description = "The tag is inactive; its counter and dates stay. `removed` is false when it was not active", body = Removed), (status = 404, body = ErrorBody), (status = 422, description = "Not a tag name", body = ErrorBody)))]
pub async fn remove_tag(State(state): State<AppState>, Pair(id, tag): Pair) -> ApiResult<Json<Removed>> {
    let removed = service::remove_tag(&state.services, &id, &tag).await?;
    Ok(Json(Removed { removed }))
}

#[utoipa::path(post, path = "/api/contacts/{id}/lists", tag = "contacts", params(("id" = String, Path)), request_body = ListBody, responses((status = 200, description = "The membership; a contact already in the list keeps its first date and source", body = ListFact), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn join_list(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ListFact>> {
    let request: ListBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let source = source(request.source)?;
    Ok(Json(
        service::join_list(&state.services, &id, &request.list, source).await?,
    ))
}

#[utoipa::path(delete, path = "/api/contacts/{id}/lists/{list}", tag = "contacts", params(("id" = String, Path), ("list" = String, Path)), responses((status = 200, description = "The contact is off the list; `removed` is false when they were not in it", body = Removed), (status = 404, body = ErrorBody), (status = 422, description = "Not a list name", body = ErrorBody)))]
pub async fn leave_list(State(state): State<AppState>, Pair(id, list): Pair) -> ApiResult<Json<Removed>> {
    let removed = service::leave_list(&state.services, &id, &list).await?;
    Ok(Json(Removed { removed }))
}
