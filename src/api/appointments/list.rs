//! `GET /appointments`: filters and cursor pagination.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::Appointment;
use super::transitions::AppointmentStatus;
use super::validate::parse_bound;
use crate::audit::{Disclose, Disclosure};
use crate::auth::permissions::ReadAppointments;
use crate::db::horizon;
use crate::http::error::{ApiError, ErrorBody, FieldError};
use crate::http::extract::{Auth, Query};
use crate::http::pagination::PageRequest;
use crate::http::response::Records;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AppointmentListQuery {
    patient_id: Option<i64>,
    provider_id: Option<i64>,
    location_id: Option<i64>,
    /// Comma-separated statuses (`scheduled`, `confirmed`, `cancelled`, `completed`, `no_show`),
    /// e.g. `scheduled,confirmed`; blanks around and between them are ignored.
    #[param(
        example = "scheduled,confirmed",
        pattern = r"^\s*(?:(?:scheduled|confirmed|cancelled|completed|no_show)\s*)?(?:,\s*(?:(?:scheduled|confirmed|cancelled|completed|no_show)\s*)?)*$"
    )]
    status: Option<String>,
    /// `startsAt` at or after this: an RFC 3339 timestamp, or a date `YYYY-MM-DD` meaning its
    /// midnight UTC.
    #[param(example = "2026-11-28")]
    from: Option<String>,
    /// `startsAt` before this: an RFC 3339 timestamp (exclusive), or a date `YYYY-MM-DD`
    /// meaning the end of that UTC day (so `from=D&to=D` is the whole day D).
    #[param(example = "2026-11-28")]
    to: Option<String>,
    /// Only appointments changed at or after this instant; orders the list by `(updatedAt, id)`.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    updated_since: Option<DateTime<Utc>>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// A page of appointments.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentList {
    pub data: Vec<Appointment>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl Disclose for AppointmentList {
    fn disclose(&self, to: &mut Disclosure) {
        to.add_page(&self.data);
    }
}

#[derive(Debug, Default)]
struct Filters {
    statuses: Option<Vec<String>>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl Filters {
    fn from_query(q: &AppointmentListQuery) -> Result<Filters, ApiError> {
        let mut errors = Vec::new();
        let mut f = Filters::default();
        if let Some(list) = &q.status {
            let mut statuses = Vec::new();
            for s in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match AppointmentStatus::parse(s) {
                    Some(s) => statuses.push(s.as_str().to_string()),
                    None => errors.push(FieldError::new(
                        "status",
                        format!("unknown status {s:?}; expected scheduled, confirmed, cancelled, completed or no_show"),
                    )),
                }
            }
            f.statuses = Some(statuses).filter(|s| !s.is_empty());
        }
        for (field, value, is_end) in [("from", &q.from, false), ("to", &q.to, true)] {
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

/// List appointments
///
/// Ordered by ascending id; with `updatedSince`, by `(updatedAt, id)`, so an appointment
/// changed while you page moves behind the cursor and comes again rather than being skipped. A
/// change is served only after every change made before it has committed (or rolled back), so
/// none lands behind a cursor or an `updatedAt` you have already been given.
/// Unknown query parameters are a `400`.
#[utoipa::path(
    get,
    path = "/appointments",
    tag = "Appointments",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_APPOINTMENTS"))),
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
    let mut read = crate::db::planned_read(&state.db).await?;
    let page = PageRequest::new(query.limit, query.cursor.as_deref(), query.updated_since)?;
    let f = Filters::from_query(&query)?;
    let org = auth.organization_id;
    let rows = if let Some(since) = page.updated_since {
        let after_updated = page.after_updated.unwrap_or(since);
        let horizon = horizon::current(&mut read).await?;
        sqlx::query_as!(
            Appointment,
            r#"SELECT id, patient_id, provider_id, location_id, starts_at, ends_at, status, reason,
                      cancellation_reason, created_at, updated_at
               FROM appointments
               WHERE organization_id = $1
                 AND ($2::bigint IS NULL OR patient_id = $2)
                 AND ($3::bigint IS NULL OR provider_id = $3)
                 AND ($4::bigint IS NULL OR location_id = $4)
                 AND ($5::text[] IS NULL OR status = ANY ($5))
                 AND ($6::timestamptz IS NULL OR starts_at >= $6)
                 AND ($7::timestamptz IS NULL OR starts_at < $7)
                 AND updated_at >= $8 AND (updated_at, id) > ($9, $10) AND updated_at < $12
               ORDER BY updated_at, id
               LIMIT $11"#,
            org,
            query.patient_id,
            query.provider_id,
            query.location_id,
            f.statuses.as_deref(),
            f.from,
            f.to,
            since,
            after_updated,
            page.after_id,
            page.fetch(),
            horizon,
        )
        .fetch_all(&mut *read)
        .await?
    } else {
        sqlx::query_as!(
            Appointment,
            r#"SELECT id, patient_id, provider_id, location_id, starts_at, ends_at, status, reason,
                      cancellation_reason, created_at, updated_at
               FROM appointments
               WHERE organization_id = $1
                 AND ($2::bigint IS NULL OR patient_id = $2)
                 AND ($3::bigint IS NULL OR provider_id = $3)
                 AND ($4::bigint IS NULL OR location_id = $4)
                 AND ($5::text[] IS NULL OR status = ANY ($5))
                 AND ($6::timestamptz IS NULL OR starts_at >= $6)
                 AND ($7::timestamptz IS NULL OR starts_at < $7)
                 AND id > $8
               ORDER BY id
               LIMIT $9"#,
            org,
            query.patient_id,
            query.provider_id,
            query.location_id,
            f.statuses.as_deref(),
            f.from,
            f.to,
            page.after_id,
            page.fetch(),
        )
        .fetch_all(&mut *read)
        .await?
    };
    let page = page.finish(rows, |a| (a.id, a.updated_at));
    Ok(Records(AppointmentList { data: page.data, next_cursor: page.next_cursor }))
}
