//! `GET /providers` and `GET /providers/{id}`.

use axum::extract::State;
use axum::Json;

use crate::auth::permissions::ReadProviders;
use crate::domain::providers::{self, ListFilter, Provider};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::{list_query, paged};
use crate::state::AppState;

paged!(ProviderList = Provider, "providers");

list_query! {
    pub struct ListProvidersQuery {
        /// Only providers who work at this location.
        pub location_id: Option<i64>,
        /// Only active (`true`) or inactive (`false`) providers.
        pub active: Option<bool>,
    }
}

/// List providers
///
/// The organization's providers, by ascending id (or by `(updatedAt, id)` with `updatedSince`).
/// A provider's `updatedAt` also moves when its locations or working hours change.
#[utoipa::path(
    get,
    path = "/api/v1/providers",
    tag = "Providers",
    params(ListProvidersQuery),
    responses(
        (status = 200, description = "One page of providers", body = ProviderList),
        (status = 400, description = "Invalid parameter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list_providers(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    Query(query): Query<ListProvidersQuery>,
) -> ApiResult<Json<ProviderList>> {
    let page = query.page()?;
    let filter = ListFilter { location_id: query.location_id, active: query.active };
    Ok(Json(providers::list(&state.db, auth.organization_id, &filter, &page).await?))
}

/// Get a provider
#[utoipa::path(
    get,
    path = "/api/v1/providers/{id}",
    tag = "Providers",
    params(("id" = i64, Path, description = "Provider id")),
    responses(
        (status = 200, description = "The provider", body = Provider),
        (status = 404, description = "No such provider in this organization", body = ErrorBody),
    )
)]
pub async fn get_provider(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Provider>> {
    Ok(Json(providers::get(&state.reads, auth.organization_id, id).await?))
}
