//! Appointments: list, view, book, and the lifecycle transitions (`transitions` holds the
//! rules; other modules complete an appointment through `transitions::complete`).

pub mod book;
pub mod lifecycle;
pub mod list;
pub mod model;
pub mod transitions;
pub mod validate;

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::permissions::ReadAppointments;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Auth, Path};
use crate::http::response::Records;
use crate::state::AppState;
pub use model::Appointment;
pub use transitions::AppointmentStatus;

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
    path = "/appointments/{id}",
    tag = "Appointments",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_APPOINTMENTS"))),
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
    let appointment = model::fetch(&mut conn, auth.organization_id, id).await?;
    appointment.map(Records).ok_or(ApiError::NotFound("Appointment"))
}
