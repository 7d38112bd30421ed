//! The HTTP edge (axum): one router per area, authentication and request guards as layers,
//! one error type ([`error::ApiError`]). Handlers are thin: read the request ([`body`]), call a
//! use case in `service` (or a store read), map the answer. [`app`] builds the router, so tests
//! can serve it on port 0; [`server`] runs it under connection limits and timeouts.
//!
//! Areas: [`flows`], [`journeys`] (entries and events), [`contacts`], [`audience`] (tag
//! definitions, tags and lists in use), [`records`] (contacts' related records and record
//! types), [`segments`] (saved segments and previews), [`imports`] (imports and the contact
//! export), [`tracking`], [`admin`]
//! (outbox, set-aside, health), [`accounts`] (logging in and out, the first-run set-up, users,
//! API keys), [`editor`] (simulations, message previews, templates, the settings in force);
//! [`docs`] is the OpenAPI document; [`web`] serves the web app. [`auth`] says who calls and
//! whether they may.

pub mod accounts;
pub mod admin;
pub mod audience;
pub mod auth;
pub mod body;
pub mod contacts;
pub mod docs;
pub mod editor;
pub mod error;
pub mod flows;
pub mod guard;
pub mod imports;
pub mod journeys;
pub mod records;
pub mod segments;
pub mod server;
mod signed;
pub mod strict;
pub mod tracking;
pub mod web;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use self::auth::Authenticated;
use crate::service::Services;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 1 << 20;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// What the use cases work with: the database, the clock, the flow cache, the policy.
    pub services: Services,
    /// Verifies open and click tokens.
    pub tracker: Arc<crate::signing::Tracker>,
    /// When set, `Authorization: Bearer <token>` is one way into `/api/*`, and the API is
    /// never open (see [`auth`]).
    pub api_token: Option<Arc<str>>,
    /// Whether users exist, and failed logins (see [`crate::service::accounts::Logins`]).
    pub logins: Arc<crate::service::accounts::Logins>,
    /// The names this service answers to (see [`guard`]).
    pub hosts: Arc<guard::Hosts>,
    /// Where the policy came from and the providers, as `/api/policy` and `/api/providers` say.
    pub settings: Arc<editor::Settings>,
}

/// A path segment: an id, a contact's external id or a tracking token. A segment that is not
/// UTF-8 (`%FF`) names nothing that can exist, so it is a 404 in the API's error shape, like any
/// other unknown id, rather than axum's plain-text 400. Any other rejection is a route that
/// does not match its handler: our mistake, a 500.
#[derive(Debug, Clone)]
pub struct Segment(pub String);

/// Two path segments (`/api/contacts/{id}/tags/{tag}`), read as [`Segment`] is.
#[derive(Debug, Clone)]
pub struct Pair(pub String, pub String);

/// Three path segments (`/api/contacts/{id}/records/{type}/{record_id}`), read as [`Segment`]
/// is.
#[derive(Debug, Clone)]
pub struct Triple(pub String, pub String, pub String);

/// The path's segments as `T`, rejected as [`Segment`] says.
async fn segments<T, S>(parts: &mut axum::http::request::Parts, state: &S) -> Result<T, error::ApiError>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    use axum::extract::FromRequestParts as _;
    use axum::extract::rejection::PathRejection;
    match axum::extract::Path::<T>::from_request_parts(parts, state).await {
        Ok(axum::extract::Path(segments)) => Ok(segments),
        Err(PathRejection::FailedToDeserializePathParams(e)) => Err(error::ApiError::NotFound(format!(
            "nothing at {}: {}",
            parts.uri.path(),
            e.body_text()
        ))),
        Err(e) => Err(error::ApiError::internal(format!(
            "path of {}: {}",
            parts.uri.path(),
            e.body_text()
        ))),
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Segment {
    type Rejection = error::ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        segments(parts, state).await.map(Segment)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Pair {
    type Rejection = error::ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        segments(parts, state).await.map(|(a, b)| Pair(a, b))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Triple {
    type Rejection = error::ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        segments(parts, state).await.map(|(a, b, c)| Triple(a, b, c))
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(flows::routes())
        .merge(journeys::routes())
        .merge(imports::routes())
        .merge(contacts::routes())
        .merge(audience::routes())
        .merge(segments::routes())
        .merge(records::routes())
        .merge(editor::routes())
        .merge(admin::routes())
        .merge(tracking::routes())
        .merge(accounts::routes())
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .url("/api/openapi.json", <docs::ApiDoc as utoipa::OpenApi>::openapi()),
        )
        .fallback(web::fallback)
        .method_not_allowed_fallback(admin::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::same_site_json,
        ))
        .layer(axum::middleware::map_response(guard::harden))
        .with_state(state)
}
