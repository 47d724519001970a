//! `GET /providers/{id}/schedule`: the provider's weekly working hours.

use axum::extract::State;
use axum::Json;

use crate::auth::permissions::ReadAppointments;
use crate::domain::providers::{self, Schedule};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path};
use crate::state::AppState;

/// Get a provider's weekly schedule
///
/// The provider's weekly working hours at each location, as local wall-clock times in that
/// location's time zone (so 09:00–17:00 stays 09:00–17:00 local across daylight-saving changes).
#[utoipa::path(
    get,
    path = "/api/v1/providers/{id}/schedule",
    tag = "Providers",
    params(("id" = i64, Path, description = "Provider id")),
    responses(
        (status = 200, description = "The provider's weekly working hours", body = Schedule),
        (status = 404, description = "No such provider in this organization", body = ErrorBody),
    )
)]
pub async fn get_schedule(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Schedule>> {
    Ok(Json(providers::schedule(&state.db, auth.organization_id, id).await?))
}
