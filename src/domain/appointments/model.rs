//! The appointment as every front door shows it, and how to load and store it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::transitions::AppointmentStatus;
use crate::audit::{Disclose, Disclosure, RecordType};
use crate::domain::{Error, Result};

/// An appointment, as every endpoint and every `appointment.*` event shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": 7, "patientId": 42, "providerId": 3, "locationId": 1,
    "startsAt": "2026-11-28T14:30:00Z", "endsAt": "2026-11-28T15:00:00Z", "status": "scheduled",
    "reason": "Annual check-up", "cancellationReason": null,
    "createdAt": "2026-11-20T10:00:00Z", "updatedAt": "2026-11-20T10:00:00Z"
}))]
pub struct Appointment {
    pub id: i64,
    pub patient_id: i64,
    pub provider_id: i64,
    pub location_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// scheduled | confirmed | cancelled | completed | no_show
    #[schema(value_type = AppointmentStatus, example = "scheduled")]
    pub status: String,
    #[schema(required = true)]
    pub reason: Option<String>,
    /// Set by `cancel` when a reason was given.
    #[schema(required = true)]
    pub cancellation_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Disclose for Appointment {
    fn disclose(&self, to: &mut Disclosure) {
        to.add(RecordType::Appointment, self.id);
    }
}

impl Appointment {
    /// The status as an enum (the column's CHECK allows only its values).
    pub fn status(&self) -> Option<AppointmentStatus> {
        AppointmentStatus::parse(&self.status)
    }
}

/// One appointment of the organization (another organization's id is not found).
pub async fn get(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Appointment> {
    sqlx::query_as!(
        Appointment,
        "SELECT id, patient_id, provider_id, location_id, starts_at, ends_at, status, reason, cancellation_reason,
                created_at, updated_at
         FROM appointments WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound("Appointment"))
}

/// A booking whose fields have been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Booking {
    pub patient_id: i64,
    pub provider_id: i64,
    pub location_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<String>,
}

/// Inserts a scheduled appointment. An overlap with another active appointment of the
/// provider fails on `appointments_no_overlap` (the front door's slot-unavailable answer).
pub(super) async fn insert(conn: &mut PgConnection, org: Uuid, b: &Booking) -> Result<Appointment, sqlx::Error> {
    sqlx::query_as!(
        Appointment,
        "INSERT INTO appointments (organization_id, patient_id, provider_id, location_id, starts_at, ends_at, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, patient_id, provider_id, location_id, starts_at, ends_at, status, reason, cancellation_reason,
                   created_at, updated_at",
        org,
        b.patient_id,
        b.provider_id,
        b.location_id,
        b.starts_at,
        b.ends_at,
        b.reason,
    )
    .fetch_one(conn)
    .await
}

/// What the booking's references are, in the caller's organization.
pub(super) struct References {
    pub patient_exists: bool,
    /// `None`: no such provider.
    pub provider_active: Option<bool>,
    pub location_exists: bool,
    pub provider_works_there: bool,
}

pub(super) async fn references(
    conn: &mut PgConnection,
    org: Uuid,
    patient_id: Option<i64>,
    provider_id: i64,
    location_id: i64,
) -> Result<References, sqlx::Error> {
    sqlx::query_as!(
        References,
        r#"SELECT
             EXISTS (SELECT 1 FROM patients WHERE organization_id = $1 AND id = $2) AS "patient_exists!",
             (SELECT active FROM providers WHERE organization_id = $1 AND id = $3) AS provider_active,
             EXISTS (SELECT 1 FROM locations WHERE organization_id = $1 AND id = $4) AS "location_exists!",
             EXISTS (SELECT 1 FROM provider_locations
                     WHERE organization_id = $1 AND provider_id = $3 AND location_id = $4) AS "provider_works_there!""#,
        org,
        patient_id,
        provider_id,
        location_id,
    )
    .fetch_one(conn)
    .await
}
