//! `/api/flows/{id}/entries` and `/api/events`: starting journeys and recording events.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::body::{self, ApiResult};
use super::docs::ErrorBody;
use super::error::ApiError;
use super::{AppState, Authenticated, Segment, strict};
use crate::service::flows as flow_service;
use crate::service::journeys::{self, Entry, NewEvent};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/flows/{id}/entries", post(enter))
        .route("/api/events", post(post_event))
}

/// A contact as an entry carries it: `id` plus what is known; any other key becomes a field.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactBody {
    /// Your system's id for the contact.
    #[schema(min_length = 1, max_length = 256)]
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// IANA zone, e.g. `Europe/Tallinn`.
    pub timezone: Option<String>,
    /// ISO 3166 alpha-2 code.
    pub country: Option<String>,
    /// Tags the contact is given when the journey starts (at most 100).
    pub tags: Option<Vec<String>>,
    /// Lists the contact joins when the journey starts (at most 100).
    pub lists: Option<Vec<String>>,
}

/// `POST /api/flows/{id}/entries`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryBody {
    // Read by `service::contact::contact_input`, which names every mistake in it.
    /// The contact: `id` plus what is known; any other key becomes a contact field.
    #[schema(value_type = ContactBody, required = true)]
    pub contact: Option<Value>,
    /// Entry data, `{{data.…}}` in templates.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Map<String, Value>>,
    /// Idempotency key: the same key twice starts one journey.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub key: Option<String>,
    /// The webhook entry node, when the flow has several.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub entry: Option<String>,
}

/// The journey an entry started, or the one its key started before.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryAccepted {
    pub token: i64,
    pub duplicate: bool,
}

#[utoipa::path(post, path = "/api/flows/{id}/entries", tag = "journeys", params(("id" = i64, Path), ("x-cairn-signature" = Option<String>, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<flow id>.<body>\">, required when the flow has a secret")), request_body = EntryBody, responses((status = 202, body = EntryAccepted), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Flow not active, contact already in it, key used for another contact, or a signature used before", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn enter(
    State(state): State<AppState>,
    Segment(id): Segment,
    axum::Extension(authenticated): axum::Extension<Authenticated>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let s = &state.services;
    let flow = flow_service::existing(s, &id).await?;
    let body = body::bytes(body)?;
    let signature = match crate::store::flows::secret(&s.db, flow.id).await? {
        Some(secret) => Some(super::signed::check(
            &secret,
            (flow.id, &body),
            &headers,
            s.clock.now(),
        )?),
        // A flow without a secret takes entries only from callers holding the API token.
        None if !authenticated.0 => {
            return Err(ApiError::Unauthorized(
                "this API requires Authorization: Bearer <CAIRN_API_TOKEN>".into(),
            ));
        }
        None => None,
    };
    let request: EntryBody = body::typed(body::json(Ok(body), strict::RECORDS)?)?;
    body::check_names([("key", request.key.as_deref()), ("entry", request.entry.as_deref())])?;
    let entry = Entry {
        contact: request.contact,
        data: request.data.unwrap_or_default(),
        key: request.key,
        entry: request.entry,
        signature,
    };
    let started = journeys::enter(s, &flow, entry).await?;
    let accepted = EntryAccepted {
        token: started.token,
        duplicate: started.duplicate,
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// `POST /api/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// The contact's id.
    #[schema(min_length = 1, max_length = 256)]
    pub contact: String,
    /// `opened`, `clicked`, `tag_added`, `list_added`, … or a custom type.
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 256)]
    pub kind: String,
    /// The message id the event is about.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub message: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub tag: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub list: Option<String>,
    /// Entry data of a journey the event starts; absent and `null` are no data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Map<String, Value>>,
}

#[utoipa::path(post, path = "/api/events", tag = "journeys", request_body = EventBody, responses((status = 202, body = serde_json::Value), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 404, description = "Unknown contact", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_event(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Response> {
    let request: EventBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let event = NewEvent {
        contact: request.contact,
        kind: request.kind,
        message: request.message,
        tag: request.tag,
        list: request.list,
        data: request.data.unwrap_or_default(),
    };
    journeys::record_event(&state.services, event).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response())
}
