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
///
/// **Booking a held slot:** send `holdId` (from `POST /appointment-holds`) and `patientId`
/// (optionally `reason`). `providerId`, `locationId`, `startsAt` and `endsAt`/`durationMinutes`
/// may be left out; any that is sent must equal the hold's (`400 validation_error` otherwise).
/// The appointment gets the hold's slot, and the hold becomes `booked` (with `appointmentId`)
/// in the same transaction; of concurrent bookings of one hold exactly one wins. A hold that is
/// expired, released or already booked: `409 hold_expired` (hold the slot again). A hold of
/// another organization, or none: `404 not_found`.
#[utoipa::path(
    post,
    path = "/api/v1/appointments",
    tag = "Appointments",
    request_body = NewAppointment,
    responses(
        (status = 201, description = "Booked, status `scheduled`", body = Appointment,
         headers(("Location" = String, description = "/api/v1/appointments/{id}"))),
        (status = 400, description = "Malformed JSON, invalid fields or unknown references, with `details`", body = ErrorBody),
        (status = 404, description = "`holdId` names no hold in this organization", body = ErrorBody),
        (status = 409, description = "`slot_unavailable`, `hold_expired` (booking by hold), or `idempotency_key_in_use`", body = ErrorBody),
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
