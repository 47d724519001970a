//! Fixed one-minute windows aligned to the minute; the counting itself happens in the fused
//! authentication statement (see `auth.rs`). This module holds the window arithmetic and the
//! `X-RateLimit-*` / `Retry-After` headers.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::auth::window::Window;
use crate::http::error::ApiError;

pub fn set_headers(headers: &mut HeaderMap, window: &Window) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(window.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(window.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(window.reset));
}

pub fn too_many(window: &Window, now: i64) -> Response {
    let mut response = ApiError::RateLimited.into_response();
    set_headers(response.headers_mut(), window);
    let retry_after = (window.reset - now).clamp(1, 60);
    response.headers_mut().insert("retry-after", HeaderValue::from(retry_after));
    response
}
