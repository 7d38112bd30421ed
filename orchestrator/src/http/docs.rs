//! The OpenAPI document (`/api/openapi.json`, Swagger UI at `/docs`). Paths come from the
//! `#[utoipa::path]` attributes on the handlers, and each body type is declared once, beside its
//! handler (`Deserialize` for reading it, `ToSchema` for this document); the error body is
//! `error`'s own. Bodies are read as raw JSON first, so mistakes are reported with line and column.
//! Every `/api/*` operation that is not public ([`super::auth`]) names its two ways in: a bearer
//! token (the API token or an API key) or the session cookie ([`Security`]).

use utoipa::OpenApi;

use super::accounts::{
    CredentialsBody, KeyBody, LoginAnswer, NewPasswordBody, PasswordBody, Role, RoleBody, SessionState, UserBody,
};
use super::audience::{ListSummary, TagDefinitionBody, TagSummary};
use super::contacts::{ContactObject, ContactPage, ListBody, Removed, SourceBody, TagBody};
pub use super::error::{Detail, ErrorBody, ErrorInner};
use super::flows::{FlowVersion, SecretBody};
use super::journeys::{ContactBody, EntryAccepted, EntryBody, EventBody};
use super::records::{ContactRecords, RecordTypeBody, RecordTypeSummary};
use super::segments::{PreviewBody, SegmentBody};
use super::{accounts, admin, audience, contacts, editor, flows, imports, journeys, records, segments, tracking};

#[derive(OpenApi)]
#[openapi(
    modifiers(&Security),
    info(
        title = "Cairn",
        description = "Journey orchestration: flows, entries, events, contacts with their tags, lists and related records, saved segments and previews, journals, messages; for the journey editor: validation, drafts, versions, simulations, message previews, templates, settings; users, sessions and API keys. Outside open mode (no API token, no user, loopback), /api/* needs Authorization: Bearer <CAIRN_API_TOKEN or API key> or the cairn_session cookie; a write made with the cookie carries X-CSRF-Token (403 without it)."
    ),
    paths(
        flows::create_flow,
        flows::list_flows,
        flows::get_flow,
        flows::update_flow,
        flows::activate_flow,
        flows::delete_flow,
        flows::archive_flow,
        flows::restore_flow,
        flows::pause_flow,
        journeys::enter,
        flows::set_flow_secret,
        flows::flow_stats,
        flows::flow_runs,
        flows::flow_schedule,
        journeys::post_event,
        contacts::search,
        imports::export_contacts,
        imports::export_journal,
        imports::create_import,
        imports::list_imports,
        imports::get_import,
        contacts::get_contact,
        contacts::put_contact,
        contacts::patch_contact,
        contacts::erase_contact,
        contacts::journal,
        contacts::add_tag,
        contacts::remove_tag,
        contacts::join_list,
        contacts::leave_list,
        audience::list_tags,
        audience::define_tag,
        audience::list_lists,
        segments::list_segments,
        segments::create_segment,
        segments::get_segment,
        segments::update_segment,
        segments::delete_segment,
        segments::preview_condition,
        segments::preview_segment,
        records::list_records,
        records::put_record,
        records::delete_record,
        records::define_record_type,
        records::list_record_types,
        admin::outbox,
        admin::list_set_aside,
        admin::retry_set_aside,
        admin::cancel_set_aside,
        flows::validate_flow,
        flows::get_draft,
        flows::put_draft,
        flows::delete_draft,
        flows::list_versions,
        flows::get_version,
        flows::node_contacts,
        editor::simulate_flow,
        editor::render_message,
        editor::preview_schedule,
        editor::list_templates,
        editor::get_policy,
        editor::put_policy,
        editor::list_providers,
        flows::flow_schema,
        admin::healthz,
        tracking::track_open,
        tracking::track_click,
        accounts::get_session,
        accounts::login,
        accounts::logout,
        accounts::setup,
        accounts::list_users,
        accounts::create_user,
        accounts::update_user,
        accounts::delete_user,
        accounts::change_password,
        accounts::reset_password,
        accounts::list_keys,
        accounts::create_key,
        accounts::revoke_key,
    ),
    components(schemas(
        FlowVersion,
        flows::StatsBody,
        flows::Validation,
        flows::DraftBody,
        flows::DraftSaved,
        crate::service::flows::VersionSummary,
        crate::service::flows::EdgeCount,
        crate::service::flows::AtNode,
        crate::service::flows::Waiting,
        editor::SimulateBody,
        editor::Simulation,
        editor::MessageParts,
        editor::RenderBody,
        editor::SchedulePreviewBody,
        editor::Template,
        editor::Provider,
        ContactBody,
        EntryBody,
        EntryAccepted,
        EventBody,
        SecretBody,
        ContactObject,
        ContactPage,
        SourceBody,
        TagBody,
        ListBody,
        Removed,
        TagDefinitionBody,
        TagSummary,
        ListSummary,
        SegmentBody,
        PreviewBody,
        crate::service::segments::SavedSegment,
        crate::service::segments::Preview,
        ContactRecords,
        RecordTypeBody,
        RecordTypeSummary,
        crate::store::records::StoredRecord,
        crate::store::tags::TagFact,
        crate::store::tags::ListFact,
        crate::store::tags::Source,
        ErrorBody,
        ErrorInner,
        Detail,
        crate::store::flows::FlowRow,
        crate::store::set_aside::SetAside,
        crate::store::set_aside::Kind,
        crate::store::imports::ImportRow,
        crate::store::imports::Refused,
        imports::FileFormat,
        imports::ImportKey,
        CredentialsBody,
        UserBody,
        PasswordBody,
        NewPasswordBody,
        Role,
        RoleBody,
        KeyBody,
        SessionState,
        LoginAnswer,
        crate::service::accounts::SessionUser,
        crate::store::accounts::User,
        crate::store::accounts::ApiKey,
        crate::service::keys::NewApiKey
    ))
)]
pub struct ApiDoc;

/// Declares the bearer token and the session cookie, and names them on every operation that
/// needs one (the public ones are [`super::auth::is_public`]'s, and everything outside `/api/`).
pub struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use axum::http::Method;
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(super::auth::SESSION_COOKIE))),
        );
        let either = || {
            vec![
                SecurityRequirement::new("bearer", Vec::<String>::new()),
                SecurityRequirement::new("session", Vec::<String>::new()),
            ]
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
                (Method::HEAD, &mut item.head),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation
                    && path.starts_with("/api/")
                    && !super::auth::is_public(&method, path)
                {
                    operation.security = Some(either());
                }
            }
        }
    }
}
