//! Entries signed with their flow's secret: `X-Cairn-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<flow id>.<raw body>")>`. A signature is bound to its flow and
//! body, valid for 5 minutes either side of the server's clock, and used at most once: its use
//! is stored in the entry's transaction (`used_signatures`), so every process sharing the
//! database refuses a replay, and an entry that fails does not use its signature up.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::signing::{EntrySignature, verify_entry};

/// The header that carries the signature of an entry into a flow with a secret.
pub const SIGNATURE_HEADER: &str = "x-cairn-signature";

/// Verifies the signature of an entry into `flow` (401 naming what is wrong). Whether it was
/// used before is the entry's transaction's question
/// ([`crate::service::tracking::use_signature_once`]).
pub fn check(
    secret: &str,
    (flow, body): (i64, &[u8]),
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<EntrySignature, ApiError> {
    let header = headers.get(SIGNATURE_HEADER).map(|v| v.to_str().unwrap_or("?"));
    verify_entry(secret, (flow, body), header, now.timestamp())
        .map_err(|e| ApiError::Unauthorized(format!("flow {flow}: {e}")))
}
