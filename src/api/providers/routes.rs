//! `GET /providers` and `GET /providers/{id}`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{Provider, ProviderList};
use crate::auth::permissions::ReadProviders;
use crate::db::horizon;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::PageRequest;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProvidersQuery {
    /// Only providers who work at this location.
    pub location_id: Option<i64>,
    /// Only active (`true`) or inactive (`false`) providers.
    pub active: Option<bool>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only providers updated at or after this instant; orders the list by `(updatedAt, id)`.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    pub updated_since: Option<DateTime<Utc>>,
}

/// List providers
///
/// The organization's providers, by ascending id (or by `(updatedAt, id)` with `updatedSince`).
/// A provider's `updatedAt` also moves when its locations or working hours change.
#[utoipa::path(
    get,
    path = "/providers",
    tag = "Providers",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_PROVIDERS"))),
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
    let mut read = crate::db::planned_read(&state.db).await?;
    let page = PageRequest::new(query.limit, query.cursor.as_deref(), query.updated_since)?;
    let org = auth.organization_id;
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
            query.location_id,
            query.active,
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
            query.location_id,
            query.active,
            page.after_id,
            page.fetch()
        )
        .fetch_all(&mut *read)
        .await?
    };
    Ok(Json(page.finish(providers, |p| (p.id, p.updated_at)).into()))
}

/// Get a provider
#[utoipa::path(
    get,
    path = "/providers/{id}",
    tag = "Providers",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_PROVIDERS"))),
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
    let provider = sqlx::query_as!(
        Provider,
        r#"SELECT p.id, p.first_name, p.last_name, p.title, p.specialty, p.email, p.active,
                  p.created_at, p.updated_at,
                  ARRAY(SELECT pl.location_id FROM provider_locations pl
                        WHERE pl.provider_id = p.id ORDER BY pl.location_id) AS "location_ids!"
           FROM providers p
           WHERE p.organization_id = $1 AND p.id = $2"#,
        auth.organization_id,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(ApiError::NotFound("Provider"))?;
    Ok(Json(provider))
}
