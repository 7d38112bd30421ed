//! Users and their sessions: the first owner (set up once, from the web app's first-run page or
//! from `CAIRN_ADMIN_EMAIL`/`CAIRN_ADMIN_PASSWORD` at start), logging in and out, the session a
//! cookie names, and users added and removed by owners.
//!
//! Invariants:
//! - A session lives 14 days from its last use ([`IDLE`]) and never more than 30 days from the
//!   login ([`MAX_AGE`]); its use is written at most once a minute ([`TOUCH_EVERY`]), so a
//!   session may outlive its idle limit by that minute.
//! - Only hashes of session tokens are stored ([`credentials::digest`]).
//! - There is always an owner once there is a user: the first user is an owner, and the last
//!   owner cannot be removed. Both checks run under [`store::lock_users`], so two concurrent
//!   set-ups create one owner and two owners removing each other leave one.
//! - Once this process has seen a user it does not look again ([`Logins::users_exist`]): users
//!   cannot all be removed through the API.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::attempts::{Attempt, Attempts};
use super::credentials;
use super::{Error, Result, Services};
use crate::store::accounts::{self as store, ApiKey, NewSession, NewUser, User};

/// How long a session lives after its last use.
pub const IDLE: TimeDelta = TimeDelta::days(14);
/// How long a session lives at most after its login.
pub const MAX_AGE: TimeDelta = TimeDelta::days(30);
/// A session's (or an API key's) use is written at most this often.
pub const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// The roles a user may have.
pub const ROLES: [&str; 2] = ["owner", "member"];

/// What this process knows about logins: whether a user exists (once one does), and the
/// failed attempts of the last minutes ([`Attempts`]).
#[derive(Debug, Default)]
pub struct Logins {
    users_exist: AtomicBool,
    pub attempts: Attempts,
}

impl Logins {
    /// Whether any user exists. Asked of the database until the answer is yes (another process
    /// may have created the first user), then remembered.
    pub async fn users_exist(&self, s: &Services) -> Result<bool> {
        if self.users_exist.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let exist = store::any_user(&s.db).await?;
        if exist {
            self.users_exist.store(true, Ordering::Relaxed);
        }
        Ok(exist)
    }

    fn user_created(&self) {
        self.users_exist.store(true, Ordering::Relaxed);
    }
}

/// A user as a session shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SessionUser {
    pub id: i64,
    pub email: String,
    /// `owner` or `member`.
    pub role: String,
}

impl From<&User> for SessionUser {
    fn from(u: &User) -> Self {
        SessionUser {
            id: u.id,
            email: u.email.clone(),
            role: u.role.clone(),
        }
    }
}

/// A live session, found by its cookie's token.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    /// The token's digest, the row's key.
    pub token_hash: String,
    /// When this request's use moved the session's expiry: the new expiry (the cookie is sent
    /// again with it).
    pub renewed: Option<DateTime<Utc>>,
}

/// Who makes a request, as the authentication layer found out.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Nobody known (a public route, or a refused request).
    Anonymous,
    /// The API is open: no API token is set and no user exists.
    Open,
    /// The holder of `CAIRN_API_TOKEN`.
    Token,
    /// A program holding an API key.
    Key(ApiKey),
    /// A logged-in user, by their session cookie.
    Session(Box<Session>),
}

impl Caller {
    /// The user behind the request, if it is a user's (a session, or a key they made).
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Caller::Session(s) => Some(s.user.id),
            Caller::Key(k) => k.created_by,
            _ => None,
        }
    }

    /// Owners may add and remove users, and so may the holder of the API token.
    fn may_manage_users(&self) -> bool {
        match self {
            Caller::Token => true,
            Caller::Session(s) => s.user.role == "owner",
            _ => false,
        }
    }
}

/// A new login: the session's token (for the cookie, never stored), its CSRF token, the user.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub user: User,
    pub token: String,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

/// An e-mail address and password as given.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// The address normalised (when it is one), and every problem of a new account's address and
/// password, as (field, message).
fn problems(given: &Credentials) -> (Option<String>, Vec<(String, String)>) {
    let mut problems = Vec::new();
    let email = credentials::email(&given.email);
    if email.is_none() {
        problems.push((
            "email".to_string(),
            "must be an e-mail address (name@example.com)".to_string(),
        ));
    }
    if let Some(problem) = credentials::password_problem(&given.password) {
        problems.push(("password".to_string(), problem));
    }
    (email, problems)
}

/// The address normalised, or every problem of the address and password.
fn checked(given: &Credentials) -> Result<String> {
    match problems(given) {
        (Some(email), problems) if problems.is_empty() => Ok(email),
        (_, problems) => Err(Error::Fields(problems)),
    }
}

fn hash_failed(e: credentials::Error) -> Error {
    Error::Inconsistent {
        what: "a password could not be hashed or checked".into(),
        source: Some(Box::new(e)),
    }
}

/// Creates the first owner and logs them in; 409 once any user exists.
pub async fn setup(s: &Services, logins: &Logins, given: Credentials) -> Result<LoggedIn> {
    let email = checked(&given)?;
    let hash = credentials::hash(given.password).await.map_err(hash_failed)?;
    let now = s.clock.now();
    let new = NewUser {
        email: &email,
        password_hash: &hash,
        role: "owner",
    };
    let logged_in = crate::db::in_write(&s.db, async |tx| {
        store::lock_users(tx).await?;
        if store::any_user(tx).await? {
            return Err(Error::Conflict(
                "Cairn is set up already: log in, or ask an owner for an account".into(),
            ));
        }
        let user = store::insert_user(tx, new, now)
            .await?
            .ok_or_else(|| Error::Conflict(format!("{email} has an account already")))?;
        store::logged_in(tx, user.id, now).await?;
        start_session(tx, user, now).await
    })
    .await?;
    logins.user_created();
    Ok(logged_in)
}

/// The owner named at start (`CAIRN_ADMIN_EMAIL`, `CAIRN_ADMIN_PASSWORD`), created when no
/// user exists; `None` (nothing done) when one does.
pub async fn create_admin(s: &Services, logins: &Logins, given: Credentials) -> Result<Option<User>> {
    let email = checked(&given)?;
    let hash = credentials::hash(given.password).await.map_err(hash_failed)?;
    let now = s.clock.now();
    let new = NewUser {
        email: &email,
        password_hash: &hash,
        role: "owner",
    };
    let created = crate::db::in_write(&s.db, async |tx| {
        store::lock_users(tx).await?;
        if store::any_user(tx).await? {
            return Ok::<_, Error>(None);
        }
        Ok(store::insert_user(tx, new, now).await?)
    })
    .await?;
    if created.is_some() {
        logins.user_created();
    }
    Ok(created)
}

/// A session row for `user`, with its fresh token and CSRF token.
async fn start_session(c: &impl sea_orm::ConnectionTrait, user: User, now: DateTime<Utc>) -> Result<LoggedIn> {
    let token = credentials::token(32);
    let csrf = credentials::token(32);
    let expires_at = now + IDLE;
    let hash = credentials::digest(&token);
    let session = NewSession {
        token_hash: &hash,
        user: user.id,
        csrf: &csrf,
        expires_at,
    };
    store::insert_session(c, session, now).await?;
    Ok(LoggedIn {
        user,
        token,
        csrf,
        expires_at,
    })
}

/// Logs a user in: 429 when too many attempts failed lately, 401 (the same for an unknown
/// address and a wrong password, and as slow) when the credentials are wrong.
pub async fn login(
    s: &Services,
    logins: &Logins,
    given: Credentials,
    client: Option<std::net::IpAddr>,
) -> Result<LoggedIn> {
    let email = given.email.trim().to_lowercase();
    let attempt = Attempt { email: &email, client };
    let now = s.clock.now();
    if let Some(wait) = logins.attempts.refused(attempt, now) {
        return Err(Error::Throttled {
            message: "too many failed logins: try again later".into(),
            retry_after: wait.to_std().unwrap_or_default(),
        });
    }
    if given.password.len() > credentials::MAX_PASSWORD {
        return Err(Error::field(
            "password",
            format!("must be at most {} bytes long", credentials::MAX_PASSWORD),
        ));
    }
    let found = store::credentials(&s.db, &email).await?;
    let stored = found.as_ref().map(|(_, hash)| hash.clone());
    let right = credentials::verify(given.password, stored).await.map_err(hash_failed)?;
    let user = match found {
        Some((user, _)) if right => user,
        _ => {
            logins.attempts.failed(attempt, now);
            return Err(Error::Unauthorized("wrong e-mail address or password".into()));
        }
    };
    logins.attempts.succeeded(&email);
    crate::db::in_write(&s.db, async |tx| {
        store::delete_expired_sessions(tx, now).await?;
        store::logged_in(tx, user.id, now).await?;
        start_session(tx, user, now).await
    })
    .await
}

/// Ends the session of a cookie's token (nothing when there is none).
pub async fn logout(s: &Services, token: &str) -> Result<()> {
    store::delete_session(&s.db, &credentials::digest(token)).await?;
    Ok(())
}

/// The live session a cookie's token names, its use recorded (at most once a minute, which
/// moves its expiry); `None` when there is none or it expired.
pub async fn session(s: &Services, token: &str) -> Result<Option<Session>> {
    let hash = credentials::digest(token);
    let Some(found) = store::session(&s.db, &hash).await? else {
        return Ok(None);
    };
    let now = s.clock.now();
    if found.expires_at <= now {
        return Ok(None);
    }
    let mut renewed = None;
    if found.last_seen_at + TOUCH_EVERY <= now {
        let expires_at = (now + IDLE).min(found.created_at + MAX_AGE);
        if store::touch_session(&s.db, &hash, (now, now - TOUCH_EVERY), expires_at).await? {
            renewed = Some(expires_at);
        }
    }
    Ok(Some(Session {
        user: found.user,
        csrf: found.csrf,
        token_hash: hash,
        renewed,
    }))
}

/// Every user, oldest first.
pub async fn users(s: &Services) -> Result<Vec<User>> {
    Ok(store::users(&s.db).await?)
}

/// A new account's address, password and role.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub credentials: Credentials,
    pub role: String,
}

fn owners_only(by: &Caller) -> Result<()> {
    if by.may_manage_users() {
        return Ok(());
    }
    let message = match by {
        Caller::Open => "no user exists yet: create the first owner with POST /api/setup",
        _ => "only an owner may add, change or remove users",
    };
    Err(Error::Forbidden(message.into()))
}

/// The problem with a role that is not one of [`ROLES`], on the field `role`.
fn role_problem(role: &str) -> Option<(String, String)> {
    (!ROLES.contains(&role)).then(|| ("role".into(), "must be 'owner' or 'member'".into()))
}

/// Adds a user (owners only): 409 when the address has an account.
pub async fn add_user(s: &Services, by: &Caller, account: NewAccount) -> Result<User> {
    owners_only(by)?;
    let (email, mut problems) = problems(&account.credentials);
    problems.extend(role_problem(&account.role));
    let Some(email) = email.filter(|_| problems.is_empty()) else {
        return Err(Error::Fields(problems));
    };
    let hash = credentials::hash(account.credentials.password)
        .await
        .map_err(hash_failed)?;
    let new = NewUser {
        email: &email,
        password_hash: &hash,
        role: &account.role,
    };
    let user = store::insert_user(&s.db, new, s.clock.now())
        .await?
        .ok_or_else(|| Error::Conflict(format!("{email} has an account already")))?;
    Ok(user)
}

/// A logged-in user's new password, given with their current one.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub current: String,
    pub password: String,
}

/// Changes the logged-in user's password; their other sessions end (this one stays). Only a
/// session may do it: a key or the API token has no password to give.
pub async fn change_password(s: &Services, by: &Caller, change: PasswordChange) -> Result<()> {
    let Caller::Session(session) = by else {
        return Err(Error::Forbidden("log in to change your password".into()));
    };
    let (user, stored) = store::credentials(&s.db, &session.user.email)
        .await?
        .ok_or_else(|| Error::Unauthorized("this session's user no longer exists".into()))?;
    if !credentials::verify(change.current, Some(stored))
        .await
        .map_err(hash_failed)?
    {
        return Err(Error::Fields(vec![("current".into(), "is not your password".into())]));
    }
    if let Some(problem) = credentials::password_problem(&change.password) {
        return Err(Error::Fields(vec![("password".into(), problem)]));
    }
    let hash = credentials::hash(change.password).await.map_err(hash_failed)?;
    let keep = session.token_hash.clone();
    crate::db::in_write(&s.db, async |tx| {
        store::set_password(tx, user.id, &hash).await?;
        store::delete_other_sessions(tx, user.id, &keep).await?;
        Ok(())
    })
    .await
}

/// Sets another user's password (owners only), for one who forgot theirs: every session of
/// theirs ends. One's own password is changed with the current one ([`change_password`]).
pub async fn reset_password(s: &Services, by: &Caller, id: &str, password: String) -> Result<()> {
    owners_only(by)?;
    let missing = || Error::NotFound(format!("no user {id}"));
    let id: i64 = id.parse().map_err(|_| missing())?;
    if by.user_id() == Some(id) && matches!(by, Caller::Session(_)) {
        return Err(Error::Conflict(
            "change your own password with PUT /api/users/me/password, which asks for the current one".into(),
        ));
    }
    if let Some(problem) = credentials::password_problem(&password) {
        return Err(Error::Fields(vec![("password".into(), problem)]));
    }
    let hash = credentials::hash(password).await.map_err(hash_failed)?;
    crate::db::in_write(&s.db, async |tx| {
        store::user_by_id(tx, id).await?.ok_or_else(missing)?;
        store::set_password(tx, id, &hash).await?;
        // No session has an empty digest: every one of theirs ends.
        store::delete_other_sessions(tx, id, "").await?;
        Ok(())
    })
    .await
}

/// Makes a user an owner or a member (owners only): 409 when it would leave no owner. Their
/// sessions and keys' callers see the new role on their next request.
pub async fn set_role(s: &Services, by: &Caller, id: &str, role: &str) -> Result<User> {
    owners_only(by)?;
    if let Some(problem) = role_problem(role) {
        return Err(Error::Fields(vec![problem]));
    }
    let missing = || Error::NotFound(format!("no user {id}"));
    let id: i64 = id.parse().map_err(|_| missing())?;
    crate::db::in_write(&s.db, async |tx| {
        store::lock_users(tx).await?;
        let user = store::user_by_id(tx, id).await?.ok_or_else(missing)?;
        if user.role == "owner" && role != "owner" && store::owners(tx).await? <= 1 {
            return Err(Error::Conflict(format!(
                "{} is the last owner: make another user an owner first",
                user.email
            )));
        }
        store::set_role(tx, id, role).await?;
        store::user_by_id(tx, id).await?.ok_or_else(missing)
    })
    .await
}

/// Removes a user and their sessions (owners only): 409 for the last owner.
pub async fn remove_user(s: &Services, by: &Caller, id: &str) -> Result<()> {
    owners_only(by)?;
    let missing = || Error::NotFound(format!("no user {id}"));
    let id: i64 = id.parse().map_err(|_| missing())?;
    crate::db::in_write(&s.db, async |tx| {
        store::lock_users(tx).await?;
        let user = store::user_by_id(tx, id).await?.ok_or_else(missing)?;
        if user.role == "owner" && store::owners(tx).await? <= 1 {
            return Err(Error::Conflict(format!(
                "{} is the last owner: add another owner first",
                user.email
            )));
        }
        store::delete_user(tx, id).await?;
        Ok(())
    })
    .await
}
