//! Observes every request into the metrics registry (`crate::metrics`), labelled by route
//! template and bounded method label.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = super::method::label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe(&route, method, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}
