//! What the journey editor asks besides the flows themselves: a flow simulated for given
//! contacts and events (`/api/simulate`), a message previewed for a contact (`/api/render`),
//! the next runs of a schedule being drawn (`/api/schedule/preview`),
//! the example journeys (`/api/templates`), and the settings in force: the send policy
//! (`/api/policy`, replaceable unless a file sets it) and what each channel sends through
//! (`/api/providers`, read-only, no secrets).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use flows::JournalEntry;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::body::{self, ApiResult};
use super::docs::ErrorBody;
use super::error::ApiError;
use super::{AppState, strict};
use crate::service::{preview, simulate};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/simulate", post(simulate_flow))
        .route("/api/render", post(render_message))
        .route("/api/templates", get(list_templates))
        .route("/api/schedule/preview", post(preview_schedule))
        .route("/api/policy", get(get_policy).put(put_policy))
        .route("/api/providers", get(list_providers))
}

/// `POST /api/simulate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateBody {
    /// A cairn.flow/v1 document.
    #[schema(value_type = Object)]
    pub flow: Value,
    /// Contacts as `cairn simulate` reads them: `id`, `email`, `phone`, `timezone`, `country`,
    /// `tags`, `lists`; any other key is a field. At most 1 000.
    #[schema(value_type = Vec<Object>)]
    pub contacts: Vec<Value>,
    /// Events: `{"at", "contact", "type", "message"?, "tag"?, "list"?, "data"?}`. At most 10 000.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// The simulated start, RFC 3339 (default: now).
    pub start: Option<DateTime<Utc>>,
    /// How long to simulate, e.g. `14d` (default: until every journey ends, at most `90d`).
    #[serde(rename = "for")]
    #[schema(value_type = Option<String>)]
    pub span: Option<flows::Duration>,
    /// Segments by name, `{"<name>": <condition>}`; saved segments fill in the names not given.
    #[schema(value_type = Option<Object>)]
    pub segments: Option<Map<String, Value>>,
}

/// What a simulation did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Simulation {
    pub start: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The journal lines, as `cairn simulate` prints them.
    #[schema(value_type = Vec<Object>)]
    pub journal: Vec<JournalEntry>,
    /// Per contact id, the nodes its journal lines name, in order.
    pub paths: BTreeMap<String, Vec<String>>,
}

/// What the flow would do for these contacts and events, on a virtual clock, under the
/// service's send policy: the journal `cairn simulate` would print.
#[utoipa::path(post, path = "/api/simulate", tag = "editor", request_body = SimulateBody, responses((status = 200, body = Simulation), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "The flow's problems, or the contact, event or segment at fault (`contacts[3].timezone`)", body = ErrorBody)))]
pub async fn simulate_flow(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Simulation>> {
    let request: SimulateBody = body::typed(body::json(body, strict::DOCUMENTS)?)?;
    let request = simulate::Request {
        flow: request.flow,
        contacts: request.contacts,
        events: request.events,
        start: request.start,
        span: request.span,
        segments: request.segments,
    };
    let done = simulate::simulate(&state.services, request).await?;
    Ok(Json(Simulation {
        start: done.start,
        until: done.until,
        journal: done.journal,
        paths: done.paths,
    }))
}

/// An email's parts, as templates (`POST /api/render`) or rendered (its answer).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageParts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `POST /api/render`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderBody {
    pub message: MessageParts,
    /// A stored contact's id, or a contact object as `POST /api/simulate` takes.
    #[schema(value_type = Object)]
    pub contact: Value,
}

/// `POST /api/schedule/preview`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePreviewBody {
    /// A segment entry's `schedule`, as in a flow.
    #[schema(value_type = Object)]
    pub schedule: flows::schedule::Schedule,
    /// How many runs (1 to 100, default 10).
    pub next: Option<u64>,
}

/// The next runs of a schedule that is not stored yet (the editor shows them as the schedule
/// is typed): the same rule, calendars and policy as a stored flow's runs.
#[utoipa::path(post, path = "/api/schedule/preview", tag = "editor", request_body = SchedulePreviewBody, responses((status = 200, body = crate::service::campaigns::SchedulePreview), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "A schedule that cannot run, each problem on its field (`schedule.rrule`)", body = ErrorBody)))]
pub async fn preview_schedule(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<crate::service::campaigns::SchedulePreview>> {
    let request: SchedulePreviewBody = body::typed(body::json(body, strict::DOCUMENTS)?)?;
    let next =
        body::bounded_limit(request.next, 10, 100).map_err(|_| ApiError::field("next", "must be between 1 and 100"))?;
    let s = &state.services;
    let problems = crate::service::campaigns::schedule_problems(s, &request.schedule);
    if !problems.is_empty() {
        return Err(ApiError::fields(
            problems
                .into_iter()
                .map(|(field, message)| (format!("schedule.{field}"), message))
                .collect(),
        ));
    }
    Ok(Json(crate::service::campaigns::preview_schedule(
        s,
        "schedule",
        &request.schedule,
        next as usize,
    )))
}

/// Renders a message for a contact as a send would: the contact's fields, tags, lists and
/// related records, escaped as the part asks (HTML in `html`).
#[utoipa::path(post, path = "/api/render", tag = "editor", request_body = RenderBody, responses((status = 200, body = MessageParts), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, description = "No contact with that id", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "A template that does not parse or render, named by its field (`message.subject`)", body = ErrorBody)))]
pub async fn render_message(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<MessageParts>> {
    let request: RenderBody = body::typed(body::json(body, strict::DOCUMENTS)?)?;
    let to = match request.contact {
        Value::String(id) => preview::Recipient::Stored(id),
        Value::Object(object) => preview::Recipient::Given(object),
        _ => return Err(ApiError::field("contact", "must be a contact id or a contact object")),
    };
    let message = flows::step::preview::Message {
        subject: request.message.subject,
        html: request.message.html,
        text: request.message.text,
    };
    let shown = preview::render(&state.services, &message, to).await?;
    Ok(Json(MessageParts {
        subject: shown.subject,
        html: shown.html,
        text: shown.text,
    }))
}

/// An example journey.
#[derive(Debug, Serialize, ToSchema)]
pub struct Template {
    /// Its name (`welcome`).
    pub name: String,
    /// The flow's own name.
    pub title: String,
    pub description: Option<String>,
    /// The cairn.flow/v1 document.
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// The example journeys, to start a flow from.
#[utoipa::path(get, path = "/api/templates", tag = "editor", responses((status = 200, body = Vec<Template>)))]
pub async fn list_templates() -> ApiResult<Json<Vec<Template>>> {
    flows::templates::TEMPLATES
        .iter()
        .map(|(name, text)| {
            let definition: Value = serde_json::from_str(text).map_err(ApiError::internal)?;
            Ok(Template {
                name: name.to_string(),
                title: definition["name"].as_str().unwrap_or(name).to_string(),
                description: definition["description"].as_str().map(str::to_string),
                definition,
            })
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Json)
}

/// The providers this process sends through, as the API shows them (no secrets).
#[derive(Debug, Clone)]
pub struct Settings {
    pub providers: Vec<Provider>,
}

/// What one channel sends through.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Provider {
    /// `email`, `sms`, `push` or `webhook`.
    pub channel: String,
    /// `smtp`, `http` or `outbox` (the built-in provider, which keeps messages in the outbox).
    pub provider: String,
    /// Whether a provider of the operator's is configured (else messages stay in the outbox).
    pub configured: bool,
    /// Where it sends: scheme, host and port, never credentials or paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The sender of emails whose node sets none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl Settings {
    pub fn new(providers: &workers::providers::ProviderConfig) -> Settings {
        let http = |channel: &str, endpoint: &Option<workers::providers::HttpEndpoint>| Provider {
            channel: channel.into(),
            provider: if endpoint.is_some() { "http" } else { "outbox" }.into(),
            configured: endpoint.is_some(),
            endpoint: endpoint.as_ref().map(|e| origin(&e.url)),
            from: None,
        };
        Settings {
            providers: vec![
                Provider {
                    channel: "email".into(),
                    provider: if providers.smtp_url.is_some() { "smtp" } else { "outbox" }.into(),
                    configured: providers.smtp_url.is_some(),
                    endpoint: providers.smtp_url.as_deref().map(origin),
                    from: Some(providers.email_from.clone()),
                },
                http("sms", &providers.sms),
                http("push", &providers.push),
                Provider {
                    channel: "webhook".into(),
                    provider: "http".into(),
                    configured: true,
                    endpoint: None,
                    from: None,
                },
            ],
        }
    }
}

/// `scheme://host:port` of a URL: no user, password, path or query, which may hold secrets.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if scheme.is_empty() {
        host.to_string()
    } else {
        format!("{scheme}://{host}")
    }
}

/// The send policy in force, in the `--policy` file's format, and where it came from
/// (`source`: the file's path, `database` when stored by `PUT /api/policy`, or `default`).
#[utoipa::path(get, path = "/api/policy", tag = "editor", responses((status = 200, description = "The policy document plus `source`", body = Object)))]
pub async fn get_policy(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let policy = &state.services.policy;
    shown(&policy.get(), &policy.source())
}

fn shown(policy: &flows::Policy, source: &crate::send_policy::Source) -> ApiResult<Json<Value>> {
    let mut shown = serde_json::to_value(policy).map_err(ApiError::internal)?;
    shown["source"] = Value::String(source.describe());
    Ok(Json(shown))
}

/// Replaces the send policy: stored in the database and in force in this process at once
/// (other processes on the database take it when they start). Refused while the policy comes
/// from a `--policy` file.
#[utoipa::path(put, path = "/api/policy", tag = "editor", request_body(content = Object, description = "A policy in the --policy file's format (a `source` key is ignored)"), responses((status = 200, description = "The policy now in force plus `source`", body = Object), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 409, description = "The policy comes from a file", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "Every problem, named by its field (`channels.sms.window.start`); `calendars` when an active flow needs one it lacks", body = ErrorBody)))]
pub async fn put_policy(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Value>> {
    let document = body::json(body, strict::DOCUMENTS)?;
    let policy = crate::service::policy::replace(&state.services, document).await?;
    shown(&policy, &state.services.policy.source())
}

/// What each channel sends through; no credentials.
#[utoipa::path(get, path = "/api/providers", tag = "editor", responses((status = 200, body = Vec<Provider>)))]
pub async fn list_providers(State(state): State<AppState>) -> Json<Vec<Provider>> {
    Json(state.settings.providers.clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_endpoint_is_shown_without_credentials_or_path() {
        assert_eq!(
            super::origin("smtps://user:secret@mail.example:465/x?tls=required"),
            "smtps://mail.example:465"
        );
        assert_eq!(
            super::origin("https://sms.example/send?key=secret"),
            "https://sms.example"
        );
    }
}
