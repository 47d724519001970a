//! A provider's free slots: the working hours (`providers::schedule`) and the active
//! appointments and live holds in range are read in two queries on one connection; the rest is the pure
//! computation in [`super::slots`].

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::providers::schedule::load_provider_hours;
use super::slots::{self, Block};
use super::{Error, FieldError, Result};

/// The widest range: `to` at most this many days after `from`.
pub const MAX_RANGE_DAYS: i64 = 31;
pub const DEFAULT_DURATION_MINUTES: i64 = 30;
pub const MIN_DURATION_MINUTES: i64 = 5;
pub const MAX_DURATION_MINUTES: i64 = 480;
/// Appointments last at most 480 minutes, so one that starts more than a day before the window
/// cannot reach into it; this bound keeps the range scan on `appointments_provider_starts` short.
const LOOKBACK: Duration = Duration::days(1);

/// What to look for: local dates `from..=to`, a slot length, and optionally one location.
#[derive(Debug, Clone)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Default [`DEFAULT_DURATION_MINUTES`].
    pub duration_minutes: Option<i64>,
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

fn validate(r: &Range) -> Result<Duration> {
    let mut details = Vec::new();
    let minutes = r.duration_minutes.unwrap_or(DEFAULT_DURATION_MINUTES);
    if !(MIN_DURATION_MINUTES..=MAX_DURATION_MINUTES).contains(&minutes) {
        details.push(FieldError::new(
            "durationMinutes",
            format!("must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES}"),
        ));
    }
    if r.to < r.from {
        details.push(FieldError::new("to", "must not be before from"));
    } else if (r.to - r.from).num_days() > MAX_RANGE_DAYS {
        details.push(FieldError::new("to", format!("must be at most {MAX_RANGE_DAYS} days after from")));
    }
    if details.is_empty() {
        Ok(Duration::minutes(minutes))
    } else {
        Err(Error::Invalid(details))
    }
}

/// The free slots of provider `id` in `range`: inside its working hours at each location,
/// starting now or later, overlapping none of its active appointments or live holds (whoever
/// holds them) at any location. An
/// inactive provider has none; a location the provider does not work at is invalid.
pub async fn get(db: &PgPool, org: Uuid, id: i64, range: &Range) -> Result<Availability> {
    let duration = validate(range)?;
    // One connection for both queries: each trip to the pool costs a round trip of its own.
    let mut conn = db.acquire().await?;
    let provider = load_provider_hours(&mut *conn, org, id).await?.ok_or(Error::NotFound("Provider"))?;
    if let Some(location_id) = range.location_id {
        if !provider.locations.iter().any(|(l, _)| *l == location_id) {
            return Err(Error::invalid("locationId", format!("provider {id} does not work at location {location_id}")));
        }
    }
    let mut blocks = Vec::with_capacity(provider.hours.len());
    for h in provider.hours.iter().filter(|h| range.location_id.is_none_or(|l| l == h.location_id)) {
        let tz: Tz = h.timezone.parse().map_err(|_| {
            Error::internal(format!("location {} has an invalid time zone in the database", h.location_id))
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
    let candidates = slots::candidate_slots(&blocks, range.from, range.to, duration, Utc::now());
    let (Some(first), Some(window_end)) =
        (candidates.first().map(|s| s.starts_at), candidates.iter().map(|s| s.ends_at).max())
    else {
        return Ok(Availability { provider_id: id, duration_minutes: minutes, data: Vec::new() });
    };
    // Live holds are busy too: their claims (`slot_claims`, by its exclusion index); an expired
    // hold's claim may still be there until someone overlaps it, and is left out here.
    let busy: Vec<slots::Interval> = sqlx::query!(
        r#"SELECT starts_at AS "starts_at!", ends_at AS "ends_at!" FROM appointments
           WHERE organization_id = $1 AND provider_id = $2
             AND starts_at >= $3 AND starts_at < $4 AND ends_at > $5
             AND status IN ('scheduled', 'confirmed')
           UNION ALL
           SELECT lower(during), upper(during) FROM slot_claims
           WHERE organization_id = $1 AND provider_id = $2 AND hold_id IS NOT NULL
             AND during && tstzrange($5, $4) AND expires_at > now()"#,
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
    Ok(Availability { provider_id: id, duration_minutes: minutes, data })
}
