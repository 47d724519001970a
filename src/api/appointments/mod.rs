//! Appointments: list, view, book, and the lifecycle transitions.

pub mod model;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
