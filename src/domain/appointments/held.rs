//! Booking a held slot: `POST /appointments` with `holdId`. The hold names the slot; the
//! client sends the patient, and may repeat the slot's fields, which must then equal the hold's.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::book::check_references;
use super::model::{self, Appointment, Booking};
use super::validate::{parse_timestamp, reason, NewAppointment};
use crate::domain::holds::{self, AppointmentHold};
use crate::domain::{Error, FieldError, Result};
use crate::events::{self, EventType};

/// Books hold `hold_id` for `input`'s patient and marks it `booked`, in one transaction (the
/// caller's), recording `appointment.scheduled`. A hold of another organization (or none) is
/// [`Error::NotFound`]; one booked, released or expired is [`Error::HoldExpired`]; fields that
/// differ from the hold's are [`Error::Invalid`].
pub(super) async fn book(
    conn: &mut PgConnection,
    org: Uuid,
    input: &NewAppointment,
    hold_id: i64,
) -> Result<Appointment> {
    let sent = Sent::read(input)?;
    let hold = holds::take_for_booking(conn, org, hold_id).await?;
    let mismatches = sent.mismatches(&hold);
    if !mismatches.is_empty() {
        return Err(Error::Invalid(mismatches));
    }
    check_references(conn, org, Some(sent.patient_id), hold.provider_id, hold.location_id).await?;
    let booking = Booking {
        patient_id: sent.patient_id,
        provider_id: hold.provider_id,
        location_id: hold.location_id,
        starts_at: hold.starts_at,
        ends_at: hold.ends_at,
        reason: sent.reason,
    };
    let appointment = model::insert(conn, org, &booking).await?;
    holds::mark_booked(conn, org, hold.id, appointment.id).await?;
    events::record(conn, org, EventType::AppointmentScheduled, &appointment).await?;
    tracing::info!(appointment_id = appointment.id, hold_id = hold.id, "held slot booked");
    Ok(appointment)
}

/// What a booking by hold sent, checked on its own.
struct Sent {
    patient_id: i64,
    reason: Option<String>,
    provider_id: Option<i64>,
    location_id: Option<i64>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    duration_minutes: Option<i64>,
}

impl Sent {
    fn read(input: &NewAppointment) -> Result<Sent> {
        let mut errors = Vec::new();
        if input.patient_id.is_none() {
            errors.push(FieldError::new("patientId", "is required"));
        }
        let reason = reason(&mut errors, "reason", input.reason.as_deref());
        let mut time = |field: &str, v: Option<&str>| {
            let parsed = v.map(parse_timestamp)?;
            if parsed.is_none() {
                errors.push(FieldError::new(field, "must be an RFC 3339 timestamp such as 2026-11-28T09:30:00Z"));
            }
            parsed
        };
        let starts_at = time("startsAt", input.starts_at.as_deref());
        let ends_at = time("endsAt", input.ends_at.as_deref());
        if input.ends_at.is_some() && input.duration_minutes.is_some() {
            errors.push(FieldError::new("durationMinutes", "send either endsAt or durationMinutes, not both"));
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        Ok(Sent {
            patient_id: input.patient_id.unwrap_or_default(),
            reason,
            provider_id: input.provider_id,
            location_id: input.location_id,
            starts_at,
            ends_at,
            duration_minutes: input.duration_minutes,
        })
    }

    /// Each sent slot field that differs from the hold's.
    fn mismatches(&self, hold: &AppointmentHold) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut differs = |field: &str, same: bool, theirs: String| {
            if !same {
                errors.push(FieldError::new(field, format!("must equal the hold's ({theirs}) or be left out")));
            }
        };
        if let Some(p) = self.provider_id {
            differs("providerId", p == hold.provider_id, hold.provider_id.to_string());
        }
        if let Some(l) = self.location_id {
            differs("locationId", l == hold.location_id, hold.location_id.to_string());
        }
        if let Some(s) = self.starts_at {
            differs("startsAt", s == hold.starts_at, hold.starts_at.to_rfc3339());
        }
        if let Some(e) = self.ends_at {
            differs("endsAt", e == hold.ends_at, hold.ends_at.to_rfc3339());
        }
        if let Some(m) = self.duration_minutes {
            let held = hold.ends_at - hold.starts_at;
            differs(
                "durationMinutes",
                Duration::try_minutes(m) == Some(held),
                format!("{} minutes", held.num_minutes()),
            );
        }
        errors
    }
}
