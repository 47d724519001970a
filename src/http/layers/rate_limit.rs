//! Fixed one-minute windows aligned to the minute; the counting itself happens in the fused
//! authentication statement (see `auth.rs`). This module holds the window arithmetic and the
//! `X-RateLimit-*` / `Retry-After` headers.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::http::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the window resets.
    pub reset: i64,
}

impl Window {
    /// The window after the `count`-th request of the window starting at `start`.
    pub fn after(limit: u32, count: i32, start: DateTime<Utc>) -> Window {
        let used = count.max(0) as u32;
        Window { limit, remaining: limit.saturating_sub(used), reset: start.timestamp() + 60 }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn window_counts_down_and_resets_at_the_next_minute() {
        let start = Utc.with_ymd_and_hms(2026, 11, 28, 9, 30, 0).unwrap();
        let w = Window::after(20, 1, start);
        assert_eq!((w.remaining, w.reset), (19, start.timestamp() + 60));
        assert_eq!(Window::after(20, 25, start).remaining, 0);
    }
}
