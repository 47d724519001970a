//! `POST /appointments`: book a slot.

use super::model::{self, Appointment, Booking};
use super::validate::NewAppointment;
use crate::auth::permissions::WriteAppointments;
use crate::events::{self, EventType};
use crate::http::error::{ApiError, ErrorBody, FieldError};
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
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("WRITE_APPOINTMENTS"))),
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
    let org = auth.organization_id;
    let booking = body.validate()?;
    check_references(&mut tx, org, &booking).await?;
    let appointment = model::insert(&mut tx, org, &booking).await?;
    events::record(&mut tx, org, EventType::AppointmentScheduled, &appointment).await?;
    tracing::info!(appointment_id = appointment.id, provider_id = booking.provider_id, "appointment booked");
    Ok(Records(Created { location: appointment.location(), body: appointment }))
}

/// The patient, provider and location exist in the organization and fit together.
async fn check_references(conn: &mut sqlx::PgConnection, org: uuid::Uuid, b: &Booking) -> Result<(), ApiError> {
    let r = model::references(conn, org, b.patient_id, b.provider_id, b.location_id).await?;
    let mut errors = Vec::new();
    if !r.patient_exists {
        errors.push(FieldError::new("patientId", "no patient with this id in your organization"));
    }
    match r.provider_active {
        None => errors.push(FieldError::new("providerId", "no provider with this id in your organization")),
        Some(false) => errors.push(FieldError::new("providerId", "the provider is not active")),
        Some(true) => {}
    }
    if !r.location_exists {
        errors.push(FieldError::new("locationId", "no location with this id in your organization"));
    } else if r.provider_active.is_some() && !r.provider_works_there {
        errors.push(FieldError::new("locationId", "the provider does not work at this location"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::from_details(errors))
    }
}
