//! Reading JSON leniently: serde's errors located (the path inside the value, the top-level key
//! that holds the mistake) and told in JSON terms rather than Rust's. Flows and the API's
//! request bodies share these.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// serde_json's message without its " at line L column C" suffix (callers report the position
/// in their own form).
pub fn json_error_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Why a value did not deserialize: the path inside it (empty when none is known), the message
/// in JSON terms, and the key at its top level that holds the problem (a key may itself contain
/// dots, so it is not cut from `path`).
#[derive(Debug, Clone)]
pub struct TypeError {
    pub path: String,
    pub message: String,
    pub top: Option<String>,
}

/// Deserializes `value`, locating a mistake: what flows and the API's request bodies share.
pub fn typed_at<T: DeserializeOwned>(value: Value) -> Result<T, TypeError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let message = plain_types(&e.inner().to_string());
        let first = e.path().iter().next().cloned();
        let (path, top) = match first {
            None => {
                let named = field_named_in(&message);
                (named.clone().unwrap_or_default(), named)
            }
            Some(serde_path_to_error::Segment::Map { key }) => (e.path().to_string(), Some(key)),
            Some(_) => (e.path().to_string(), None),
        };
        TypeError { path, message, top }
    })
}

/// serde's message with Rust's type names put plainly: "expected struct Pace" is "expected an
/// object" to someone writing JSON.
fn plain_types(message: &str) -> String {
    let Some(at) = message.find("expected struct ") else {
        return message.to_string();
    };
    let rest = &message[at + "expected struct ".len()..];
    if rest.starts_with("variant ") {
        return message.to_string();
    }
    let name_len = rest
        .find(|c: char| !c.is_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    format!("{}expected an object{}", &message[..at], &rest[name_len..])
}

/// serde names a missing or unknown field inside its message (``missing field `timeout` ``).
fn field_named_in(message: &str) -> Option<String> {
    let start = message.find("field `")? + "field `".len();
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}
