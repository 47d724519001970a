//! The appointment as the API shows it, and how to load it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    pub id: i64,
    pub patient_id: i64,
    pub provider_id: i64,
    pub location_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// scheduled | confirmed | cancelled | completed | no_show
    #[schema(example = "scheduled")]
    pub status: String,
    pub reason: Option<String>,
    pub cancellation_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Loads one appointment of the organization (another organization's id is `None`).
pub async fn fetch(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Option<Appointment>, sqlx::Error> {
    sqlx::query_as!(
        Appointment,
        "SELECT id, patient_id, provider_id, location_id, starts_at, ends_at, status, reason, cancellation_reason,
                created_at, updated_at
         FROM appointments WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(conn)
    .await
}
