//! The console (Settings → Integrations): where a clinic's owners and admins create API keys and
//! webhooks, watch deliveries and read the audit log. Server-rendered HTML from compile-time
//! checked templates (`templates/console/`), a small stylesheet and one small script (the copy
//! buttons), all embedded in the binary. A front door like `api`: it extracts, calls `domain` and
//! `auth::store`, and renders. See docs/console.md for the security model.

mod context;
pub mod error;
mod forms;
mod pages;
mod render;

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// Scripts and styles only from this server, no inline script or style, no framing, forms post
/// only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../../assets/console/console.css");
const SCRIPT: &str = include_str!("../../assets/console/console.js");

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(pages::router())
        .route("/console/assets/console.css", get(|| async { asset("text/css; charset=utf-8", STYLESHEET) }))
        .route("/console/assets/console.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/console/{*rest}", get(|| async { error::PageError::NotFound }))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> axum::response::Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
