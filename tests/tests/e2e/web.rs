//! The web app served by the binary: the page at `/` and at every app URL a person may share,
//! hashed assets that browsers may keep, and the API's JSON 404 for what is neither.

use axum::http::StatusCode;
use tests::service::{TestApp, backends};

async fn text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn header(response: &axum::response::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn app() -> TestApp {
    TestApp::spawn(&backends().await[0]).await
}

#[tokio::test]
async fn the_home_page_is_the_app_revalidated_on_every_load_and_not_frameable() {
    let t = app().await;
    let response = t.request_raw("GET", "/", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), "text/html");
    assert_eq!(header(&response, "cache-control"), "no-cache");
    let policy = header(&response, "content-security-policy");
    assert!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    let page = text(response).await;
    assert!(
        page.contains("<div id=\"root\"></div>") && page.contains("/assets/"),
        "{page}"
    );
}

#[tokio::test]
async fn a_shared_link_to_a_page_of_the_app_opens_the_app_in_a_browser() {
    let t = app().await;
    for path in ["/flows/3", "/contacts/ann%40example.com", "/segments/new", "/login"] {
        let response = t
            .request_raw("GET", path, &[("accept", "text/html,application/xhtml+xml")])
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(text(response).await.contains("<div id=\"root\">"), "{path}");
    }
}

#[tokio::test]
async fn every_asset_the_page_names_is_served_with_its_type_for_a_year() {
    let t = app().await;
    let page = text(t.request_raw("GET", "/", &[]).await).await;
    let assets: Vec<&str> = page.split('"').filter(|s| s.starts_with("/assets/")).collect();
    assert!(!assets.is_empty(), "{page}");
    for asset in assets {
        let response = t.request_raw("GET", asset, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let kind = header(&response, "content-type");
        assert!(kind.contains("javascript") || kind.contains("css"), "{asset}: {kind}");
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(header(&response, "etag").starts_with('"'));
    }
}

#[tokio::test]
async fn api_clients_still_get_json_404s() {
    let t = app().await;
    for (path, accept) in [
        ("/api/nothing", "text/html"),
        ("/flows/3", "application/json"),
        ("/assets/gone.js", "*/*"),
    ] {
        let response = t.request_raw("GET", path, &[("accept", accept)]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&response, "content-type"), "application/json", "{path}");
    }
    let (status, body) = t.call("POST", "/flows/3", Some("{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
