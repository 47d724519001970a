//! Locations: `GET /locations` and `GET /locations/{id}` (READ_PROVIDERS). Written only by
//! `klinivo clinic import` and `klinivo demo`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::permissions::ReadProviders;
use crate::domain::locations::{self, Location};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::{Page, PageRequest};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_locations)).routes(routes!(get_location))
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
    Ok(Json(locations::list(&state.db, auth.organization_id, &page).await?.into()))
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
    Ok(Json(locations::get(&state.db, auth.organization_id, id).await?))
}
