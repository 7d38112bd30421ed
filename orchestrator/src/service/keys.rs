//! API keys: tokens for programs (`Authorization: Bearer cairn_…`), made by anyone who may use
//! the API, shown once when made, listed by name and prefix, revoked but never deleted (a
//! revoked key stays listed with its `revoked_at`).
//!
//! Only the SHA-256 of a key is stored, and a key is found by it. Its use is written at most
//! once a minute ([`super::accounts::TOUCH_EVERY`]).

use serde::Serialize;

use super::accounts::{Caller, TOUCH_EVERY};
use super::credentials;
use super::{Error, Result, Services};
use crate::store::accounts::{self as store, ApiKey, NewKey};

/// What every key's token starts with.
pub const KEY_PREFIX: &str = "cairn_";
/// The longest name a key may have, in characters.
pub const MAX_NAME: usize = 200;

/// A key just made: its listing and its token, which is shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// `cairn_` and 32 random bytes (base64url): keep it, it is not shown again.
    pub token: String,
}

/// Every key, revoked ones included, oldest first.
pub async fn list(s: &Services) -> Result<Vec<ApiKey>> {
    Ok(store::keys(&s.db).await?)
}

/// Makes a key named `name`, made by the caller's user (none for the API token).
pub async fn create(s: &Services, by: &Caller, name: &str) -> Result<NewApiKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::field(
            "name",
            format!("must be 1 to {MAX_NAME} characters, without control characters"),
        ));
    }
    let token = format!("{KEY_PREFIX}{}", credentials::token(32));
    let hash = credentials::digest(&token);
    let new = NewKey {
        name,
        prefix: &token[..8],
        hash: &hash,
        created_by: by.user_id(),
    };
    let key = store::insert_key(&s.db, new, s.clock.now()).await?;
    Ok(NewApiKey { key, token })
}

/// Revokes a key: it no longer authenticates anything.
pub async fn revoke(s: &Services, id: &str) -> Result<ApiKey> {
    let missing = || Error::NotFound(format!("no API key {id}"));
    let id: i64 = id.parse().map_err(|_| missing())?;
    store::revoke_key(&s.db, id, s.clock.now()).await?.ok_or_else(missing)
}

/// The live (not revoked) key a bearer token is, its use recorded; `None` when it is none.
pub async fn find(s: &Services, token: &str) -> Result<Option<ApiKey>> {
    if !token.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    let Some(key) = store::key_by_hash(&s.db, &credentials::digest(token)).await? else {
        return Ok(None);
    };
    if key.revoked_at.is_some() {
        return Ok(None);
    }
    let now = s.clock.now();
    if key.last_used_at.is_none_or(|t| t + TOUCH_EVERY <= now) {
        store::key_used(&s.db, key.id, (now, now - TOUCH_EVERY)).await?;
    }
    Ok(Some(key))
}
