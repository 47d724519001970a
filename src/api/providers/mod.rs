//! Providers: list and view (READ_PROVIDERS), and their weekly schedule (READ_APPOINTMENTS).
//! Written only by `klinivo clinic import` and `klinivo demo`.

pub mod model;
mod routes;
pub mod schedule;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub use model::{Provider, ProviderList};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list_providers))
        .routes(routes!(routes::get_provider))
        .routes(routes!(schedule::get_schedule))
}
