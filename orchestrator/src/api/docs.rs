//! The OpenAPI document (`/api/openapi.json`, Swagger UI at `/docs`). Paths come from the
//! `#[utoipa::path]` attributes on the handlers; the types here describe request and response
//! bodies that the handlers read as raw JSON (so they can report errors with line and column).

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::handlers;

/// `{"id", "version"}` of a stored flow version.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowVersion {
    pub id: i64,
    pub version: i64,
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
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryBody {
    pub contact: ContactBody,
    /// Entry data, `{{data.…}}` in templates.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// Idempotency key: the same key twice starts one journey.
    #[schema(min_length = 1, max_length = 256)]
    pub key: Option<String>,
    /// The webhook entry node, when the flow has several.
    #[schema(min_length = 1, max_length = 256)]
    pub entry: Option<String>,
}

/// The journey an entry started, or the one its key started before.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryAccepted {
    pub token: i64,
    pub duplicate: bool,
}

/// `POST /api/events`.
#[derive(Debug, Serialize, ToSchema)]
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
    #[schema(min_length = 1, max_length = 256)]
    pub message: Option<String>,
    #[schema(min_length = 1, max_length = 256)]
    pub tag: Option<String>,
    #[schema(min_length = 1, max_length = 256)]
    pub list: Option<String>,
    /// Entry data of a journey the event starts.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

/// `PUT /api/flows/{id}/secret`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// At least 16 characters, or null to stop requiring signatures. Required.
    #[schema(required = true, nullable)]
    pub secret: Option<String>,
}

/// Every error: a stable code, a message, and located details.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInner,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorInner {
    /// `invalid_flow`, `invalid_request`, `malformed_json`, `not_found`, `conflict`,
    /// `unauthorized`, `payload_too_large`, `internal`.
    pub code: String,
    pub message: String,
    pub details: Vec<DetailBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DetailBody {
    pub node: Option<String>,
    pub field: Option<String>,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn",
        description = "Journey orchestration: flows, entries, events, journals, messages."
    ),
    paths(
        handlers::create_flow,
        handlers::list_flows,
        handlers::get_flow,
        handlers::update_flow,
        handlers::activate_flow,
        handlers::pause_flow,
        handlers::enter,
        handlers::set_flow_secret,
        handlers::flow_stats,
        handlers::post_event,
        handlers::get_contact,
        handlers::journal,
        handlers::outbox,
        handlers::list_set_aside,
        handlers::retry_set_aside,
        handlers::cancel_set_aside,
        handlers::flow_schema,
        handlers::healthz,
        handlers::track_open,
        handlers::track_click,
    ),
    components(schemas(
        FlowVersion,
        ContactBody,
        EntryBody,
        EntryAccepted,
        EventBody,
        SecretBody,
        ErrorBody,
        ErrorInner,
        DetailBody,
        crate::store::flows::FlowRow,
        crate::store::set_aside::SetAside,
        crate::store::set_aside::Kind
    ))
)]
pub struct ApiDoc;
