//! The organization itself, as the FHIR facade shows it (Organization).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Error, Result};

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub created_at: DateTime<Utc>,
}

/// The caller's own organization.
pub async fn get(db: &PgPool, org: Uuid) -> Result<Organization> {
    sqlx::query_as!(Organization, "SELECT id, name, timezone, created_at FROM organizations WHERE id = $1", org)
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("Organization"))
}
