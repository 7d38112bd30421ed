//! Request handlers, one per route.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use flows::definition::NodeKind;
use flows::entry::WebhookEntryError;
use flows::{CompiledFlow, Event};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::docs::{EntryAccepted, EntryBody, ErrorBody, EventBody, FlowVersion, SecretBody};
use super::error::{ApiError, Detail};
use super::{AppState, BODY_LIMIT, Segment, strict};
use crate::store::contacts;
use crate::store::flows as flow_store;
use crate::store::flows::FlowRow;
use crate::store::journeys::{self, Entered, NewEntry};

type ApiResult<T> = Result<T, ApiError>;

/// The raw body: 413 over the limit, 400 when it cannot be read.
fn body_bytes(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge { limit: BODY_LIMIT }
        } else {
            ApiError::BadBody(r.body_text())
        }
    })
}

/// The body as JSON within `limits` ([`strict`]): 413 over the size limit, 400 with line and
/// column when it does not parse, 422 naming the field over a limit or given twice.
fn json_body(body: Result<Bytes, BytesRejection>, limits: strict::Limits) -> ApiResult<Value> {
    let bytes = body_bytes(body)?;
    strict::parse(&bytes, limits).map_err(|e| match e {
        strict::StrictError::Syntax(e) => ApiError::MalformedJson {
            message: flows::json::json_error_message(&e),
            line: e.line(),
            column: e.column(),
        },
        strict::StrictError::Refused { field, message } => ApiError::field(&field, message),
    })
}

fn flow_id(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no flow with id '{raw}'")))
}

async fn existing_flow(state: &AppState, raw: &str) -> ApiResult<flow_store::FlowRow> {
    let id = flow_id(raw)?;
    flow_store::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no flow with id {id}")))
}

/// Compiles a posted definition; stores it in its canonical form.
/// Compiles a flow document and checks it against the workspace policy (its calendars).
fn compile_body(state: &AppState, body: Value) -> ApiResult<(CompiledFlow, String)> {
    let flow = flows::compile::compile_value(body)?;
    state.policy.check_flow(&flow)?;
    let text = serde_json::to_string(flow.definition()).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((flow, text))
}

#[utoipa::path(post, path = "/api/flows", tag = "flows", request_body(content = serde_json::Value, description = "A cairn.flow/v1 document (JSON Schema: /api/schema/flow.json)"), responses((status = 201, description = "Stored as version 1, a draft", body = FlowVersion), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "Every problem, located", body = ErrorBody)))]
pub async fn create_flow(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Response> {
    let (flow, text) = compile_body(&state, json_body(body, strict::DOCUMENTS)?)?;
    let tx = crate::db::begin_write(&state.db).await?;
    let id = flow_store::create(&tx, flow.name(), &text, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "version": 1}))).into_response())
}

#[utoipa::path(get, path = "/api/flows", tag = "flows", responses((status = 200, body = Vec<FlowRow>)))]
pub async fn list_flows(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(flow_store::list(&state.db).await?)))
}

/// The newest version's definition, as re-importable JSON.
#[utoipa::path(get, path = "/api/flows/{id}", tag = "flows", params(("id" = i64, Path)), responses((status = 200, description = "The newest version, re-importable", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn get_flow(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let flow = existing_flow(&state, &id).await?;
    let text = flow_store::definition(&state.db, flow.id, flow.version)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("flow {} has no version {}", flow.id, flow.version)))?;
    Ok(Json(
        serde_json::from_str(&text).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

#[utoipa::path(put, path = "/api/flows/{id}", tag = "flows", params(("id" = i64, Path)), request_body(content = serde_json::Value, description = "A cairn.flow/v1 document"), responses((status = 200, description = "A new version", body = FlowVersion), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_flow(
    State(state): State<AppState>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let existing = existing_flow(&state, &id).await?;
    let (flow, text) = compile_body(&state, json_body(body, strict::DOCUMENTS)?)?;
    // One writer at a time: the version number is read and written in the same transaction.
    let tx = crate::db::begin_write(&state.db).await?;
    let version = flow_store::add_version(&tx, existing.id, flow.name(), &text, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no flow with id {id}")))?;
    tx.commit().await?;
    Ok(Json(json!({"id": existing.id, "version": version})))
}

/// Activates the newest version; the first activation of a version admits the audience of its
/// segment entries (resuming a paused flow does not admit it again).
#[utoipa::path(post, path = "/api/flows/{id}/activate", tag = "flows", params(("id" = i64, Path)), responses((status = 200, description = "Active; `entered` counts the segment audience admitted", body = FlowRow), (status = 404, body = ErrorBody)))]
pub async fn activate_flow(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let id = flow_id(&id)?;
    let now = state.clock.now();
    let tx = crate::db::begin_write(&state.db).await?;
    let row = flow_store::set_status(&tx, id, true, now)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no flow with id {id}")))?;
    let version = row.active_version.unwrap_or(row.version);
    let compiled = state.flows.get(&tx, id, version).await?;
    // Events that reached its journeys while it was paused are applied now.
    journeys::release_held_events(&tx, id).await?;
    let mut entered = 0;
    let mut arrivals = std::collections::BTreeMap::new();
    let admit = flow_store::first_admission(&tx, id, version).await?;
    for (_, node) in compiled.entries().filter(|_| admit) {
        if let NodeKind::SegmentEntry(segment) = &node.kind {
            let audience = journeys::AudienceEntry {
                flow_id: id,
                version,
                entry_node: &node.id,
                list: segment.list.as_deref(),
                reentry: compiled.definition().reentry,
                now,
            };
            let n = journeys::enter_audience(&tx, audience).await?;
            arrivals.insert((id, node.id.clone()), n as i64);
            entered += n;
        }
    }
    // Last: counter rows (see `journeys::count_here`).
    journeys::count_here(&tx, arrivals).await?;
    tx.commit().await?;
    state.engine.notify_one();
    let mut body = json!(row);
    body["entered"] = json!(entered);
    Ok(Json(body))
}

#[utoipa::path(post, path = "/api/flows/{id}/pause", tag = "flows", params(("id" = i64, Path)), responses((status = 200, body = FlowRow), (status = 404, body = ErrorBody)))]
pub async fn pause_flow(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let id = flow_id(&id)?;
    let row = flow_store::set_status(&state.db, id, false, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no flow with id {id}")))?;
    Ok(Json(json!(row)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRequest {
    contact: Option<Value>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    /// Idempotency key: the same key twice starts one journey.
    #[serde(default)]
    key: Option<String>,
    /// Which webhook entry node, when the flow has several.
    #[serde(default)]
    entry: Option<String>,
}

impl EntryRequest {
    /// The names it carries are names: not blank, no control characters, not too long.
    fn check(&self) -> ApiResult<()> {
        let problems: Vec<(String, String)> = [("key", &self.key), ("entry", &self.entry)]
            .into_iter()
            .filter_map(|(field, value)| super::contact::name_problem(field, value.as_deref()?))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::fields(problems))
        }
    }
}

/// A request body as `T`; a mistake names the field it is in (`data.at`), or for a missing or
/// unknown field the field serde names.
fn typed<T: serde::de::DeserializeOwned>(value: Value) -> ApiResult<T> {
    flows::json::typed_at(value).map_err(|e| {
        if e.path.is_empty() {
            ApiError::invalid(
                "invalid_request",
                e.message.clone(),
                vec![Detail {
                    node: None,
                    field: None,
                    message: e.message,
                    line: None,
                    column: None,
                }],
            )
        } else {
            ApiError::field(&e.path, e.message)
        }
    })
}

#[utoipa::path(post, path = "/api/flows/{id}/entries", tag = "journeys", params(("id" = i64, Path), ("x-cairn-signature" = Option<String>, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<flow id>.<body>\">, required when the flow has a secret")), request_body = EntryBody, responses((status = 202, body = EntryAccepted), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Flow not active, contact already in it, key used for another contact, or a signature used before", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn enter(
    State(state): State<AppState>,
    Segment(id): Segment,
    axum::Extension(authenticated): axum::Extension<super::Authenticated>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let flow = existing_flow(&state, &id).await?;
    let body = body_bytes(body)?;
    let signature = match flow_store::secret(&state.db, flow.id).await? {
        Some(secret) => Some(super::signed::check(
            &secret,
            (flow.id, &body),
            &headers,
            state.clock.now(),
        )?),
        // A flow without a secret takes entries only from callers holding the API token.
        None if !authenticated.0 => {
            return Err(ApiError::Unauthorized(
                "this API requires Authorization: Bearer <CAIRN_API_TOKEN>".into(),
            ));
        }
        None => None,
    };
    let request: EntryRequest = typed(json_body(Ok(body), strict::RECORDS)?)?;
    request.check()?;
    let (true, Some(version)) = (flow.status == "active", flow.active_version) else {
        return Err(ApiError::Conflict(format!(
            "flow {} is {}; activate it to accept entries",
            flow.id, flow.status
        )));
    };
    let compiled = state.flows.get(&state.db, flow.id, version).await?;
    let entry_node = match flows::entry::webhook_entry(&compiled, request.entry.as_deref()) {
        Ok(node) => node.id.clone(),
        Err(WebhookEntryError::Unknown(e)) => {
            return Err(ApiError::field(
                "entry",
                format!("flow {} has no webhook_entry node '{e}'", flow.id),
            ));
        }
        Err(WebhookEntryError::Missing) => {
            return Err(ApiError::Conflict(format!(
                "flow {} has no webhook_entry node",
                flow.id
            )));
        }
        Err(WebhookEntryError::Several(webhooks)) => {
            return Err(ApiError::field(
                "entry",
                format!(
                    "flow {} has several webhook entries; name one: {}",
                    flow.id,
                    webhooks.join(", ")
                ),
            ));
        }
    };
    let contact = super::contact::contact_input(request.contact)?;
    let now = state.clock.now();
    let tx = crate::db::begin_write(&state.db).await?;
    if let Some(signature) = &signature {
        super::signed::use_once(&tx, flow.id, signature, now).await?;
    }
    let contact_id = contacts::upsert(&tx, &contact, now).await?;
    let entered = journeys::enter_with_memberships(
        &tx,
        NewEntry {
            flow_id: flow.id,
            version,
            contact_id,
            contact: &contact.id,
            entry_node: &entry_node,
            data: request.data.unwrap_or_default(),
            key: request.key.as_deref(),
            reentry: compiled.definition().reentry,
            now,
        },
        (&contact.tags, &contact.lists),
    )
    .await?;
    if let Entered::Refused { reason } = entered {
        tx.rollback().await?;
        return Err(ApiError::Conflict(reason));
    }
    tx.commit().await?;
    match entered {
        Entered::Started { token } => {
            state.engine.notify_one();
            Ok((StatusCode::ACCEPTED, Json(json!({"token": token, "duplicate": false}))).into_response())
        }
        Entered::Duplicate { token } => {
            Ok((StatusCode::ACCEPTED, Json(json!({"token": token, "duplicate": true}))).into_response())
        }
        Entered::Refused { .. } => unreachable!("refused entries returned above"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRequest {
    /// The new secret, or null to stop requiring signatures. Required: an empty body must not
    /// quietly turn signing off.
    #[serde(deserialize_with = "present")]
    secret: Option<String>,
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
    let id = flow_id(&id)?;
    let request: SecretRequest = typed(json_body(body, strict::RECORDS)?)?;
    if request.secret.as_ref().is_some_and(|s| s.len() < 16) {
        return Err(ApiError::field("secret", "must be at least 16 characters"));
    }
    if !flow_store::set_secret(&state.db, id, request.secret.as_deref(), state.clock.now()).await? {
        return Err(ApiError::NotFound(format!("no flow with id {id}")));
    }
    Ok(Json(json!({"id": id, "signed_entries": request.secret.is_some()})))
}

/// Records a tracking hit as an event of the message's contact.
async fn record_hit(state: &AppState, message: &str, kind: &str) -> ApiResult<()> {
    let row = crate::db::one(
        &state.db,
        "SELECT m.contact_id, c.external_id FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE m.id = $1",
        vec![message.into()],
    )
    .await?
    .ok_or_else(|| ApiError::NotFound("no such tracking link".into()))?;
    let contact_id: i64 = crate::db::col(&row, 0)?;
    let contact: String = crate::db::col(&row, 1)?;
    let now = state.clock.now();
    let event = Event {
        at: now,
        contact,
        kind: kind.into(),
        message: Some(message.into()),
        tag: None,
        list: None,
        data: Map::new(),
    };
    journeys::push_event(&state.db, contact_id, &event, now).await?;
    state.engine.notify_one();
    Ok(())
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

#[utoipa::path(get, path = "/t/o/{token}", tag = "tracking", params(("token" = String, Path)), responses((status = 200, description = "A 1x1 GIF; the open is recorded", content_type = "image/gif"), (status = 404, description = "Forged or unknown token: nothing recorded")))]
pub async fn track_open(
    State(state): State<AppState>,
    method: axum::http::Method,
    Segment(token): Segment,
) -> ApiResult<Response> {
    let Some(crate::tracking::Hit::Open { message }) = state.tracker.verify(&token) else {
        return Err(ApiError::NotFound("no such tracking link".into()));
    };
    // Only a GET is an open: link checkers and robots HEAD links without reading them.
    if method == axum::http::Method::GET {
        record_hit(&state, &message, "opened").await?;
    }
    let headers = [
        (axum::http::header::CONTENT_TYPE, "image/gif"),
        (axum::http::header::CACHE_CONTROL, "no-store"),
    ];
    Ok((headers, PIXEL).into_response())
}

#[utoipa::path(get, path = "/t/c/{token}", tag = "tracking", params(("token" = String, Path)), responses((status = 303, description = "Redirect to the original URL; the click is recorded"), (status = 404, description = "Forged or unknown token: nothing recorded")))]
pub async fn track_click(
    State(state): State<AppState>,
    method: axum::http::Method,
    Segment(token): Segment,
) -> ApiResult<Response> {
    let Some(crate::tracking::Hit::Click { message, url }) = state.tracker.verify(&token) else {
        return Err(ApiError::NotFound("no such tracking link".into()));
    };
    // Only absolute http(s) targets are redirected to, whatever an older token says.
    let crate::tracking::Link::Tracked(url) = crate::tracking::link(&url) else {
        return Err(ApiError::NotFound("no such tracking link".into()));
    };
    if axum::http::HeaderValue::from_str(&url).is_err() {
        return Err(ApiError::NotFound("no such tracking link".into()));
    }
    if method == axum::http::Method::GET {
        record_hit(&state, &message, "clicked").await?;
    }
    Ok(axum::response::Redirect::to(&url).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    contact: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    list: Option<String>,
    /// Absent and `null` are no data.
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

#[utoipa::path(post, path = "/api/events", tag = "journeys", request_body = EventBody, responses((status = 202, body = serde_json::Value), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 404, description = "Unknown contact", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_event(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Response> {
    let request: EventRequest = typed(json_body(body, strict::RECORDS)?)?;
    let now = state.clock.now();
    let event = Event {
        at: now,
        contact: request.contact,
        kind: request.kind,
        message: request.message,
        tag: request.tag,
        list: request.list,
        data: request.data.unwrap_or_default(),
    };
    event
        .check()
        .map_err(|found| ApiError::fields(found.into_iter().map(|p| (p.field, p.message)).collect()))?;
    let contact_id = contacts::find(&state.db, &event.contact)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no contact with id '{}'", event.contact)))?;
    journeys::push_event(&state.db, contact_id, &event, now).await?;
    state.engine.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response())
}

#[utoipa::path(get, path = "/api/contacts/{id}", tag = "journeys", params(("id" = String, Path)), responses((status = 200, description = "The contact, the zone its sends use and which source gave it (`contact`, `phone`, `country` or `default`; a flow's own zone applies inside that flow when nothing more specific is known), its country and any suppressed addresses", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn get_contact(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let missing = || ApiError::NotFound(format!("no contact with id '{id}'"));
    let contact_id = contacts::find(&state.db, &id).await?.ok_or_else(missing)?;
    let contact = contacts::load(&state.db, &[contact_id])
        .await?
        .remove(&contact_id)
        .ok_or_else(missing)?;
    let (zone, source) = flows::geo::contact_zone(&contact, None, state.policy.default_timezone);
    let addresses: Vec<String> = flows::geo::suppression_keys(&contact).collect();
    let suppressed = journeys::suppressed(&state.db, &addresses).await?;
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
    let contact_id = contacts::find(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no contact with id '{id}'")))?;
    Ok(Json(Value::Array(journeys::journal_of(&state.db, contact_id).await?)))
}

#[derive(Debug, Deserialize)]
pub struct Limit {
    limit: Option<u64>,
}

/// A listing's `limit`: 1 to 100 000, 100 when absent.
fn limit_of(query: Result<Query<Limit>, axum::extract::rejection::QueryRejection>) -> ApiResult<u64> {
    let Query(q) = query.map_err(|_| ApiError::field("limit", "must be a whole number"))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=100_000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 100000"));
    }
    Ok(limit)
}

#[utoipa::path(get, path = "/api/outbox", tag = "messages", params(("limit" = Option<u64>, Query, minimum = 1, maximum = 100000, description = "1 to 100000; 100 when absent")), responses((status = 200, description = "Messages, newest first; emails not failed show their tracking pixel and links", body = Vec<serde_json::Value>), (status = 422, description = "limit out of range", body = ErrorBody)))]
pub async fn outbox(
    State(state): State<AppState>,
    query: Result<Query<Limit>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let limit = limit_of(query)?;
    let mut messages = journeys::messages(&state.db, limit).await?;
    state.tracker.instrument_listed(&mut messages);
    Ok(Json(Value::Array(messages)))
}

#[utoipa::path(get, path = "/api/flows/{id}/stats", tag = "flows", params(("id" = i64, Path)), responses((status = 200, description = "Per node: journal actions and journeys here now", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn flow_stats(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let flow = existing_flow(&state, &id).await?;
    let stats = journeys::stats(&state.db, flow.id).await?;
    Ok(Json(json!({"flow": flow.id, "nodes": stats})))
}

/// What the engine and delivery set aside: journeys, events and messages they could not load,
/// step or record, oldest first.
#[utoipa::path(get, path = "/api/set-aside", tag = "journeys", params(("limit" = Option<u64>, Query, minimum = 1, maximum = 100000, description = "1 to 100000; 100 when absent")), responses((status = 200, description = "Set-aside items, oldest first", body = Vec<crate::store::set_aside::SetAside>), (status = 422, description = "limit out of range", body = ErrorBody)))]
pub async fn list_set_aside(
    State(state): State<AppState>,
    query: Result<Query<Limit>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let limit = limit_of(query)?;
    Ok(Json(json!(crate::store::set_aside::list(&state.db, limit).await?)))
}

fn set_aside_id(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("nothing set aside with id '{raw}'")))
}

/// Puts a set-aside item back: the journey is due at once, the event or message queued again.
#[utoipa::path(post, path = "/api/set-aside/{id}/retry", tag = "journeys", params(("id" = i64, Path)), responses((status = 200, description = "Queued again", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn retry_set_aside(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let id = set_aside_id(&id)?;
    let now = state.clock.now();
    if !crate::db::in_write(&state.db, async |tx| crate::store::set_aside::retry(tx, id, now).await).await? {
        return Err(ApiError::NotFound(format!("nothing set aside with id {id}")));
    }
    state.engine.notify_one();
    Ok(Json(json!({"id": id, "retried": true})))
}

/// Gives a set-aside item up: a journey ends, an event or a message is dropped.
#[utoipa::path(post, path = "/api/set-aside/{id}/cancel", tag = "journeys", params(("id" = i64, Path)), responses((status = 200, description = "Cancelled", body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn cancel_set_aside(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<Value>> {
    let id = set_aside_id(&id)?;
    let now = state.clock.now();
    if !crate::db::in_write(&state.db, async |tx| crate::store::set_aside::cancel(tx, id, now).await).await? {
        return Err(ApiError::NotFound(format!("nothing set aside with id {id}")));
    }
    Ok(Json(json!({"id": id, "cancelled": true})))
}

#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = serde_json::Value)))]
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    crate::db::one(&state.db, "SELECT 1", vec![]).await?;
    Ok(Json(json!({"status": "ok"})))
}

#[utoipa::path(get, path = "/api/schema/flow.json", tag = "flows", responses((status = 200, description = "The JSON Schema of cairn.flow/v1", body = serde_json::Value)))]
pub async fn flow_schema() -> Json<Value> {
    Json(flows::definition::json_schema())
}

pub async fn home() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Cairn</title></head><body>",
        "<h1>Cairn</h1><p>The journey editor is coming. Meanwhile: <code>POST /api/flows</code>, ",
        "<a href=\"/api/flows\">/api/flows</a>, <a href=\"/api/outbox\">/api/outbox</a>, <a href=\"/healthz\">/healthz</a>.</p>",
        "</body></html>"
    ))
}

pub async fn method_not_allowed() -> (StatusCode, Json<Value>) {
    let body = json!({"error": {"code": "method_not_allowed", "message": "this route does not take that method", "details": []}});
    (StatusCode::METHOD_NOT_ALLOWED, Json(body))
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
