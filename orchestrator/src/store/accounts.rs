//! Users, their sessions and API keys (migration 19).
//!
//! The store sees only hashes: a session or an API key is found by the SHA-256 of its token,
//! which the caller computes; the tokens themselves never reach the database. E-mail addresses
//! arrive normalised (lowercase, trimmed) from `service::accounts`.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::{Error, Result};
use crate::db::{all, col, exec, from_ms, is_postgres, ms, one};

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    /// `owner` (may add and remove users) or `member`.
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

const USER_COLUMNS: &str = "id, email, role, created_at, last_login_at";

fn user(r: &sea_orm::QueryResult) -> Result<User> {
    Ok(User {
        id: col(r, 0)?,
        email: col(r, 1)?,
        role: col(r, 2)?,
        created_at: from_ms(col(r, 3)?),
        last_login_at: col::<Option<i64>>(r, 4)?.map(from_ms),
    })
}

/// Takes the lock that makes "is there a user yet?" and "is this the last owner?" answers
/// hold until the transaction ends. SQLite's write transactions (`BEGIN IMMEDIATE`) are
/// serialised already; on PostgreSQL the table is locked against other writers (readers go on).
pub async fn lock_users(c: &impl ConnectionTrait) -> Result<()> {
    if is_postgres(c) {
        exec(c, "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE", vec![]).await?;
    }
    Ok(())
}

/// Whether any user exists.
pub async fn any_user(c: &impl ConnectionTrait) -> Result<bool> {
    Ok(one(c, "SELECT 1 FROM users LIMIT 1", vec![]).await?.is_some())
}

/// How many owners there are.
pub async fn owners(c: &impl ConnectionTrait) -> Result<i64> {
    let r = one(c, "SELECT COUNT(*) FROM users WHERE role = 'owner'", vec![])
        .await?
        .ok_or_else(|| Error::custom("COUNT returned no row"))?;
    Ok(col(&r, 0)?)
}

/// What a new user is given.
#[derive(Debug, Clone, Copy)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
}

/// Adds a user; `None` when the e-mail address is taken.
pub async fn insert_user(c: &impl ConnectionTrait, new: NewUser<'_>, now: DateTime<Utc>) -> Result<Option<User>> {
    let r = one(
        c,
        &format!(
            "INSERT INTO users (email, password_hash, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (email) DO NOTHING RETURNING {USER_COLUMNS}"
        ),
        vec![
            new.email.into(),
            new.password_hash.into(),
            new.role.into(),
            ms(now).into(),
        ],
    )
    .await?;
    r.as_ref().map(user).transpose()
}

/// Every user, oldest first.
pub async fn users(c: &impl ConnectionTrait) -> Result<Vec<User>> {
    let rows = all(c, &format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"), vec![]).await?;
    rows.iter().map(user).collect()
}

pub async fn user_by_id(c: &impl ConnectionTrait, id: i64) -> Result<Option<User>> {
    let r = one(
        c,
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
        vec![id.into()],
    )
    .await?;
    r.as_ref().map(user).transpose()
}

/// A user and their password hash, by (normalised) e-mail address.
pub async fn credentials(c: &impl ConnectionTrait, email: &str) -> Result<Option<(User, String)>> {
    let r = one(
        c,
        &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"),
        vec![email.into()],
    )
    .await?;
    match r {
        Some(r) => Ok(Some((user(&r)?, col(&r, 5)?))),
        None => Ok(None),
    }
}

/// Removes a user and their sessions; `false` when there was no such user.
pub async fn delete_user(c: &impl ConnectionTrait, id: i64) -> Result<bool> {
    exec(c, "DELETE FROM sessions WHERE user_id = $1", vec![id.into()]).await?;
    Ok(exec(c, "DELETE FROM users WHERE id = $1", vec![id.into()]).await? > 0)
}

/// Replaces a user's password hash.
pub async fn set_password(c: &impl ConnectionTrait, id: i64, password_hash: &str) -> Result<()> {
    exec(
        c,
        "UPDATE users SET password_hash = $1 WHERE id = $2",
        vec![password_hash.into(), id.into()],
    )
    .await?;
    Ok(())
}

pub async fn set_role(c: &impl ConnectionTrait, id: i64, role: &str) -> Result<()> {
    exec(
        c,
        "UPDATE users SET role = $1 WHERE id = $2",
        vec![role.into(), id.into()],
    )
    .await?;
    Ok(())
}

/// Ends every session of a user but the one whose token has digest `keep`.
pub async fn delete_other_sessions(c: &impl ConnectionTrait, user: i64, keep: &str) -> Result<()> {
    exec(
        c,
        "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2",
        vec![user.into(), keep.into()],
    )
    .await?;
    Ok(())
}

pub async fn logged_in(c: &impl ConnectionTrait, user: i64, now: DateTime<Utc>) -> Result<()> {
    exec(
        c,
        "UPDATE users SET last_login_at = $2 WHERE id = $1",
        vec![user.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

/// A new session row.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user: i64,
    pub csrf: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_session(c: &impl ConnectionTrait, new: NewSession<'_>, now: DateTime<Utc>) -> Result<()> {
    exec(
        c,
        "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $4)",
        vec![
            new.token_hash.into(),
            new.user.into(),
            new.csrf.into(),
            ms(now).into(),
            ms(new.expires_at).into(),
        ],
    )
    .await?;
    Ok(())
}

/// A session with its user, as found by its token's hash.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn session(c: &impl ConnectionTrait, token_hash: &str) -> Result<Option<Session>> {
    let r = one(
        c,
        "SELECT u.id, u.email, u.role, u.created_at, u.last_login_at, s.csrf, s.created_at, s.expires_at, \
         s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        vec![token_hash.into()],
    )
    .await?;
    let Some(r) = r else { return Ok(None) };
    Ok(Some(Session {
        user: user(&r)?,
        csrf: col(&r, 5)?,
        created_at: from_ms(col(&r, 6)?),
        expires_at: from_ms(col(&r, 7)?),
        last_seen_at: from_ms(col(&r, 8)?),
    }))
}

/// Records a session's use at `now` with its new expiry, unless it was recorded after `since`
/// (by another request or process): writes at most once per that interval.
pub async fn touch_session(
    c: &impl ConnectionTrait,
    token_hash: &str,
    (now, since): (DateTime<Utc>, DateTime<Utc>),
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    let n = exec(
        c,
        "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE token_hash = $1 AND last_seen_at <= $4",
        vec![
            token_hash.into(),
            ms(now).into(),
            ms(expires_at).into(),
            ms(since).into(),
        ],
    )
    .await?;
    Ok(n > 0)
}

pub async fn delete_session(c: &impl ConnectionTrait, token_hash: &str) -> Result<()> {
    exec(c, "DELETE FROM sessions WHERE token_hash = $1", vec![token_hash.into()]).await?;
    Ok(())
}

/// Removes the sessions that expired before `now`; how many.
pub async fn delete_expired_sessions(c: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64> {
    Ok(exec(c, "DELETE FROM sessions WHERE expires_at <= $1", vec![ms(now).into()]).await?)
}

/// An API key as the API lists it: never its token or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The token's first 8 characters, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The user who created it; null when it was created with the API token or while the API
    /// was open.
    pub created_by: Option<i64>,
}

const KEY_COLUMNS: &str = "id, name, prefix, created_at, last_used_at, revoked_at, created_by";

fn key(r: &sea_orm::QueryResult) -> Result<ApiKey> {
    Ok(ApiKey {
        id: col(r, 0)?,
        name: col(r, 1)?,
        prefix: col(r, 2)?,
        created_at: from_ms(col(r, 3)?),
        last_used_at: col::<Option<i64>>(r, 4)?.map(from_ms),
        revoked_at: col::<Option<i64>>(r, 5)?.map(from_ms),
        created_by: col(r, 6)?,
    })
}

/// What a new API key is given.
#[derive(Debug, Clone, Copy)]
pub struct NewKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a str,
    pub created_by: Option<i64>,
}

pub async fn insert_key(c: &impl ConnectionTrait, new: NewKey<'_>, now: DateTime<Utc>) -> Result<ApiKey> {
    let r = one(
        c,
        &format!(
            "INSERT INTO api_keys (name, prefix, hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {KEY_COLUMNS}"
        ),
        vec![
            new.name.into(),
            new.prefix.into(),
            new.hash.into(),
            new.created_by.into(),
            ms(now).into(),
        ],
    )
    .await?
    .ok_or_else(|| Error::custom("an API key was inserted and returned no row"))?;
    key(&r)
}

/// Every API key, revoked ones included, oldest first.
pub async fn keys(c: &impl ConnectionTrait) -> Result<Vec<ApiKey>> {
    let rows = all(c, &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"), vec![]).await?;
    rows.iter().map(key).collect()
}

/// The key whose token hashes to `hash`, revoked or not.
pub async fn key_by_hash(c: &impl ConnectionTrait, hash: &str) -> Result<Option<ApiKey>> {
    let r = one(
        c,
        &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1"),
        vec![hash.into()],
    )
    .await?;
    r.as_ref().map(key).transpose()
}

/// Revokes a key (a revoked key stays revoked at its first instant); `None` when there is no
/// such key.
pub async fn revoke_key(c: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<Option<ApiKey>> {
    let r = one(
        c,
        &format!("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING {KEY_COLUMNS}"),
        vec![id.into(), ms(now).into()],
    )
    .await?;
    r.as_ref().map(key).transpose()
}

/// Records a key's use at `now` unless it was recorded after `since`.
pub async fn key_used(c: &impl ConnectionTrait, id: i64, (now, since): (DateTime<Utc>, DateTime<Utc>)) -> Result<()> {
    exec(
        c,
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)",
        vec![id.into(), ms(now).into(), ms(since).into()],
    )
    .await?;
    Ok(())
}
