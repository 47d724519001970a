//! `POST /appointments`: book a slot.

use crate::auth::permissions::WriteAppointments;
use crate::domain::appointments::{self, Appointment, NewAppointment};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Auth, Json};
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;

/// Book an appointment
///
/// Takes `startsAt` and either `endsAt` or `durationMinutes` (the appointment lasts 5 minutes
/// to 8 hours). The patient, provider and location must exist in your organization (an id of
/// another organization is treated as nonexistent), the provider must be active and work at
/// the location; otherwise `400 validation_error` naming the field. If the provider already
/// has an active (scheduled or confirmed) appointment overlapping the slot: `409
/// slot_unavailable` — decided by the database, so of concurrent bookings of one slot exactly
/// one wins. Returns `201` with `Location` and records `appointment.scheduled`.
#[utoipa::path(
    post,
    path = "/appointments",
    tag = "Appointments",
    request_body = NewAppointment,
    responses(
        (status = 201, description = "Booked, status `scheduled`", body = Appointment,
         headers(("Location" = String, description = "/api/v1/appointments/{id}"))),
        (status = 400, description = "Malformed JSON, invalid fields or unknown references, with `details`", body = ErrorBody),
        (status = 409, description = "`slot_unavailable`, or `idempotency_key_in_use`", body = ErrorBody),
    )
)]
pub async fn book_appointment(
    auth: Auth<WriteAppointments>,
    mut tx: Tx,
    Json(body): Json<NewAppointment>,
) -> Result<Records<Created<Appointment>>, ApiError> {
    let appointment = appointments::book(&mut tx, auth.organization_id, &body).await?;
    let location = format!("/api/v1/appointments/{}", appointment.id);
    Ok(Records(Created { location, body: appointment }))
}
