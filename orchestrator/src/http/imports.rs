//! Contacts in and out in bulk: `POST /api/imports` (the file as the body, `text/csv` or
//! `application/x-ndjson`; the import runs in the background), `GET /api/imports` and
//! `GET /api/imports/{id}` (status, counts, the first refused lines), and
//! `GET /api/contacts/export` (every contact, streamed a page at a time) and
//! `GET /api/journal/export` (the action log, likewise).

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::body::{self, ApiResult, Limit};
use super::docs::ErrorBody;
use super::error::ApiError;
use super::{AppState, Segment};
use crate::service::export;
use crate::service::import::{Format, Mapping};
use crate::service::imports::{self as service, Key, Options};
use crate::store::imports::ImportRow;

/// The path imports are posted to.
pub const IMPORTS: &str = "/api/imports";
/// Largest file an import takes, in bytes.
pub const IMPORT_LIMIT: usize = 64 << 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            IMPORTS,
            get(list_imports)
                .post(create_import)
                .layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
        )
        .route("/api/imports/{id}", get(get_import))
        .route("/api/contacts/export", get(export_contacts))
        .route("/api/journal/export", get(export_journal))
}

/// The format of an import's body by its content type: `text/csv`, or `application/x-ndjson`
/// (also `application/ndjson`, `application/jsonl`).
pub fn file_format(content_type: &str) -> Option<Format> {
    let kind = content_type.split(';').next()?.trim().to_ascii_lowercase();
    match kind.as_str() {
        "text/csv" => Some(Format::Csv),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Some(Format::Ndjson),
        _ => None,
    }
}

/// How a file is written, for the document: `csv` or `ndjson`.
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Ndjson,
}

/// What finds a line's contact, for the document: `id` or `email`.
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ImportKey {
    Id,
    Email,
}

/// The options of `POST /api/imports`, from its query (`map` may repeat).
fn options(format: Format, query: Vec<(String, String)>) -> ApiResult<Options> {
    let mut name = None;
    let mut key = Key::Id;
    let mut events = false;
    let mut map = Vec::new();
    for (param, value) in query {
        match param.as_str() {
            "name" => name = Some(value),
            "key" => {
                key = Key::parse(&value).ok_or_else(|| ApiError::field("key", "must be 'id' or 'email'"))?;
            }
            "events" => {
                events = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::field("events", "must be true or false")),
                }
            }
            "map" => map.push(value),
            other => {
                return Err(ApiError::field(
                    other,
                    "is not a parameter of an import (name, key, map, events)",
                ));
            }
        }
    }
    Ok(Options {
        name: name.unwrap_or_else(|| "api".into()),
        format,
        key,
        mapping: Mapping::parse(&map).map_err(|m| ApiError::field("map", m))?,
        events,
    })
}

#[utoipa::path(post, path = "/api/imports", tag = "imports",
    params(
        ("name" = Option<String>, Query, description = "The import's name: what it adds has source `import:<name>`; `api` when absent"),
        ("key" = Option<ImportKey>, Query, description = "`id` (default): each line's `id` finds its contact; `email`: its e-mail does (the oldest contact with it; a new contact's id is the line's `id`, else the address)"),
        ("map" = Option<String>, Query, description = "`column=field`, repeatable: a column (CSV) or key (NDJSON) read as that field (`Mail=email`); `column=` leaves it out"),
        ("events" = Option<bool>, Query, description = "Journal each tag added and list joined and queue it as an event (`tag_added`, `list_added`), so `event_entry` journeys start; false when absent")),
    request_body(content((String = "text/csv"), (String = "application/x-ndjson")), description = "The file: CSV with a header (`id`, `email`, `phone`, `timezone`, `country`, `tags` and `lists` as `vip;new`, any other column a custom field), or NDJSON (one contact object per line). At most 64 MiB"),
    responses(
        (status = 202, description = "Accepted: the import runs in the background; follow it at `GET /api/imports/{id}`", body = ImportRow),
        (status = 413, description = "Body over 64 MiB", body = ErrorBody),
        (status = 415, description = "Not text/csv or application/x-ndjson", body = ErrorBody),
        (status = 422, description = "A bad parameter, or a CSV header without the key's column", body = ErrorBody)))]
pub async fn create_import(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type");
    let format = file_format(kind).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "send the file as text/csv or application/x-ndjson (got {kind})"
        ))
    })?;
    let Query(query) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    let options = options(format, query)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge { limit: IMPORT_LIMIT }
        } else {
            ApiError::BadBody(r.body_text())
        }
    })?;
    let row = service::start(&state.services, options, std::io::Cursor::new(body)).await?;
    Ok((StatusCode::ACCEPTED, Json(row)).into_response())
}

#[utoipa::path(get, path = "/api/imports", tag = "imports", params(("limit" = Option<u64>, Query, minimum = 1, maximum = 100000, description = "1 to 100000; 100 when absent")), responses((status = 200, description = "Imports, newest first", body = Vec<ImportRow>), (status = 422, description = "limit out of range", body = ErrorBody)))]
pub async fn list_imports(
    State(state): State<AppState>,
    query: Result<Query<Limit>, QueryRejection>,
) -> ApiResult<Json<Vec<ImportRow>>> {
    let limit = body::limit(query)?;
    Ok(Json(service::list(&state.services, limit).await?))
}

#[utoipa::path(get, path = "/api/imports/{id}", tag = "imports", params(("id" = i64, Path)), responses((status = 200, description = "The import: `status` (`running`, `done`, `failed` with `failure`), its counts so far (`lines_read`, `inserted`, `updated`, `unchanged`, `refused`) and the first 100 refused lines (`errors`: `line`, `message`)", body = ImportRow), (status = 404, body = ErrorBody)))]
pub async fn get_import(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<Json<ImportRow>> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no import with id {id}")))?;
    Ok(Json(service::get(&state.services, id).await?))
}

/// `GET /api/contacts/export`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    format: Option<String>,
    segment: Option<String>,
}

#[utoipa::path(get, path = "/api/contacts/export", tag = "contacts", params(("format" = Option<FileFormat>, Query, description = "`csv` (default: a header, tags and lists `;`-joined, one column per custom field in use) or `ndjson` (one contact object per line)"), ("segment" = Option<String>, Query, description = "Only the contacts of this saved segment (id or name), as they match when the export begins")), responses((status = 200, description = "Every contact with `id`, `email`, `phone`, `timezone`, `country`, active `tags`, `lists` and custom fields, in the order they were created; imports back as it is", content((String = "text/csv"), (String = "application/x-ndjson"))), (status = 404, description = "No saved segment has that id or name", body = ErrorBody), (status = 422, description = "A bad format or an unknown parameter", body = ErrorBody)))]
pub async fn export_contacts(
    State(state): State<AppState>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    let (format, content_type) = match query.format.as_deref() {
        None | Some("csv") => (Format::Csv, "text/csv; charset=utf-8"),
        Some("ndjson") => (Format::Ndjson, "application/x-ndjson"),
        Some(_) => return Err(ApiError::field("format", "must be 'csv' or 'ndjson'")),
    };
    let export = export::begin(&state.services, format, query.segment.as_deref()).await?;
    let chunks = futures::stream::unfold(Some(export), |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), Some(export))),
            Ok(None) => None,
            Err(e) => {
                // The status is sent: the client sees the body end early.
                tracing::error!(error = %e, "an export failed");
                Some((Err(e), None))
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, "attachment"),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// `GET /api/journal/export`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalExportQuery {
    flow: Option<String>,
}

/// Rows of the journal read per page of the export.
const JOURNAL_PAGE: u64 = 2_000;

/// The action log: every journal line (or one flow's), oldest first, one JSON object per line.
#[utoipa::path(get, path = "/api/journal/export", tag = "journeys", params(("flow" = Option<i64>, Query, description = "Only this flow's lines")), responses((status = 200, description = "Every journal line, oldest first, as `GET /api/contacts/{id}/journal` gives them (with `contact` and `flow`), one per line", content((String = "application/x-ndjson"))), (status = 404, description = "No flow has that id", body = ErrorBody), (status = 422, description = "An unknown parameter", body = ErrorBody)))]
pub async fn export_journal(
    State(state): State<AppState>,
    query: Result<Query<JournalExportQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    let flow = match query.flow.as_deref() {
        None => None,
        Some(id) => Some(crate::service::flows::existing(&state.services, id).await?.id),
    };
    let db = state.services.db.clone();
    // The page after row `after`; `None` once the journal has been read to its end.
    let chunks = futures::stream::unfold(Some(0_i64), move |after| {
        let db = db.clone();
        async move {
            let after = after?;
            match crate::store::journal::journal_page(&db, after, flow, JOURNAL_PAGE).await {
                Ok((_, None)) => None,
                Ok((lines, Some(last))) => {
                    let mut chunk = Vec::new();
                    for line in &lines {
                        serde_json::to_writer(&mut chunk, line).ok()?;
                        chunk.push(b'\n');
                    }
                    Some((Ok::<_, crate::store::Error>(Bytes::from(chunk)), Some(last)))
                }
                Err(e) => {
                    // The status is sent: the client sees the body end early.
                    tracing::error!(error = %e, "a journal export failed");
                    Some((Err(e), None))
                }
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"journal.ndjson\""),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}
