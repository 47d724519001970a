//! A provider's weekly working hours, per location, in each location's time zone; loaded in
//! one query, which availability uses too.

use chrono::NaiveTime;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{Error, Result};

/// The weekly working hours of a provider.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    #[schema(example = 3)]
    pub provider_id: i64,
    /// Ordered by location, weekday and start time. A location the provider works at without
    /// hours has no entries.
    pub data: Vec<WorkingHours>,
}

/// One block of weekly working hours, in the local time of its location.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkingHours {
    #[schema(example = 1)]
    pub location_id: i64,
    /// The location's IANA time zone, in which `startTime` and `endTime` are read.
    #[schema(example = "America/New_York")]
    pub timezone: String,
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    #[schema(example = 1, minimum = 1, maximum = 7)]
    pub weekday: i16,
    /// Local wall-clock time, `HH:MM`.
    #[schema(example = "09:00")]
    pub start_time: String,
    /// Local wall-clock time, `HH:MM`, after `startTime`.
    #[schema(example = "17:00")]
    pub end_time: String,
}

/// What availability and the schedule need to know about a provider.
pub struct ProviderHours {
    pub active: bool,
    /// Every location the provider works at (with or without hours) and its time zone.
    pub locations: Vec<(i64, String)>,
    pub hours: Vec<HoursRow>,
}

#[derive(Debug, Clone)]
pub struct HoursRow {
    pub location_id: i64,
    pub timezone: String,
    pub weekday: i16,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
}

/// Loads a provider's locations and working hours in one query; `None` if the provider is not
/// in the organization.
pub async fn load_provider_hours(
    db: impl sqlx::PgExecutor<'_>,
    org: Uuid,
    provider_id: i64,
) -> Result<Option<ProviderHours>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT p.active, pl.location_id AS "location_id?", l.timezone AS "timezone?",
                  wh.weekday AS "weekday?", wh.start_time AS "start_time?", wh.end_time AS "end_time?"
           FROM providers p
           LEFT JOIN provider_locations pl ON pl.provider_id = p.id
           LEFT JOIN locations l ON l.id = pl.location_id
           LEFT JOIN working_hours wh ON wh.provider_id = pl.provider_id AND wh.location_id = pl.location_id
           WHERE p.organization_id = $1 AND p.id = $2
           ORDER BY pl.location_id, wh.weekday, wh.start_time"#,
        org,
        provider_id
    )
    .fetch_all(db)
    .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let mut out = ProviderHours { active: first.active, locations: Vec::new(), hours: Vec::new() };
    for row in rows {
        let (Some(location_id), Some(timezone)) = (row.location_id, row.timezone) else { continue };
        if out.locations.last().map(|(id, _)| *id) != Some(location_id) {
            out.locations.push((location_id, timezone.clone()));
        }
        if let (Some(weekday), Some(start_time), Some(end_time)) = (row.weekday, row.start_time, row.end_time) {
            out.hours.push(HoursRow { location_id, timezone, weekday, start_time, end_time });
        }
    }
    Ok(Some(out))
}

/// The provider's weekly working hours at each location, as local wall-clock times.
pub async fn schedule(db: &PgPool, org: Uuid, provider_id: i64) -> Result<Schedule> {
    let provider = load_provider_hours(db, org, provider_id).await?.ok_or(Error::NotFound("Provider"))?;
    let data = provider
        .hours
        .into_iter()
        .map(|h| WorkingHours {
            location_id: h.location_id,
            timezone: h.timezone,
            weekday: h.weekday,
            start_time: h.start_time.format("%H:%M").to_string(),
            end_time: h.end_time.format("%H:%M").to_string(),
        })
        .collect();
    Ok(Schedule { provider_id, data })
}
