//! Intake forms: created pending, started, completed with the patient's answers. The records,
//! their state machine, rules and SQL are [`crate::domain::intake`].

pub mod read;
pub mod write;

use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(write::create, read::list))
        .routes(routes!(read::get))
        .routes(routes!(write::start))
        .routes(routes!(write::complete))
}
