//! Locations: the places where providers see patients. Written only by clinic set-up
//! (`klinivo clinic import`, `klinivo demo`); read by every front door.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Address, Error, Page, PageRequest, Result};
use crate::db::horizon;

/// A place where providers see patients.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "Midtown Manhattan Clinic")]
    pub name: String,
    pub address: Address,
    /// IANA time zone; working hours and availability at this location are in this zone.
    #[schema(example = "America/New_York")]
    pub timezone: String,
    /// E.164.
    #[schema(example = "+12125550100")]
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

struct LocationRow {
    id: i64,
    name: String,
    timezone: String,
    phone: Option<String>,
    address_line1: Option<String>,
    address_line2: Option<String>,
    address_city: Option<String>,
    address_region: Option<String>,
    address_postal_code: Option<String>,
    address_country: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<LocationRow> for Location {
    fn from(r: LocationRow) -> Self {
        Location {
            id: r.id,
            name: r.name,
            address: Address {
                line1: r.address_line1,
                line2: r.address_line2,
                city: r.address_city,
                region: r.address_region,
                postal_code: r.address_postal_code,
                country: r.address_country,
            },
            timezone: r.timezone,
            phone: r.phone,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The organization's locations, by ascending id, or by `(updatedAt, id)` up to the sync
/// horizon when the page asks for changes since an instant.
pub async fn list(db: &PgPool, org: Uuid, page: &PageRequest) -> Result<Page<Location>> {
    let rows = if let (Some(since), Some(after_updated)) = (page.updated_since, page.after_updated) {
        let mut conn = db.acquire().await?;
        let horizon = horizon::current(&mut conn).await?;
        sqlx::query_as!(
            LocationRow,
            "SELECT id, name, timezone, phone, address_line1, address_line2, address_city, address_region,
                    address_postal_code, address_country, created_at, updated_at
             FROM locations
             WHERE organization_id = $1 AND updated_at >= $2 AND (updated_at, id) > ($3, $4) AND updated_at < $6
             ORDER BY updated_at, id
             LIMIT $5",
            org,
            since,
            after_updated,
            page.after_id,
            page.fetch(),
            horizon
        )
        .fetch_all(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            LocationRow,
            "SELECT id, name, timezone, phone, address_line1, address_line2, address_city, address_region,
                    address_postal_code, address_country, created_at, updated_at
             FROM locations
             WHERE organization_id = $1 AND id > $2
             ORDER BY id
             LIMIT $3",
            org,
            page.after_id,
            page.fetch()
        )
        .fetch_all(db)
        .await?
    };
    let locations: Vec<Location> = rows.into_iter().map(Location::from).collect();
    Ok(page.finish(locations, |l| (l.id, l.updated_at)))
}

pub async fn get(db: impl sqlx::PgExecutor<'_>, org: Uuid, id: i64) -> Result<Location> {
    sqlx::query_as!(
        LocationRow,
        "SELECT id, name, timezone, phone, address_line1, address_line2, address_city, address_region,
                address_postal_code, address_country, created_at, updated_at
         FROM locations WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(db)
    .await?
    .map(Location::from)
    .ok_or(Error::NotFound("Location"))
}
