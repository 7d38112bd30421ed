//! `/api/contacts/{id}/records…` and `/api/record-types…`: a contact's related records
//! (contracts, products, orders…) written whole, deleted and listed; record types declared with
//! the types of their fields, and the types in use with their counts.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::body::{self, ApiResult};
use super::docs::ErrorBody;
use super::{AppState, Segment, Triple, strict};
use crate::service::records::{self as service, Named};
use crate::store::records::{self, StoredRecord};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/contacts/{id}/records", get(list_records))
        .route(
            "/api/contacts/{id}/records/{type}/{record_id}",
            put(put_record).delete(delete_record),
        )
        .route("/api/record-types", get(list_record_types))
        .route("/api/record-types/{type}", put(define_record_type))
}

/// A contact's records by type (`{"contract": [{…}], …}`), each type's in id order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactRecords {
    pub records: BTreeMap<String, Vec<StoredRecord>>,
}

/// `PUT /api/record-types/{type}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordTypeBody {
    /// The type of each declared field, by name: `date` (`YYYY-MM-DD` or an RFC 3339 instant),
    /// `number` (a JSON number or a string holding one, stored as a number), `text` or `bool`.
    /// Fields not declared are free.
    #[schema(value_type = BTreeMap<String, String>, example = json!({"end_date": "date", "amount": "number"}))]
    pub fields: Map<String, Value>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

/// A record type: its declaration, if it has one, and how much it is used.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordTypeSummary {
    #[serde(rename = "type")]
    pub kind: String,
    pub declared: bool,
    /// The declared type of each field, by name (empty when not declared).
    pub fields: BTreeMap<String, String>,
    pub description: Option<String>,
    /// Records of this type, over all contacts.
    pub records: i64,
    /// Contacts with at least one record of this type.
    pub contacts: i64,
}

#[utoipa::path(get, path = "/api/contacts/{id}/records", tag = "records", params(("id" = String, Path)), responses((status = 200, description = "The contact's records by type, each type's in id order", body = ContactRecords), (status = 404, body = ErrorBody)))]
pub async fn list_records(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<ContactRecords>> {
    let records = service::of_contact(&state.services, &id).await?;
    Ok(Json(ContactRecords { records }))
}

#[utoipa::path(put, path = "/api/contacts/{id}/records/{type}/{record_id}", tag = "records", params(("id" = String, Path), ("type" = String, Path, min_length = 1, max_length = 256, description = "The record type: `contract`, `order`…"), ("record_id" = String, Path, min_length = 1, max_length = 256)), request_body(content = serde_json::Value, description = "The record's fields, a JSON object (at most 200 keys, 64 KiB as JSON); an `id` key, when given, is the path's record id"), responses((status = 201, description = "Created: the record as stored", body = StoredRecord), (status = 200, description = "Replaced: its fields are the body's", body = StoredRecord), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, description = "No such contact", body = ErrorBody), (status = 409, description = "The contact has 1000 records already", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "Not a name, not an object, or a field that does not fit its declared type (named)", body = ErrorBody)))]
pub async fn put_record(
    State(state): State<AppState>,
    Triple(id, kind, record_id): Triple,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body::json(body, strict::RECORDS)?;
    let named = Named {
        kind: &kind,
        id: &record_id,
    };
    let (record, created) = service::put(&state.services, &id, named, body).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(record)).into_response())
}

#[utoipa::path(delete, path = "/api/contacts/{id}/records/{type}/{record_id}", tag = "records", params(("id" = String, Path), ("type" = String, Path, min_length = 1, max_length = 256), ("record_id" = String, Path, min_length = 1, max_length = 256)), responses((status = 204, description = "Deleted"), (status = 404, description = "No such contact, or no such record", body = ErrorBody), (status = 422, description = "Not a name", body = ErrorBody)))]
pub async fn delete_record(
    State(state): State<AppState>,
    Triple(id, kind, record_id): Triple,
) -> ApiResult<StatusCode> {
    let named = Named {
        kind: &kind,
        id: &record_id,
    };
    service::remove(&state.services, &id, named).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/record-types/{type}", tag = "records", params(("type" = String, Path, min_length = 1, max_length = 256)), request_body = RecordTypeBody, responses((status = 201, description = "Declared", body = serde_json::Value), (status = 200, description = "Changed: records written from now on are checked against it; stored ones stay as they are", body = serde_json::Value), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "Not a name, or not a field type (named)", body = ErrorBody)))]
pub async fn define_record_type(
    State(state): State<AppState>,
    Segment(kind): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let request: RecordTypeBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let created = service::define_type(&state.services, &kind, request.fields, request.description).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"type": kind, "created": created}))).into_response())
}

#[utoipa::path(get, path = "/api/record-types", tag = "records", responses((status = 200, description = "Declared record types and types in use, by name, with their records and the contacts that have them", body = Vec<RecordTypeSummary>)))]
pub async fn list_record_types(State(state): State<AppState>) -> ApiResult<Json<Vec<RecordTypeSummary>>> {
    let types = records::types(&state.services.db).await?;
    Ok(Json(
        types
            .into_iter()
            .map(|t| {
                let declared = t.declared.is_some();
                let (fields, description) = t.declared.map(|d| (d.fields, d.description)).unwrap_or_default();
                RecordTypeSummary {
                    kind: t.kind,
                    declared,
                    fields,
                    description,
                    records: t.records,
                    contacts: t.contacts,
                }
            })
            .collect(),
    ))
}
