//! `GET /providers/{id}/availability`: free slots inside the provider's working hours, computed
//! in each location's time zone, minus the provider's active appointments at any location
//! (`domain::availability`).

use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::auth::permissions::ReadAppointments;
use crate::domain::availability::{self, Availability, Range};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_availability))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// First local date (inclusive), `YYYY-MM-DD`, read in each location's time zone.
    #[param(value_type = String, format = Date, example = "2026-03-02")]
    #[serde(deserialize_with = "crate::http::time::date")]
    pub from: NaiveDate,
    /// Last local date (inclusive), at most 31 days after `from`.
    #[param(value_type = String, format = Date, example = "2026-03-08")]
    #[serde(deserialize_with = "crate::http::time::date")]
    pub to: NaiveDate,
    /// Slot length in minutes, 5–480 (default 30). Slots follow each other every
    /// `durationMinutes` from the start of each working-hours block.
    #[param(minimum = 5, maximum = 480, default = 30)]
    pub duration_minutes: Option<i64>,
    /// Only slots at this location (one the provider works at).
    pub location_id: Option<i64>,
}

/// Get a provider's free slots
///
/// Free slots of `durationMinutes` inside the provider's weekly working hours on the local
/// dates `from`..=`to` of each location (both inclusive, each read in that location's IANA time
/// zone, so 09:00–17:00 is 09:00–17:00 local on both sides of a daylight-saving change).
/// Slots start at the beginning of each working-hours block and follow each other every
/// `durationMinutes`; a slot is offered when it fits inside the block, starts now or later, and
/// overlaps none of the provider's scheduled or confirmed appointments at any location, nor any
/// live slot hold (`POST /appointment-holds`), whoever holds it; an expired hold is free again.
/// A local time skipped by a spring-forward change counts from the instant the clocks jump; a
/// local time repeated by a fall-back change means its first occurrence. An inactive provider
/// has no slots. `to` before `from`, `to` more than 31 days after `from`, a duration outside
/// 5–480, or a `locationId` the provider does not work at are `400 validation_error`.
#[utoipa::path(
    get,
    path = "/api/v1/providers/{id}/availability",
    tag = "Providers",
    params(("id" = i64, Path, description = "Provider id"), AvailabilityQuery),
    responses(
        (status = 200, description = "Free slots, in UTC", body = Availability),
        (status = 400, description = "Invalid range, duration or location (`validation_error`)", body = ErrorBody),
        (status = 404, description = "No such provider in this organization", body = ErrorBody),
    )
)]
async fn get_availability(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<AvailabilityQuery>,
) -> ApiResult<Json<Availability>> {
    let range = Range {
        from: query.from,
        to: query.to,
        duration_minutes: query.duration_minutes,
        location_id: query.location_id,
    };
    Ok(Json(availability::get(&state.db, auth.organization_id, id, &range).await?))
}
