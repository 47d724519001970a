//! Providers: list and view (READ_PROVIDERS), and their weekly schedule (READ_APPOINTMENTS).
//! Written only by `klinivo clinic import` and `klinivo demo`; the records are
//! `domain::providers`.

mod routes;
mod schedule;

use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list_providers))
        .routes(routes!(routes::get_provider))
        .routes(routes!(schedule::get_schedule))
}
