//! Locations: `GET /locations` and `GET /locations/{id}` (READ_PROVIDERS). Written only by
//! `klinivo clinic import` and `klinivo demo`.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;

use crate::auth::permissions::ReadProviders;
use crate::domain::locations::{self, Location};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::{list_query, paged};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_locations)).routes(routes!(get_location))
}

paged!(LocationList = Location, "locations");

list_query! {
    pub struct ListLocationsQuery {}
}

/// List locations
///
/// The organization's locations, by ascending id (or by `(updatedAt, id)` with `updatedSince`).
#[utoipa::path(
    get,
    path = "/api/v1/locations",
    tag = "Locations",
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
    let page = query.page()?;
    Ok(Json(locations::list(&state.db, auth.organization_id, &page).await?))
}

/// Get a location
#[utoipa::path(
    get,
    path = "/api/v1/locations/{id}",
    tag = "Locations",
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
    Ok(Json(locations::get(&state.reads, auth.organization_id, id).await?))
}
