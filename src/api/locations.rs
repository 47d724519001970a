//! Locations: `GET /locations` and `GET /locations/{id}` (READ_PROVIDERS). Written only by
//! `klinivo clinic import` and `klinivo demo`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::permissions::ReadProviders;
use crate::db::horizon;
use crate::domain::Address;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_locations)).routes(routes!(get_location))
}

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

/// One page of locations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationList {
    pub data: Vec<Location>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<Location>> for LocationList {
    fn from(page: Page<Location>) -> Self {
        LocationList { data: page.data, next_cursor: page.next_cursor }
    }
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListLocationsQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only locations updated at or after this instant; orders the list by `(updatedAt, id)`.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    pub updated_since: Option<DateTime<Utc>>,
}

/// List locations
///
/// The organization's locations, by ascending id (or by `(updatedAt, id)` with `updatedSince`).
#[utoipa::path(
    get,
    path = "/locations",
    tag = "Locations",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_PROVIDERS"))),
    params(ListLocationsQuery),
    responses(
        (status = 200, description = "One page of locations", body = LocationList),
        (status = 400, description = "Invalid parameter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
async fn list_locations(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    Query(query): Query<ListLocationsQuery>,
) -> ApiResult<Json<LocationList>> {
    let page = PageRequest::new(query.limit, query.cursor.as_deref(), query.updated_since)?;
    let org = auth.organization_id;
    let rows = if let (Some(since), Some(after_updated)) = (page.updated_since, page.after_updated) {
        let mut conn = state.db.acquire().await?;
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
        .fetch_all(&state.db)
        .await?
    };
    let locations: Vec<Location> = rows.into_iter().map(Location::from).collect();
    Ok(Json(page.finish(locations, |l| (l.id, l.updated_at)).into()))
}

/// Get a location
#[utoipa::path(
    get,
    path = "/locations/{id}",
    tag = "Locations",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_PROVIDERS"))),
    params(("id" = i64, Path, description = "Location id")),
    responses(
        (status = 200, description = "The location", body = Location),
        (status = 404, description = "No such location in this organization", body = ErrorBody),
    )
)]
async fn get_location(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Location>> {
    let row = sqlx::query_as!(
        LocationRow,
        "SELECT id, name, timezone, phone, address_line1, address_line2, address_city, address_region,
                address_postal_code, address_country, created_at, updated_at
         FROM locations WHERE organization_id = $1 AND id = $2",
        auth.organization_id,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(ApiError::NotFound("Location"))?;
    Ok(Json(row.into()))
}
