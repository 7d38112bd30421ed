//! What a credential is made of, and nothing else: passwords (argon2id, PHC strings, hashed and
//! verified on the blocking pool: a hash takes tens of milliseconds of CPU), random tokens
//! (sessions, CSRF, API keys), their SHA-256 (what the database keeps), and the rules an
//! e-mail address and a password must meet.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest as _;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD: usize = 10;
/// The longest password accepted, in bytes: hashing is bounded work.
pub const MAX_PASSWORD: usize = 1024;
/// The longest e-mail address accepted (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

/// Why a password could not be hashed or checked: our failure, not the caller's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("password hash: {0}")]
    Hash(String),
    #[error("the password check did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// An e-mail address as stored: trimmed and lowercase. `None` when it does not look like one
/// (one `@`, something before it, a dotted domain after it, no spaces).
pub fn email(given: &str) -> Option<String> {
    let email = given.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && email.len() <= MAX_EMAIL
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(email)
}

/// What is wrong with a new password, if anything.
pub fn password_problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD {
        Some(format!("must be at least {MIN_PASSWORD} characters long"))
    } else if password.len() > MAX_PASSWORD {
        Some(format!("must be at most {MAX_PASSWORD} bytes long"))
    } else {
        None
    }
}

/// The argon2id PHC string of `password` (a fresh random salt, the crate's default cost).
pub async fn hash(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Hash(e.to_string()))
    })
    .await?
}

/// Whether `password` matches `stored` (a PHC string). With no stored hash (an unknown user)
/// it is checked against a dummy hash of the same cost, so the answer takes as long.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = match stored {
            Some(s) => s,
            None => dummy()?.to_string(),
        };
        match argon2::Argon2::default().verify_password(password.as_bytes(), stored.as_str()) {
            Ok(()) => Ok(known),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(Error::Hash(e.to_string())),
        }
    })
    .await?
}

/// Makes the dummy hash now (at start, on the blocking pool), so that even the first login of
/// an unknown address takes no longer than a wrong password.
pub fn prepare() {
    if let Err(e) = dummy() {
        tracing::warn!(error = %e, "the dummy password hash could not be made");
    }
}

/// A hash no password is known for, made once per process (on the blocking pool: by
/// [`prepare`], or the first check of an unknown user).
fn dummy() -> Result<&'static str, Error> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(d) = DUMMY.get() {
        return Ok(d);
    }
    let made = argon2::Argon2::default()
        .hash_password(token(32).as_bytes())
        .map_err(|e| Error::Hash(e.to_string()))?
        .to_string();
    Ok(DUMMY.get_or_init(|| made))
}

/// `bytes` random bytes, base64url without padding.
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS provides randomness");
    URL_SAFE_NO_PAD.encode(buf)
}

/// The SHA-256 of a token, hex: the form sessions and API keys are stored and found by.
pub fn digest(token: &str) -> String {
    let hash = sha2::Sha256::digest(token.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_lowercase_and_look_like_addresses() {
        assert_eq!(email("  Ann@Example.COM ").as_deref(), Some("ann@example.com"));
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@.com",
            "a b@x.io",
            "a@b@c.io",
            "a@x..io",
        ] {
            assert_eq!(email(bad), None, "{bad}");
        }
    }

    #[test]
    fn passwords_need_ten_characters() {
        assert!(password_problem("short").is_some());
        assert!(password_problem("ten chars!").is_none());
        assert!(password_problem("éééééééééé").is_none(), "characters, not bytes");
        assert!(password_problem(&"x".repeat(MAX_PASSWORD + 1)).is_some());
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_no_password_matches_an_unknown_user() {
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse".into(), Some(stored.clone())).await.unwrap());
        assert!(!verify("wrong horse!".into(), Some(stored)).await.unwrap());
        assert!(!verify("correct horse".into(), None).await.unwrap());
    }

    #[test]
    fn tokens_are_random_and_stored_as_their_digest() {
        let (a, b) = (token(32), token(32));
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes in base64url without padding");
        assert_eq!(digest(&a).len(), 64);
        assert_eq!(digest(&a), digest(&a));
    }
}
