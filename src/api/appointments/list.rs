//! `GET /appointments`: the query's filters, read into `domain::appointments::ListFilter`.

use axum::extract::State;
use chrono::{DateTime, NaiveTime, Utc};

use crate::auth::permissions::ReadAppointments;
use crate::domain::appointments::{self, parse_timestamp, Appointment, AppointmentStatus, ListFilter};
use crate::http::error::{ApiError, ErrorBody, FieldError};
use crate::http::extract::{Auth, Query};
use crate::http::pagination::{list_query, paged};
use crate::http::response::Records;
use crate::state::AppState;

paged!(AppointmentList = Appointment, "appointments");

list_query! {
    pub struct AppointmentListQuery {
        pub patient_id: Option<i64>,
        pub provider_id: Option<i64>,
        pub location_id: Option<i64>,
        /// Comma-separated statuses (`scheduled`, `confirmed`, `cancelled`, `completed`, `no_show`),
        /// e.g. `scheduled,confirmed`; blanks around and between them are ignored.
        #[param(
            example = "scheduled,confirmed",
            pattern = r"^\s*(?:(?:scheduled|confirmed|cancelled|completed|no_show)\s*)?(?:,\s*(?:(?:scheduled|confirmed|cancelled|completed|no_show)\s*)?)*$"
        )]
        pub status: Option<String>,
        /// `startsAt` at or after this: an RFC 3339 timestamp, or a date `YYYY-MM-DD` meaning its
        /// midnight UTC.
        #[param(example = "2026-11-28")]
        pub from: Option<String>,
        /// `startsAt` before this: an RFC 3339 timestamp (exclusive), or a date `YYYY-MM-DD`
        /// meaning the end of that UTC day (so `from=D&to=D` is the whole day D).
        #[param(example = "2026-11-28")]
        pub to: Option<String>,
    }
}

impl AppointmentListQuery {
    /// The filters, every bad one reported at once.
    fn filter(&self) -> Result<ListFilter, ApiError> {
        let mut errors = Vec::new();
        let mut f = ListFilter {
            patient_id: self.patient_id,
            provider_id: self.provider_id,
            location_id: self.location_id,
            ..ListFilter::default()
        };
        if let Some(list) = &self.status {
            let mut statuses = Vec::new();
            for s in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match AppointmentStatus::parse(s) {
                    Some(s) => statuses.push(s),
                    None => errors.push(FieldError::new(
                        "status",
                        format!("unknown status {s:?}; expected scheduled, confirmed, cancelled, completed or no_show"),
                    )),
                }
            }
            f.statuses = Some(statuses).filter(|s| !s.is_empty());
        }
        for (field, value, is_end) in [("from", &self.from, false), ("to", &self.to, true)] {
            let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) else { continue };
            match parse_bound(value, is_end) {
                Some(t) if is_end => f.to = Some(t),
                Some(t) => f.from = Some(t),
                None => errors.push(FieldError::new(field, "must be an RFC 3339 timestamp or a date YYYY-MM-DD")),
            }
        }
        if let (Some(from), Some(to)) = (f.from, f.to) {
            if to <= from {
                errors.push(FieldError::new("to", "must be after from"));
            }
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(ApiError::from_details(errors))
        }
    }
}

/// A `from`/`to` list bound: an RFC 3339 timestamp, or a date meaning a whole UTC day — `from`
/// starts at its midnight, `to` ends at the next midnight (so `from=D&to=D` is the day D).
fn parse_bound(value: &str, is_end: bool) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if let Some(t) = parse_timestamp(v) {
        return Some(t);
    }
    // An unencoded `+` of an offset arrives as a space.
    if v.contains(' ') {
        if let Some(t) = parse_timestamp(&v.replace(' ', "+")) {
            return Some(t);
        }
    }
    let date = crate::http::time::parse_date(v)?;
    let date = if is_end { date.succ_opt()? } else { date };
    Some(date.and_time(NaiveTime::MIN).and_utc())
}

/// List appointments
///
/// Ordered by ascending id; with `updatedSince`, by `(updatedAt, id)`, so an appointment
/// changed while you page moves behind the cursor and comes again rather than being skipped. A
/// change is served only after every change made before it has committed (or rolled back), so
/// none lands behind a cursor or an `updatedAt` you have already been given.
/// Unknown query parameters are a `400`.
#[utoipa::path(
    get,
    path = "/api/v1/appointments",
    tag = "Appointments",
    params(AppointmentListQuery),
    responses(
        (status = 200, description = "A page of appointments", body = AppointmentList),
        (status = 400, description = "A bad filter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list_appointments(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    Query(query): Query<AppointmentListQuery>,
) -> Result<Records<AppointmentList>, ApiError> {
    let page = query.page()?;
    let filter = query.filter()?;
    Ok(Records(appointments::list(&state.db, auth.organization_id, &filter, &page).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_accept_dates_and_timestamps() {
        let day = |s: &str| parse_timestamp(s).unwrap();
        assert_eq!(parse_bound("2026-11-28", false), Some(day("2026-11-28T00:00:00Z")));
        assert_eq!(parse_bound("2026-11-28", true), Some(day("2026-11-29T00:00:00Z")));
        assert_eq!(parse_bound("2026-11-28T09:30:00Z", true), Some(day("2026-11-28T09:30:00Z")));
        assert_eq!(parse_bound("2026-11-28T10:30:00 01:00", false), Some(day("2026-11-28T09:30:00Z")));
        assert_eq!(parse_bound("28/11/2026", false), None);
        // Years PostgreSQL cannot store are not RFC 3339 either.
        assert_eq!(parse_bound("-262143-12-31", false), None);
    }
}
