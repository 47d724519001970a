//! `X-Request-Id`: accepted when sane, generated otherwise, echoed in the response, and
//! carried by the request's tracing span (with method and matched route — never raw paths,
//! query strings or bodies, which can carry PHI). The same step observes the request into the
//! metrics registry (`crate::metrics`), labelled by route template and bounded method label.

use std::future::Future;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::response::Response;
use tracing::Instrument;

use crate::auth::AuthenticatedKey;
use crate::state::AppState;

pub const HEADER: &str = "x-request-id";

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_string())
}

pub async fn request_id<F: Future<Output = Response>>(
    state: &AppState,
    mut req: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let id =
        req.headers().get(HEADER).and_then(acceptable).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    // The matched path is shared (`Arc<str>`): keeping it allocates nothing.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = super::method::label(req.method());
    // The span carries what every line of the request needs and is known now; what is known only
    // at the end (status, key) goes on the last line alone: a field recorded into a span later
    // makes the JSON formatter rewrite the span's fields.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method,
        route,
    );
    let started = std::time::Instant::now();
    let mut response = next(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    state.metrics.observe(route, method, response.status().as_u16(), elapsed.as_secs_f64());
    let key_prefix = response.extensions().get::<AuthenticatedKey>().map(|k| k.key_prefix.as_str());
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            key_prefix,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}
