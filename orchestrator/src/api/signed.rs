//! Entries signed with their flow's secret: `X-Cairn-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<flow id>.<raw body>")>`. A signature is bound to its flow and
//! body, valid for 5 minutes either side of the server's clock, and used at most once: its use
//! is stored in the entry's transaction (`used_signatures`), so every process sharing the
//! database refuses a replay, and an entry that fails does not use its signature up.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::error::ApiError;
use crate::tracking::{EntrySignature, SIGNATURE_TOLERANCE_SECS, verify_entry};

/// The header that carries the signature of an entry into a flow with a secret.
pub const SIGNATURE_HEADER: &str = "x-cairn-signature";

/// Verifies the signature of an entry into `flow` (401 naming what is wrong). Whether it was
/// used before is [`use_once`]'s question.
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

/// Marks the signature used, in the entry's transaction; 409 when it was used before.
pub async fn use_once(
    tx: &impl ConnectionTrait,
    flow: i64,
    signature: &EntrySignature,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    // Kept twice as long as a signature can be accepted, for processes whose clocks differ.
    let forget_before = now.timestamp() - 2 * SIGNATURE_TOLERANCE_SECS;
    let first = crate::store::flows::use_signature(tx, flow, (&signature.hex, signature.t), forget_before).await?;
    if first {
        Ok(())
    } else {
        Err(ApiError::Conflict(
            "this signature was used before: each entry is signed anew (a replayed request is refused)".into(),
        ))
    }
}
