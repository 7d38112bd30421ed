//! `/api/contacts/{id}…`: a contact as the service sees it, and their journal.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::body::ApiResult;
use super::docs::ErrorBody;
use super::error::ApiError;
use super::{AppState, Segment};
use crate::store::{contacts, history, journal};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/contacts/{id}", get(get_contact))
        .route("/api/contacts/{id}/journal", get(journal))
}

#[utoipa::path(get, path = "/api/contacts/{id}", tag = "journeys", params(("id" = String, Path)), responses((status = 200, description = "The contact, the zone its sends use and which source gave it (`contact`, `phone`, `country` or `default`; a flow's own zone applies inside that flow when nothing more specific is known), its country and any suppressed addresses", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn get_contact(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let s = &state.services;
    let missing = || ApiError::NotFound(format!("no contact with id '{id}'"));
    let contact_id = contacts::find(&s.db, &id).await?.ok_or_else(missing)?;
    let contact = contacts::load(&s.db, &[contact_id])
        .await?
        .remove(&contact_id)
        .ok_or_else(missing)?;
    let (zone, source) = flows::geo::contact_zone(&contact, None, s.policy.default_timezone);
    let addresses: Vec<String> = flows::geo::suppression_keys(&contact).collect();
    let suppressed = history::suppressed(&s.db, &addresses).await?;
    Ok(Json(serde_json::json!({
        "id": contact.id,
        "email": contact.email,
        "phone": contact.phone,
        "country": flows::geo::contact_country(&contact),
        "timezone": zone.name(),
        "timezone_source": source,
        "fields": contact.fields,
        "tags": contact.tags,
        "lists": contact.lists,
        "suppressed": suppressed,
    })))
}

#[utoipa::path(get, path = "/api/contacts/{id}/journal", tag = "journeys", params(("id" = String, Path)), responses((status = 200, description = "The objects `cairn simulate` prints, plus `flow`", body = Vec<serde_json::Value>), (status = 404, body = ErrorBody)))]
pub async fn journal(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let db = &state.services.db;
    let contact_id = contacts::find(db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no contact with id '{id}'")))?;
    Ok(Json(Value::Array(journal::journal_of(db, contact_id).await?)))
}
