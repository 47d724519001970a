//! The hold as every front door shows it, and how to load it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::{Disclose, Disclosure, RecordType};
use crate::domain::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Claims the slot until `expiresAt`.
    Held,
    /// Booked as `appointmentId`.
    Booked,
    /// Given back by `DELETE`.
    Released,
    /// Was held, and `expiresAt` has passed: blocks nothing, cannot be booked.
    Expired,
}

/// A slot held for a provider at a location until `expiresAt`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": 12, "providerId": 3, "locationId": 1,
    "startsAt": "2026-11-28T14:30:00Z", "endsAt": "2026-11-28T15:00:00Z",
    "expiresAt": "2026-11-20T10:05:00Z", "status": "held", "appointmentId": null,
    "createdAt": "2026-11-20T10:00:00Z"
}))]
pub struct AppointmentHold {
    pub id: i64,
    pub provider_id: i64,
    pub location_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// When a `held` hold lapses (creation plus `ttlSeconds`).
    pub expires_at: DateTime<Utc>,
    /// held | booked | released | expired
    #[schema(value_type = HoldStatus, example = "held")]
    pub status: String,
    /// The appointment it was booked as; `null` unless `booked`.
    #[schema(required = true)]
    pub appointment_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl Disclose for AppointmentHold {
    fn disclose(&self, to: &mut Disclosure) {
        to.add(RecordType::AppointmentHold, self.id);
    }
}

impl AppointmentHold {
    /// Whether the hold still claims its slot.
    pub fn is_live(&self) -> bool {
        self.status == "held"
    }
}

/// One hold of the organization (another organization's id is not found), its status as of
/// now (`expired` for a held hold past its expiry).
pub async fn get(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<AppointmentHold> {
    sqlx::query_as!(
        AppointmentHold,
        r#"SELECT id, provider_id, location_id, starts_at, ends_at, expires_at,
                  CASE WHEN status = 'held' AND expires_at <= now() THEN 'expired' ELSE status END AS "status!",
                  appointment_id, created_at
           FROM appointment_holds WHERE organization_id = $1 AND id = $2"#,
        org,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound("Appointment hold"))
}
