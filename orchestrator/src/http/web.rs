//! The web app: the files Vite built into `web/dist` (committed, so `cargo build` needs no
//! Node), embedded in the binary. Hashed assets (`/assets/<name>-<hash>.js`) may be kept by
//! browsers for a year; `index.html` is revalidated on every load so that a new binary's app
//! is picked up at once. The app's own URLs (`/flows/3`, `/contacts/ann`) are answered with
//! `index.html` and routed in the browser: any `GET` outside `/api/` that asks for HTML, so a
//! shared link opens the page it names, while API clients keep their JSON 404s.

use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "../web/dist/"]
struct Dist;

/// What the app's pages may load: its own scripts and styles (React Flow sets inline styles),
/// images from itself and `data:`, and nothing may frame them.
const APP_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Serves an embedded file, `index.html` for the app's routes, or the API's 404.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if method != Method::GET && method != Method::HEAD {
        return ApiError::NotFound("no such route".into()).into_response();
    }
    if let Some(name) = path.strip_prefix("/assets/")
        && let Some(file) = Dist::get(&format!("assets/{name}"))
    {
        return file_response(file, "public, max-age=31536000, immutable");
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if (path == "/" || wants_html) && !path.starts_with("/api/") && !path.starts_with("/assets/") {
        return index();
    }
    ApiError::NotFound("no such route".into()).into_response()
}

/// `/`: the app.
pub async fn index_page() -> Response {
    index()
}

/// `index.html`, never cached without revalidation.
pub fn index() -> Response {
    match Dist::get("index.html") {
        Some(file) => {
            let mut response = file_response(file, "no-cache");
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(APP_POLICY));
            response
        }
        None => ApiError::NotFound("this build has no web app (web/dist is empty)".into()).into_response(),
    }
}

fn file_response(file: rust_embed::EmbeddedFile, cache: &'static str) -> Response {
    let mime = file.metadata.mimetype().to_owned();
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
