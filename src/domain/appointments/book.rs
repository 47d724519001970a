//! Booking: a checked slot for a patient with a provider at a location.

use sqlx::PgConnection;
use uuid::Uuid;

use super::held;
use super::model::{self, Appointment};
use super::validate::NewAppointment;
use crate::domain::{Error, FieldError, Result};
use crate::events::{self, EventType};

/// Books `input` as a scheduled appointment and records `appointment.scheduled`, inside the
/// caller's transaction. Invalid fields and references of another organization (or none) are
/// [`Error::Invalid`]; an overlap with another active appointment of the provider fails on the
/// exclusion constraint `appointments_no_overlap`, so of concurrent bookings of one slot
/// exactly one wins. With `holdId`, books the hold's slot ([`held::book`]).
pub async fn book(conn: &mut PgConnection, org: Uuid, input: &NewAppointment) -> Result<Appointment> {
    if let Some(hold_id) = input.hold_id {
        return held::book(conn, org, input, hold_id).await;
    }
    let booking = input.validate()?;
    check_references(conn, org, Some(booking.patient_id), booking.provider_id, booking.location_id).await?;
    let appointment = model::insert(conn, org, &booking).await?;
    events::record(conn, org, EventType::AppointmentScheduled, &appointment).await?;
    tracing::info!(appointment_id = appointment.id, provider_id = booking.provider_id, "appointment booked");
    Ok(appointment)
}

/// The patient (if one is named), provider and location exist in the organization and fit
/// together: [`Error::Invalid`] naming each field that does not.
pub(crate) async fn check_references(
    conn: &mut PgConnection,
    org: Uuid,
    patient_id: Option<i64>,
    provider_id: i64,
    location_id: i64,
) -> Result<()> {
    let r = model::references(conn, org, patient_id, provider_id, location_id).await?;
    let mut errors = Vec::new();
    if patient_id.is_some() && !r.patient_exists {
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
        Err(Error::Invalid(errors))
    }
}
