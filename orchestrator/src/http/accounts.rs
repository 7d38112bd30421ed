//! `/api/session`, `/api/setup`, `/api/users`, `/api/keys`: logging in and out, the first-run
//! set-up, users and API keys. The use cases are [`crate::service::accounts`] and
//! [`crate::service::keys`]; who calls is the authentication layer's answer ([`Caller`]).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{self, Caller};
use super::body::{self, ApiResult};
use super::docs::ErrorBody;
use super::error::ApiError;
use super::{AppState, Segment, strict};
use crate::service::accounts::{self, Credentials, LoggedIn, NewAccount, SessionUser};
use crate::service::keys::{self, NewApiKey};
use crate::store::accounts::{ApiKey, User};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/session", get(get_session).post(login).delete(logout))
        .route("/api/setup", post(setup))
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{id}", patch(update_user).delete(delete_user))
        .route("/api/users/me/password", put(change_password))
        .route("/api/users/{id}/password", put(reset_password))
        .route("/api/keys", get(list_keys).post(create_key))
        .route("/api/keys/{id}", delete(revoke_key))
}

/// `POST /api/session` and `POST /api/setup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    #[schema(max_length = 254)]
    pub email: String,
    /// At least 10 characters when an account is made.
    #[schema(max_length = 1024)]
    pub password: String,
}

impl From<CredentialsBody> for Credentials {
    fn from(b: CredentialsBody) -> Self {
        Credentials {
            email: b.email,
            password: b.password,
        }
    }
}

/// A user's role: owners may add, change and remove users.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
        }
    }
}

/// `PATCH /api/users/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: Role,
}

/// `POST /api/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    #[schema(max_length = 254)]
    pub email: String,
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
    pub role: Role,
}

/// `POST /api/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

/// `GET /api/session`: who is logged in, and what the web app should offer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionState {
    /// The logged-in user; null without a live session.
    pub user: Option<SessionUser>,
    /// The token a write made with the session cookie carries in `X-CSRF-Token`; null without
    /// a live session.
    pub csrf: Option<String>,
    /// No user exists yet: the first-run page (`POST /api/setup`) is offered.
    pub setup: bool,
    /// The API answers without a login (listening on loopback, no API token, no user).
    pub open: bool,
}

/// A login's answer (the session itself is the `cairn_session` cookie).
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    pub user: SessionUser,
    pub csrf: String,
}

/// The login as the answer's body and its cookie.
fn logged_in(state: &AppState, status: StatusCode, done: LoggedIn) -> Response {
    let secure = state.tracker.base().starts_with("https://");
    let now = state.services.clock.now();
    let cookie = auth::session_cookie(&done.token, done.expires_at, now, secure);
    let answer = LoginAnswer {
        user: SessionUser::from(&done.user),
        csrf: done.csrf,
    };
    (status, [(header::SET_COOKIE, cookie)], Json(answer)).into_response()
}

#[utoipa::path(get, path = "/api/session", tag = "accounts", responses((status = 200, description = "The logged-in user and their CSRF token (both null without a live session cookie), whether the first-run set-up is offered and whether the API is open", body = SessionState)))]
pub async fn get_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<SessionState>> {
    let users = state.logins.users_exist(&state.services).await?;
    let (user, csrf) = match &caller {
        Caller::Session(s) => (Some(SessionUser::from(&s.user)), Some(s.csrf.clone())),
        _ => (None, None),
    };
    Ok(Json(SessionState {
        user,
        csrf,
        setup: !users && (state.api_token.is_none() || matches!(caller, Caller::Token)),
        open: !users && state.api_token.is_none(),
    }))
}

#[utoipa::path(post, path = "/api/session", tag = "accounts", request_body = CredentialsBody, responses((status = 200, description = "Logged in: the session is the cookie `cairn_session` (HttpOnly, SameSite=Strict, 14 days from its last use, 30 at most)", body = LoginAnswer, headers(("set-cookie" = String, description = "cairn_session=…; HttpOnly; SameSite=Strict; Path=/; Max-Age=1209600"))), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "Wrong e-mail address or password", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "A missing or mistyped field, named", body = ErrorBody), (status = 429, description = "Too many failed logins for this address (5) or from this client (20) within 15 minutes", body = ErrorBody, headers(("retry-after" = u64, description = "Seconds until a login may be tried again")))))]
pub async fn login(
    State(state): State<AppState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let request: CredentialsBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let client = client.map(|Extension(ConnectInfo(peer))| peer.ip());
    let done = accounts::login(&state.services, &state.logins, request.into(), client).await?;
    Ok(logged_in(&state, StatusCode::OK, done))
}

#[utoipa::path(delete, path = "/api/session", tag = "accounts", responses((status = 204, description = "Logged out: the session is deleted and the cookie cleared"), (status = 403, description = "A live session cookie without its X-CSRF-Token", body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, headers: axum::http::HeaderMap) -> ApiResult<Response> {
    if let Some(token) = auth::cookie(&headers, auth::SESSION_COOKIE) {
        accounts::logout(&state.services, token).await?;
    }
    let secure = state.tracker.base().starts_with("https://");
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth::cleared_cookie(secure))],
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/setup", tag = "accounts", request_body = CredentialsBody, responses((status = 201, description = "The first owner is created and logged in (cookie as for a login)", body = LoginAnswer), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "CAIRN_API_TOKEN is set and was not given", body = ErrorBody), (status = 409, description = "A user exists already", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "Not an e-mail address, or a password under 10 characters", body = ErrorBody)))]
pub async fn setup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    // With an API token set the service is meant to be closed: whoever reaches it first must
    // not make themselves its owner.
    if state.api_token.is_some() && !matches!(caller, Caller::Token) {
        return Err(ApiError::Unauthorized(
            "with CAIRN_API_TOKEN set, the first owner is set up with Authorization: Bearer <CAIRN_API_TOKEN>".into(),
        ));
    }
    let request: CredentialsBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let done = accounts::setup(&state.services, &state.logins, request.into()).await?;
    Ok(logged_in(&state, StatusCode::CREATED, done))
}

#[utoipa::path(get, path = "/api/users", tag = "accounts", responses((status = 200, description = "Every user, oldest first (no password hashes)", body = Vec<User>), (status = 401, body = ErrorBody)))]
pub async fn list_users(State(state): State<AppState>) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(accounts::users(&state.services).await?))
}

#[utoipa::path(post, path = "/api/users", tag = "accounts", request_body = UserBody, responses((status = 201, description = "Added", body = User), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "Not an owner (owners and the API token may add users), or made with the session cookie without its X-CSRF-Token", body = ErrorBody), (status = 409, description = "The e-mail address has an account", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "Not an e-mail address, a password under 10 characters or an unknown role, each named by its field", body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let request: UserBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let account = NewAccount {
        credentials: Credentials {
            email: request.email,
            password: request.password,
        },
        role: request.role.as_str().into(),
    };
    let user = accounts::add_user(&state.services, &caller, account).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// `PUT /api/users/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The password now.
    #[schema(max_length = 1024)]
    pub current: String,
    /// The new one: at least 10 characters.
    #[schema(max_length = 1024)]
    pub password: String,
}

/// `PUT /api/users/{id}/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPasswordBody {
    /// At least 10 characters; tell the user, who may then change it.
    #[schema(max_length = 1024)]
    pub password: String,
}

#[utoipa::path(put, path = "/api/users/{id}/password", tag = "accounts", params(("id" = i64, Path)), request_body = NewPasswordBody, responses((status = 204, description = "Set; every session of the user has ended"), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "Not an owner, or without the session's X-CSRF-Token", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "One's own password: change it with PUT /api/users/me/password", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "A password under 10 characters", body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let request: NewPasswordBody = body::typed(body::json(body, strict::RECORDS)?)?;
    accounts::reset_password(&state.services, &caller, &id, request.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/users/me/password", tag = "accounts", request_body = PasswordBody, responses((status = 204, description = "Changed; the user's other sessions have ended"), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "Not a logged-in user (a key or the API token has no password), or without the session's X-CSRF-Token", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "`current` is not the password, or the new `password` is too short", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let request: PasswordBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let change = accounts::PasswordChange {
        current: request.current,
        password: request.password,
    };
    accounts::change_password(&state.services, &caller, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(patch, path = "/api/users/{id}", tag = "accounts", params(("id" = i64, Path)), request_body = RoleBody, responses((status = 200, description = "The user with their new role, in force from their next request", body = User), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "Not an owner, or made with the session cookie without its X-CSRF-Token", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "It would leave no owner", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "An unknown role", body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Segment(id): Segment,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<User>> {
    let request: RoleBody = body::typed(body::json(body, strict::RECORDS)?)?;
    Ok(Json(
        accounts::set_role(&state.services, &caller, &id, request.role.as_str()).await?,
    ))
}

#[utoipa::path(delete, path = "/api/users/{id}", tag = "accounts", params(("id" = i64, Path)), responses((status = 204, description = "Removed, with their sessions"), (status = 401, body = ErrorBody), (status = 403, description = "Not an owner, or made with the session cookie without its X-CSRF-Token", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The last owner", body = ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Segment(id): Segment,
) -> ApiResult<StatusCode> {
    accounts::remove_user(&state.services, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/keys", tag = "accounts", responses((status = 200, description = "Every API key, revoked ones included, oldest first (never their tokens)", body = Vec<ApiKey>), (status = 401, body = ErrorBody)))]
pub async fn list_keys(State(state): State<AppState>) -> ApiResult<Json<Vec<ApiKey>>> {
    Ok(Json(keys::list(&state.services).await?))
}

#[utoipa::path(post, path = "/api/keys", tag = "accounts", request_body = KeyBody, responses((status = 201, description = "Made: `token` is shown this once; send it as Authorization: Bearer <token>", body = NewApiKey), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "Made with the session cookie without its X-CSRF-Token", body = ErrorBody), (status = 413, description = "Body over 1 MiB", body = ErrorBody), (status = 422, description = "A bad name", body = ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let request: KeyBody = body::typed(body::json(body, strict::RECORDS)?)?;
    let made = keys::create(&state.services, &caller, &request.name).await?;
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

#[utoipa::path(delete, path = "/api/keys/{id}", tag = "accounts", params(("id" = i64, Path)), responses((status = 204, description = "Revoked: the key no longer authenticates and stays listed with its revoked_at"), (status = 401, body = ErrorBody), (status = 403, description = "Made with the session cookie without its X-CSRF-Token", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(State(state): State<AppState>, Segment(id): Segment) -> ApiResult<StatusCode> {
    keys::revoke(&state.services, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
