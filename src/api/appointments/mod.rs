//! Appointments: list, view, book, and the lifecycle transitions; the records and their rules
//! are `domain::appointments`.

pub mod book;
pub mod lifecycle;
pub mod list;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::auth::permissions::ReadAppointments;
use crate::domain::appointments::{self, Appointment};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Auth, Path};
use crate::http::response::Records;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_appointments, book::book_appointment))
        .routes(routes!(get_appointment))
        .routes(routes!(lifecycle::confirm_appointment))
        .routes(routes!(lifecycle::cancel_appointment))
        .routes(routes!(lifecycle::reschedule_appointment))
        .routes(routes!(lifecycle::no_show_appointment))
}

/// Get an appointment
#[utoipa::path(
    get,
    path = "/api/v1/appointments/{id}",
    tag = "Appointments",
    params(("id" = i64, Path, description = "Appointment id")),
    responses(
        (status = 200, description = "The appointment", body = Appointment),
        (status = 404, description = "No such appointment in this organization", body = ErrorBody),
    )
)]
async fn get_appointment(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Records<Appointment>, ApiError> {
    let mut conn = state.db.acquire().await?;
    Ok(Records(appointments::get(&mut conn, auth.organization_id, id).await?))
}
