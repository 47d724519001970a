//! `GET /providers/{id}/availability`: free slots inside the provider's working hours, computed
//! in each location's time zone, minus the provider's active appointments at any location.
//! Two queries (working hours; appointments in range), the rest in Rust (`slots`).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::providers::schedule::load_provider_hours;
use crate::auth::permissions::ReadAppointments;
use crate::domain::slots::{self, Block};
use crate::http::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::http::extract::{Auth, Path, Query};
use crate::state::AppState;

/// The widest range: `to` at most this many days after `from`.
pub const MAX_RANGE_DAYS: i64 = 31;
pub const DEFAULT_DURATION_MINUTES: i64 = 30;
pub const MIN_DURATION_MINUTES: i64 = 5;
pub const MAX_DURATION_MINUTES: i64 = 480;
/// Appointments last at most 480 minutes, so one that starts more than a day before the window
/// cannot reach into it; this bound keeps the range scan on `appointments_provider_starts` short.
const LOOKBACK: Duration = Duration::days(1);

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

/// A bookable slot.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableSlot {
    #[schema(example = "2026-03-09T13:00:00Z")]
    pub starts_at: DateTime<Utc>,
    #[schema(example = "2026-03-09T13:30:00Z")]
    pub ends_at: DateTime<Utc>,
    #[schema(example = 1)]
    pub location_id: i64,
}

/// The provider's free slots in the requested range.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    #[schema(example = 3)]
    pub provider_id: i64,
    #[schema(example = 30)]
    pub duration_minutes: i64,
    /// Ordered by `startsAt`, then `locationId`. Not paginated (at most 32 days).
    pub data: Vec<AvailableSlot>,
}

fn validate(q: &AvailabilityQuery) -> Result<Duration, ApiError> {
    let mut details = Vec::new();
    let minutes = q.duration_minutes.unwrap_or(DEFAULT_DURATION_MINUTES);
    if !(MIN_DURATION_MINUTES..=MAX_DURATION_MINUTES).contains(&minutes) {
        details.push(FieldError::new(
            "durationMinutes",
            format!("must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES}"),
        ));
    }
    if q.to < q.from {
        details.push(FieldError::new("to", "must not be before from"));
    } else if (q.to - q.from).num_days() > MAX_RANGE_DAYS {
        details.push(FieldError::new("to", format!("must be at most {MAX_RANGE_DAYS} days after from")));
    }
    if details.is_empty() {
        Ok(Duration::minutes(minutes))
    } else {
        Err(ApiError::from_details(details))
    }
}

/// Get a provider's free slots
///
/// Free slots of `durationMinutes` inside the provider's weekly working hours on the local
/// dates `from`..=`to` of each location (both inclusive, each read in that location's IANA time
/// zone, so 09:00–17:00 is 09:00–17:00 local on both sides of a daylight-saving change).
/// Slots start at the beginning of each working-hours block and follow each other every
/// `durationMinutes`; a slot is offered when it fits inside the block, starts now or later, and
/// overlaps none of the provider's scheduled or confirmed appointments at any location.
/// A local time skipped by a spring-forward change counts from the instant the clocks jump; a
/// local time repeated by a fall-back change means its first occurrence. An inactive provider
/// has no slots. `to` before `from`, `to` more than 31 days after `from`, a duration outside
/// 5–480, or a `locationId` the provider does not work at are `400 validation_error`.
#[utoipa::path(
    get,
    path = "/providers/{id}/availability",
    tag = "Providers",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_APPOINTMENTS"))),
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
    let duration = validate(&query)?;
    let org = auth.organization_id;
    // One connection for both queries: each trip to the pool costs a round trip of its own.
    let mut conn = state.db.acquire().await?;
    let provider = load_provider_hours(&mut *conn, org, id).await?.ok_or(ApiError::NotFound("Provider"))?;
    if let Some(location_id) = query.location_id {
        if !provider.locations.iter().any(|(l, _)| *l == location_id) {
            return Err(ApiError::validation(
                "locationId",
                format!("provider {id} does not work at location {location_id}"),
            ));
        }
    }
    let mut blocks = Vec::with_capacity(provider.hours.len());
    for h in provider.hours.iter().filter(|h| query.location_id.is_none_or(|l| l == h.location_id)) {
        let tz: Tz = h.timezone.parse().map_err(|_| {
            ApiError::internal(format!("location {} has an invalid time zone in the database", h.location_id))
        })?;
        blocks.push(Block {
            location_id: h.location_id,
            tz,
            weekday: h.weekday as u32,
            start: h.start_time,
            end: h.end_time,
        });
    }
    if !provider.active {
        blocks.clear();
    }
    let minutes = duration.num_minutes();
    let candidates = slots::candidate_slots(&blocks, query.from, query.to, duration, Utc::now());
    let (Some(first), Some(window_end)) =
        (candidates.first().map(|s| s.starts_at), candidates.iter().map(|s| s.ends_at).max())
    else {
        return Ok(Json(Availability { provider_id: id, duration_minutes: minutes, data: Vec::new() }));
    };
    let busy: Vec<slots::Interval> = sqlx::query!(
        "SELECT starts_at, ends_at FROM appointments
         WHERE organization_id = $1 AND provider_id = $2
           AND starts_at >= $3 AND starts_at < $4 AND ends_at > $5
           AND status IN ('scheduled', 'confirmed')",
        org,
        id,
        first - LOOKBACK,
        window_end,
        first
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.starts_at, r.ends_at))
    .collect();
    let data = slots::without_busy(candidates, &busy)
        .into_iter()
        .map(|s| AvailableSlot { starts_at: s.starts_at, ends_at: s.ends_at, location_id: s.location_id })
        .collect();
    Ok(Json(Availability { provider_id: id, duration_minutes: minutes, data }))
}
