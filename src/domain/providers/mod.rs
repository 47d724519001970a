//! Providers: the clinicians, and their weekly working hours (`schedule`). Written only by
//! clinic set-up (`klinivo clinic import`, `klinivo demo`); read by every front door.

pub mod schedule;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::horizon;
use crate::domain::{Error, Page, PageRequest, Result};

pub use schedule::{schedule, Schedule, WorkingHours};

/// A clinician who sees patients at one or more locations.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    #[schema(example = 3)]
    pub id: i64,
    #[schema(example = "Amelia")]
    pub first_name: String,
    #[schema(example = "Chen")]
    pub last_name: String,
    #[schema(example = "MD")]
    pub title: Option<String>,
    #[schema(example = "Family Medicine")]
    pub specialty: Option<String>,
    #[schema(example = "amelia.chen@example.com")]
    pub email: Option<String>,
    /// The locations this provider works at, ascending.
    #[schema(example = json!([1, 2]))]
    pub location_ids: Vec<i64>,
    /// Inactive providers are listed but have no availability.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// Also moves when the provider's locations or working hours change.
    pub updated_at: DateTime<Utc>,
}

/// Which providers to list; every filter left out matches all.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only providers who work at this location.
    pub location_id: Option<i64>,
    /// Only active (`true`) or inactive (`false`) providers.
    pub active: Option<bool>,
}

/// The organization's providers matching `filter`, by ascending id, or by `(updatedAt, id)` up
/// to the sync horizon when the page asks for changes since an instant.
pub async fn list(db: &PgPool, org: Uuid, filter: &ListFilter, page: &PageRequest) -> Result<Page<Provider>> {
    let mut read = crate::db::planned_read(db).await?;
    let providers = if let (Some(since), Some(after_updated)) = (page.updated_since, page.after_updated) {
        let horizon = horizon::current(&mut read).await?;
        sqlx::query_as!(
            Provider,
            r#"SELECT p.id, p.first_name, p.last_name, p.title, p.specialty, p.email, p.active,
                      p.created_at, p.updated_at,
                      ARRAY(SELECT pl.location_id FROM provider_locations pl
                            WHERE pl.provider_id = p.id ORDER BY pl.location_id) AS "location_ids!"
               FROM providers p
               WHERE p.organization_id = $1
                 AND ($2::bigint IS NULL OR EXISTS (
                        SELECT 1 FROM provider_locations pl WHERE pl.provider_id = p.id AND pl.location_id = $2))
                 AND ($3::boolean IS NULL OR p.active = $3)
                 AND p.updated_at >= $4 AND (p.updated_at, p.id) > ($5, $6) AND p.updated_at < $8
               ORDER BY p.updated_at, p.id
               LIMIT $7"#,
            org,
            filter.location_id,
            filter.active,
            since,
            after_updated,
            page.after_id,
            page.fetch(),
            horizon
        )
        .fetch_all(&mut *read)
        .await?
    } else {
        sqlx::query_as!(
            Provider,
            r#"SELECT p.id, p.first_name, p.last_name, p.title, p.specialty, p.email, p.active,
                      p.created_at, p.updated_at,
                      ARRAY(SELECT pl.location_id FROM provider_locations pl
                            WHERE pl.provider_id = p.id ORDER BY pl.location_id) AS "location_ids!"
               FROM providers p
               WHERE p.organization_id = $1
                 AND ($2::bigint IS NULL OR EXISTS (
                        SELECT 1 FROM provider_locations pl WHERE pl.provider_id = p.id AND pl.location_id = $2))
                 AND ($3::boolean IS NULL OR p.active = $3)
                 AND p.id > $4
               ORDER BY p.id
               LIMIT $5"#,
            org,
            filter.location_id,
            filter.active,
            page.after_id,
            page.fetch()
        )
        .fetch_all(&mut *read)
        .await?
    };
    Ok(page.finish(providers, |p| (p.id, p.updated_at)))
}

pub async fn get(db: impl sqlx::PgExecutor<'_>, org: Uuid, id: i64) -> Result<Provider> {
    sqlx::query_as!(
        Provider,
        r#"SELECT p.id, p.first_name, p.last_name, p.title, p.specialty, p.email, p.active,
                  p.created_at, p.updated_at,
                  ARRAY(SELECT pl.location_id FROM provider_locations pl
                        WHERE pl.provider_id = p.id ORDER BY pl.location_id) AS "location_ids!"
           FROM providers p
           WHERE p.organization_id = $1 AND p.id = $2"#,
        org,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound("Provider"))
}
