//! The one place errors become HTTP responses: `{"error": {"code", "message", "details"}}`.
//! Client mistakes get a 4xx naming what is wrong; our failures get an opaque 500 and a log line
//! with the full cause.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

// The wire form of a `flows::Problem`, and of a request field's problem.
/// One located problem: the node and field of a flow, or the field of a request body.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DetailBody)]
pub struct Detail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl From<flows::Problem> for Detail {
    fn from(p: flows::Problem) -> Self {
        Detail {
            node: p.node,
            field: p.field,
            message: p.message,
            line: p.line,
            column: p.column,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        message: String,
        line: usize,
        column: usize,
    },
    /// The body is JSON but not what this endpoint takes.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        details: Vec<Detail>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body could not be read: {0}")]
    BadBody(String),
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts: `Retry-After` says in how many seconds to try again.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    MisdirectedRequest(String),
    #[error("the request was not answered within {0:?}: its body came too slowly, or it took too long")]
    RequestTimeout(std::time::Duration),
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// Our failure: the client sees only "internal error"; the log gets the cause chain.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The most problems an error lists in `details`; the message gives the total.
pub const MAX_DETAILS: usize = 100;

/// Every error's body: a stable code, a message, and located details.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInner,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorInner {
    /// `invalid_flow`, `invalid_request`, `malformed_json`, `not_found`, `conflict`,
    /// `unauthorized`, `forbidden`, `too_many_requests`, `payload_too_large`,
    /// `method_not_allowed`, `internal`, …
    pub code: String,
    pub message: String,
    pub details: Vec<Detail>,
}

/// The JSON error body of a status whose response has no body of its own (hyper's 414 and
/// 431, an extractor's bare rejection): the code is the status's reason in snake case.
pub fn status_body(status: StatusCode) -> ErrorBody {
    let reason = status.canonical_reason().unwrap_or("error");
    let code = reason.to_ascii_lowercase().replace(['-', ' '], "_").replace('\'', "");
    ErrorBody {
        error: ErrorInner {
            code,
            message: reason.to_string(),
            details: Vec::new(),
        },
    }
}

impl ApiError {
    pub fn invalid(code: &'static str, message: impl Into<String>, details: Vec<Detail>) -> Self {
        ApiError::Invalid {
            code,
            message: message.into(),
            details,
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::fields(vec![(field.to_string(), message.into())])
    }

    /// Every problem of a request at once, each as (field, message).
    pub fn fields(problems: Vec<(String, String)>) -> Self {
        let message = crate::service::fields_message(&problems);
        let details = problems
            .into_iter()
            .map(|(field, message)| Detail {
                node: None,
                field: Some(field),
                message,
                line: None,
                column: None,
            })
            .collect();
        ApiError::Invalid {
            code: "invalid_request",
            message,
            details,
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MalformedJson { .. } => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::BadBody(_) => (StatusCode::BAD_REQUEST, "bad_body"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::MisdirectedRequest(_) => (StatusCode::MISDIRECTED_REQUEST, "misdirected_request"),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl ApiError {
    /// Our failure, with its cause.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(cause.into())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(crate::service::Error::Db(e))
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        ApiError::internal(crate::service::Error::Store(e))
    }
}

impl From<crate::service::Error> for ApiError {
    fn from(e: crate::service::Error) -> Self {
        use crate::service::Error;
        match e {
            Error::NotFound(message) => ApiError::NotFound(message),
            Error::Conflict(message) => ApiError::Conflict(message),
            Error::Fields(problems) => ApiError::fields(problems),
            Error::Unauthorized(message) => ApiError::Unauthorized(message),
            Error::Forbidden(message) => ApiError::Forbidden(message),
            // Whole seconds, rounded up: a client waiting that long is not refused again.
            Error::Throttled { message, retry_after } => ApiError::TooManyRequests {
                message,
                retry_after: retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0),
            },
            Error::Flow(problems) => problems.into(),
            e @ (Error::Db(_) | Error::Store(_) | Error::FlowVersion(_) | Error::Inconsistent { .. }) => {
                ApiError::internal(e)
            }
        }
    }
}

impl From<flows::Problems> for ApiError {
    fn from(p: flows::Problems) -> Self {
        let count = p.0.len();
        let first = p.0.first().map(ToString::to_string).unwrap_or_default();
        let details = p.0.into_iter().take(MAX_DETAILS).map(Detail::from).collect();
        let message = match count {
            0 | 1 => first,
            2 => format!("{first} (and 1 more problem)"),
            _ if count <= MAX_DETAILS => format!("{first} (and {} more problems)", count - 1),
            _ => format!(
                "{first} (and {} more problems: {count} in all, the first {MAX_DETAILS} listed)",
                count - 1
            ),
        };
        ApiError::Invalid {
            code: "invalid_flow",
            message,
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let details = match &self {
            ApiError::Invalid { details, .. } => details.clone(),
            ApiError::MalformedJson { message, line, column } => vec![Detail {
                node: None,
                field: None,
                message: message.clone(),
                line: Some(*line),
                column: Some(*column),
            }],
            _ => Vec::new(),
        };
        if let ApiError::Internal(cause) = &self {
            tracing::error!(cause = %Chain(cause.as_ref()), "request failed");
        }
        let body = ErrorBody {
            error: ErrorInner {
                code: code.to_string(),
                message: self.to_string(),
                details,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, retry_after.max(1).into());
        }
        response
    }
}

/// An error and its causes, `outer: inner: innermost`, for the log. A cause whose text its
/// error already ends with (`database: {0}`) is not repeated.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            source = cause.source();
        }
        Ok(())
    }
}
