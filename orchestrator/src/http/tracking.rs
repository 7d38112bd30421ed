//! `/t/o/{token}` and `/t/c/{token}`: open pixels and tracked links. A forged or altered token
//! gets 404 and records nothing; only a GET is a hit (link checkers HEAD links).

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::body::ApiResult;
use super::error::ApiError;
use super::{AppState, Segment};
use crate::service::tracking;
use crate::signing::{self, Hit, Link};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/t/o/{token}", get(track_open))
        .route("/t/c/{token}", get(track_click))
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn no_such_link() -> ApiError {
    ApiError::NotFound("no such tracking link".into())
}

#[utoipa::path(get, path = "/t/o/{token}", tag = "tracking", params(("token" = String, Path)), responses((status = 200, description = "A 1x1 GIF; the open is recorded", content_type = "image/gif"), (status = 404, description = "Forged or unknown token: nothing recorded")))]
pub async fn track_open(
    State(state): State<AppState>,
    method: axum::http::Method,
    Segment(token): Segment,
) -> ApiResult<Response> {
    let Some(Hit::Open { message }) = state.tracker.verify(&token) else {
        return Err(no_such_link());
    };
    if method == axum::http::Method::GET {
        tracking::record_hit(&state.services, &message, "opened").await?;
    }
    let headers = [
        (axum::http::header::CONTENT_TYPE, "image/gif"),
        (axum::http::header::CACHE_CONTROL, "no-store"),
    ];
    Ok((headers, PIXEL).into_response())
}

#[utoipa::path(get, path = "/t/c/{token}", tag = "tracking", params(("token" = String, Path)), responses((status = 303, description = "Redirect to the original URL; the click is recorded"), (status = 404, description = "Forged or unknown token: nothing recorded")))]
pub async fn track_click(
    State(state): State<AppState>,
    method: axum::http::Method,
    Segment(token): Segment,
) -> ApiResult<Response> {
    let Some(Hit::Click { message, url }) = state.tracker.verify(&token) else {
        return Err(no_such_link());
    };
    // Only absolute http(s) targets are redirected to, whatever an older token says.
    let Link::Tracked(url) = signing::link(&url) else {
        return Err(no_such_link());
    };
    if axum::http::HeaderValue::from_str(&url).is_err() {
        return Err(no_such_link());
    }
    if method == axum::http::Method::GET {
        tracking::record_hit(&state.services, &message, "clicked").await?;
    }
    Ok(axum::response::Redirect::to(&url).into_response())
}
