//! Observes every request into the metrics registry (`crate::metrics`), labelled by route
//! template and bounded method label.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // The matched path is shared (`Arc<str>`): keeping it allocates nothing.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = super::method::label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.observe(route, method, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}
