//! Reading requests: the raw body within its size limit, JSON within the strict limits
//! ([`strict`]), a typed body whose mistakes name their field, and a listing's `limit`.

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, Detail};
use super::{BODY_LIMIT, strict};

pub type ApiResult<T> = Result<T, ApiError>;

/// The raw body: 413 over the limit, 400 when it cannot be read.
pub fn bytes(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge { limit: BODY_LIMIT }
        } else {
            ApiError::BadBody(r.body_text())
        }
    })
}

/// The body as JSON within `limits` ([`strict`]): 413 over the size limit, 400 with line and
/// column when it does not parse, 422 naming the field over a limit or given twice.
pub fn json(body: Result<Bytes, BytesRejection>, limits: strict::Limits) -> ApiResult<Value> {
    let bytes = bytes(body)?;
    strict::parse(&bytes, limits).map_err(|e| match e {
        strict::StrictError::Syntax(e) => ApiError::MalformedJson {
            message: flows::json::json_error_message(&e),
            line: e.line(),
            column: e.column(),
        },
        strict::StrictError::Refused { field, message } => ApiError::field(&field, message),
    })
}

/// A request body as `T`; a mistake names the field it is in (`data.at`), or for a missing or
/// unknown field the field serde names.
pub fn typed<T: serde::de::DeserializeOwned>(value: Value) -> ApiResult<T> {
    flows::json::typed_at(value).map_err(|e| {
        if e.path.is_empty() {
            ApiError::invalid(
                "invalid_request",
                e.message.clone(),
                vec![Detail {
                    node: None,
                    field: None,
                    message: e.message,
                    line: None,
                    column: None,
                }],
            )
        } else {
            ApiError::field(&e.path, e.message)
        }
    })
}

/// The names a body carries are names: not blank, no control characters, not too long.
pub fn check_names<'a>(named: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> ApiResult<()> {
    let problems: Vec<(String, String)> = named
        .into_iter()
        .filter_map(|(field, value)| crate::service::contact::name_problem(field, value?))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::fields(problems))
    }
}

#[derive(Debug, Deserialize)]
pub struct Limit {
    pub limit: Option<u64>,
}

/// A listing's `limit`: 1 to 100 000, 100 when absent.
pub fn limit(query: Result<Query<Limit>, QueryRejection>) -> ApiResult<u64> {
    let Query(q) = query.map_err(|_| ApiError::field("limit", "must be a whole number"))?;
    bounded_limit(q.limit, 100, 100_000)
}

/// A page size given as `limit`: `default` when absent, else 1 to `max`.
pub fn bounded_limit(given: Option<u64>, default: u64, max: u64) -> ApiResult<u64> {
    let limit = given.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::field("limit", format!("must be between 1 and {max}")));
    }
    Ok(limit)
}
