//! Consultations (started from an appointment, ended with it), their SOAP notes and
//! prescriptions: the `/api/v1` handlers over [`crate::domain::consultations`].

pub mod lifecycle;
pub mod prescriptions;
pub mod read;
pub mod soap_note_lifecycle;
pub mod soap_notes;

use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lifecycle::start))
        .routes(routes!(lifecycle::end))
        .routes(routes!(read::list))
        .routes(routes!(read::get))
        .routes(routes!(soap_notes::create, soap_notes::list))
        .routes(routes!(soap_notes::get, soap_note_lifecycle::update))
        .routes(routes!(soap_note_lifecycle::sign))
        .routes(routes!(soap_note_lifecycle::amend))
        .routes(routes!(prescriptions::create))
        .routes(routes!(prescriptions::list))
        .routes(routes!(prescriptions::get))
}
