//! `GET /docs`: a page that renders the OpenAPI document, with everything it needs served by
//! this server (no CDN), so it works on networks that block them and offline.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const PAGE: &str = include_str!("docs.html");

pub fn router() -> Router {
    Router::new().route("/docs", get(page))
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'",
            ),
        ],
        PAGE,
    )
}
