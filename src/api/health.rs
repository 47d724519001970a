//! `GET /health`: any valid key; tells the caller who it is.

use axum::Json;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::api::route::routes;
use crate::auth::permissions::AnyKey;
use crate::auth::Permission;
use crate::http::extract::Auth;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
    #[schema(example = "kv_abc12345")]
    pub key_prefix: String,
    pub organization_id: Uuid,
    pub permissions: Vec<Permission>,
}

/// Check an API key
///
/// Any valid key; no permission needed. Returns the key's prefix, organization and permissions.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "Health",
    responses(
        (status = 200, description = "The key is valid", body = HealthResponse),
    )
)]
async fn health(auth: Auth<AnyKey>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok",
        key_prefix: auth.key_prefix.clone(),
        organization_id: auth.organization_id,
        permissions: auth.permissions.clone(),
    })
}
