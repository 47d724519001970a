//! Slot holds: hold a slot while a patient fills in the booking form, view it, release it.
//! Booking it is `POST /appointments` with `holdId`. The records and their rules are
//! `domain::holds`.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::auth::permissions::{ReadAppointments, WriteAppointments};
use crate::domain::holds::{self, AppointmentHold, NewAppointmentHold};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Auth, Json, Path};
use crate::http::response::{Created, NoContent, Records};
use crate::http::tx::Tx;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_appointment_hold))
        .routes(routes!(get_appointment_hold, release_appointment_hold))
}

/// Hold a slot
///
/// Keeps a provider's slot for `ttlSeconds` (60–900, default 300) while a patient fills in a
/// booking form; then book it with `POST /appointments` and `holdId`, or release it with
/// `DELETE`. The slot's rules are a booking's: `startsAt` with `endsAt` or `durationMinutes`
/// (5 minutes to 8 hours), an active provider who works at the location (otherwise `400
/// validation_error` naming the field). A slot that overlaps an active appointment or another
/// live hold of the provider is `409 slot_unavailable` — decided by the database, so of
/// concurrent holds of one slot exactly one wins. While held, the slot is left out of
/// availability and no one else can hold or book it. At `expiresAt` the hold lapses by itself
/// (status `expired`): it blocks nothing from that instant, with no job to wait for. No
/// webhook events are sent for holds.
#[utoipa::path(
    post,
    path = "/api/v1/appointment-holds",
    tag = "Appointments",
    request_body = NewAppointmentHold,
    responses(
        (status = 201, description = "Held, status `held` until `expiresAt`", body = AppointmentHold,
         headers(("Location" = String, description = "/api/v1/appointment-holds/{id}"))),
        (status = 400, description = "Malformed JSON, invalid fields or unknown references, with `details`", body = ErrorBody),
        (status = 409, description = "`slot_unavailable`, or `idempotency_key_in_use`", body = ErrorBody),
    )
)]
pub async fn create_appointment_hold(
    auth: Auth<WriteAppointments>,
    mut tx: Tx,
    Json(body): Json<NewAppointmentHold>,
) -> Result<Records<Created<AppointmentHold>>, ApiError> {
    let hold = holds::create(&mut tx, auth.organization_id, &body).await?;
    let location = format!("/api/v1/appointment-holds/{}", hold.id);
    Ok(Records(Created { location, body: hold }))
}

/// Get a slot hold
///
/// `status` is `held` until the hold is booked (`booked`, with `appointmentId`), released
/// (`released`) or past `expiresAt` (`expired`, read as of this request).
#[utoipa::path(
    get,
    path = "/api/v1/appointment-holds/{id}",
    tag = "Appointments",
    params(("id" = i64, Path, description = "Appointment hold id")),
    responses(
        (status = 200, description = "The hold", body = AppointmentHold),
        (status = 404, description = "No such hold in this organization", body = ErrorBody),
    )
)]
pub async fn get_appointment_hold(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Records<AppointmentHold>, ApiError> {
    let mut conn = state.db.acquire().await?;
    Ok(Records(holds::get(&mut conn, auth.organization_id, id).await?))
}

/// Release a slot hold
///
/// A `held` hold becomes `released` and its slot is free at once. A hold already released, or
/// expired, has nothing to release: also `204`, and nothing changes (an expired hold stays
/// `expired`). A booked hold is `409 invalid_state_transition`: cancel its appointment instead.
#[utoipa::path(
    delete,
    path = "/api/v1/appointment-holds/{id}",
    tag = "Appointments",
    params(("id" = i64, Path, description = "Appointment hold id")),
    responses(
        (status = 204, description = "Released, or nothing left to release"),
        (status = 404, description = "No such hold in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`: the hold is booked", body = ErrorBody),
    )
)]
pub async fn release_appointment_hold(
    auth: Auth<WriteAppointments>,
    mut tx: Tx,
    Path(id): Path<i64>,
) -> Result<NoContent, ApiError> {
    holds::release(&mut tx, auth.organization_id, id).await?;
    Ok(NoContent)
}
