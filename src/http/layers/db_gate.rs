//! For `front`: answers `503 service_unavailable` at once while the database is known to be unreachable,
//! instead of letting each request wait out the pool (`db::health`), and marks it unreachable
//! when a response says so.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

use crate::db::health::Unreachable;
use crate::http::error::ApiError;
use crate::state::AppState;

/// Routes served without the database.
fn needs_database(path: &str) -> bool {
    !matches!(path, "/healthz" | "/metrics" | "/api/v1/openapi.json") && !path.starts_with("/docs")
}

/// The answer to send at once, while the database is known to be down, to a request that needs it.
pub fn refuse(state: &AppState, req: &Request) -> Option<Response> {
    (state.db_health.is_down() && needs_database(req.uri().path()))
        .then(|| ApiError::DatabaseUnreachable.into_response())
}

/// Marks the database down when a response found it unreachable.
pub fn note(state: &AppState, response: &Response) {
    if response.extensions().get::<Unreachable>().is_some() {
        state.db_health.mark_down();
    }
}
