//! Answers `503 service_unavailable` at once while the database is known to be unreachable,
//! instead of letting each request wait out the pool (`db::health`), and marks it unreachable
//! when a response says so.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::db::health::Unreachable;
use crate::http::error::ApiError;
use crate::state::AppState;

/// Routes served without the database.
fn needs_database(path: &str) -> bool {
    !matches!(path, "/healthz" | "/metrics" | "/api/v1/openapi.json") && !path.starts_with("/docs")
}

pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.db_health.is_down() && needs_database(req.uri().path()) {
        return ApiError::DatabaseUnreachable.into_response();
    }
    let response = next.run(req).await;
    if response.extensions().get::<Unreachable>().is_some() {
        state.db_health.mark_down();
    }
    response
}
