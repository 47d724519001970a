//! Schedule (a provider's working hours at one location: id `{providerId}-{locationId}`) and
//! Slot (its free slots, from the same availability computation as `/api/v1`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::{base, instant, kept, meta, page_request, reference};
use crate::auth::permissions::ReadAppointments;
use crate::domain::availability::{self, AvailableSlot, Range as Dates};
use crate::domain::providers::{self, ListFilter, Provider};
use crate::fhir::search::{bundle, date_range, reference_id, tokens, Params};
use crate::fhir::Fhir;
use crate::http::error::ApiError;
use crate::http::extract::Auth;
use crate::state::AppState;

/// Slots shown when a search names no start: this many days from today.
const DEFAULT_DAYS: i64 = 7;

pub fn schedule(p: &Provider, location_id: i64) -> Value {
    json!({
        "resourceType": "Schedule",
        "id": format!("{}-{location_id}", p.id),
        "meta": meta(p.updated_at),
        "active": p.active,
        "actor": [reference("Practitioner", p.id), reference("Location", location_id)],
        "comment": "The provider's weekly working hours at this location; its free Slots are bookable.",
    })
}

fn pair(id: &str) -> Option<(i64, i64)> {
    let (a, b) = id.split_once('-')?;
    Some((super::canonical(a)?, super::canonical(b)?))
}

async fn provider(state: &AppState, org: uuid::Uuid, id: i64) -> Result<Option<Provider>, ApiError> {
    super::found(providers::get(&state.reads, org, id).await)
}

pub async fn read_schedule(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let (p, l) = pair(&id).ok_or(ApiError::NotFound("Schedule"))?;
    match provider(&state, auth.organization_id, p).await? {
        Some(p) if p.location_ids.contains(&l) => Ok(Fhir::plain(schedule(&p, l))),
        _ => Err(ApiError::NotFound("Schedule")),
    }
}

pub async fn search_schedules(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("Schedule"))?;
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let actor = params.one("actor")?;
    let by_practitioner = actor.and_then(|a| reference_id(a, "Practitioner").filter(|_| !a.starts_with("Location/")));
    let by_location = actor.and_then(|a| a.strip_prefix("Location/")).and_then(|id| id.parse::<i64>().ok());
    let wanted = params.one("_id")?.map(pair);
    let org = auth.organization_id;
    let (rows, next) =
        if actor.is_some() && by_practitioner.is_none() && by_location.is_none() || matches!(wanted, Some(None)) {
            (vec![], None)
        } else if let Some(p) = wanted.flatten().map(|(p, _)| p).or(by_practitioner) {
            (provider(&state, org, p).await?.into_iter().collect(), None)
        } else {
            let filter = ListFilter { location_id: by_location, active: None };
            kept(providers::list(&state.db, org, &filter, &page_request(&params, &last_updated)?).await?, |_| true)
        };
    let mut resources = Vec::new();
    for p in rows.iter().filter(|p| last_updated.contains(p.updated_at)) {
        for l in &p.location_ids {
            let keep =
                by_location.is_none_or(|w| w == *l) && wanted.flatten().is_none_or(|(wp, wl)| wp == p.id && wl == *l);
            if keep {
                resources.push(schedule(p, *l));
            }
        }
    }
    Ok(Fhir::plain(bundle(&base(&state), "Schedule", &params, resources, next)))
}

/// `{providerId}-{locationId}-{start, Unix seconds}-{minutes}`.
fn slot_id(provider_id: i64, s: &AvailableSlot) -> String {
    format!("{provider_id}-{}-{}-{}", s.location_id, s.starts_at.timestamp(), (s.ends_at - s.starts_at).num_minutes())
}

fn slot(provider_id: i64, s: &AvailableSlot, now: DateTime<Utc>) -> Value {
    json!({
        "resourceType": "Slot",
        "id": slot_id(provider_id, s),
        // Computed at each request: as of now.
        "meta": {"versionId": now.timestamp().to_string(), "lastUpdated": instant(now)},
        "schedule": reference("Schedule", format!("{provider_id}-{}", s.location_id)),
        "status": "free",
        "start": instant(s.starts_at),
        "end": instant(s.ends_at),
    })
}

/// The free slots of a provider at a location between two instants (at most 31 days apart).
async fn free_slots(
    state: &AppState,
    org: uuid::Uuid,
    provider_id: i64,
    location_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    minutes: Option<i64>,
) -> Result<Vec<AvailableSlot>, ApiError> {
    // Local dates may differ from UTC ones by a day either way: ask a day wider, keep the range.
    let dates = Dates {
        from: (from - Duration::days(1)).date_naive(),
        to: (to + Duration::days(1)).date_naive(),
        duration_minutes: minutes,
        location_id: Some(location_id),
    };
    let found = availability::get(&state.db, org, provider_id, &dates).await?;
    Ok(found.data.into_iter().filter(|s| s.starts_at >= from && s.starts_at < to).collect())
}

pub async fn read_slot(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let parts: Vec<Option<i64>> = id.split('-').map(super::canonical).collect();
    let [Some(p), Some(l), Some(start), Some(minutes)] = parts[..] else { return Err(ApiError::NotFound("Slot")) };
    let Some(start) = DateTime::from_timestamp(start, 0) else { return Err(ApiError::NotFound("Slot")) };
    let Some(prov) = provider(&state, auth.organization_id, p).await? else { return Err(ApiError::NotFound("Slot")) };
    if !prov.location_ids.contains(&l)
        || !(availability::MIN_DURATION_MINUTES..=availability::MAX_DURATION_MINUTES).contains(&minutes)
    {
        return Err(ApiError::NotFound("Slot"));
    }
    let slots =
        free_slots(&state, auth.organization_id, p, l, start, start + Duration::seconds(1), Some(minutes)).await?;
    let s = slots.into_iter().find(|s| s.starts_at == start).ok_or(ApiError::NotFound("Slot"))?;
    Ok(Fhir::plain(slot(p, &s, Utc::now())))
}

pub async fn search_slots(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("Slot"))?;
    let schedule = params.one("schedule")?.ok_or_else(|| {
        ApiError::validation(
            "schedule",
            "is required: the Schedule whose free slots to list (Schedule/{providerId}-{locationId})",
        )
    })?;
    let start = date_range("start", &params.all("start"))?;
    let now = Utc::now();
    let from = start.from.unwrap_or(now).max(now - Duration::days(1));
    let to = start.to.unwrap_or(from + Duration::days(DEFAULT_DAYS));
    if to - from > Duration::days(availability::MAX_RANGE_DAYS) {
        return Err(ApiError::validation("start", format!("may span at most {} days", availability::MAX_RANGE_DAYS)));
    }
    let free_wanted = params.one("status")?.is_none_or(|s| tokens(s).iter().any(|t| t == "free"));
    let wanted_id = params.one("_id")?;
    let target = schedule.strip_prefix("Schedule/").unwrap_or(schedule);
    let after: Option<i64> = match &params.cursor {
        Some(c) => Some(c.strip_prefix('s').and_then(|n| n.parse().ok()).ok_or(ApiError::InvalidCursor)?),
        None => None,
    };
    let mut resources = Vec::new();
    let mut next = None;
    if let (Some((p, l)), true, false) = (pair(target), free_wanted, to <= from) {
        if provider(&state, auth.organization_id, p).await?.is_some_and(|prov| prov.location_ids.contains(&l)) {
            let slots = free_slots(&state, auth.organization_id, p, l, from, to, None).await?;
            let mut rest = slots
                .iter()
                .filter(|s| after.is_none_or(|a| s.starts_at.timestamp() > a))
                .filter(|s| wanted_id.is_none_or(|w| slot_id(p, s) == w))
                .peekable();
            while let Some(s) = rest.next() {
                resources.push(slot(p, s, now));
                if resources.len() as i64 == params.count {
                    if rest.peek().is_some() {
                        next = Some(format!("s{}", s.starts_at.timestamp()));
                    }
                    break;
                }
            }
        }
    }
    Ok(Fhir::plain(bundle(&base(&state), "Slot", &params, resources, next)))
}
