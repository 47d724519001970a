//! The appointment list: filters and keyset paging.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::model::Appointment;
use super::transitions::AppointmentStatus;
use crate::db::horizon;
use crate::domain::{Page, PageRequest, Result};

/// Which appointments to list; every filter left out matches all.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub patient_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub location_id: Option<i64>,
    /// Any of these statuses; `None` (not an empty list) for all.
    pub statuses: Option<Vec<AppointmentStatus>>,
    /// `startsAt` at or after this.
    pub from: Option<DateTime<Utc>>,
    /// `startsAt` before this.
    pub to: Option<DateTime<Utc>>,
}

/// The organization's appointments matching `filter`, by ascending id, or by `(updatedAt, id)`
/// up to the sync horizon when the page asks for changes since an instant. Read in a planned
/// read-only transaction: the optional filters make a generic plan wrong for most values.
pub async fn list(db: &PgPool, org: Uuid, filter: &ListFilter, page: &PageRequest) -> Result<Page<Appointment>> {
    let mut read = crate::db::planned_read(db).await?;
    let statuses: Option<Vec<String>> =
        filter.statuses.as_ref().map(|s| s.iter().map(|s| s.as_str().to_string()).collect());
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
            filter.patient_id,
            filter.provider_id,
            filter.location_id,
            statuses.as_deref(),
            filter.from,
            filter.to,
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
            filter.patient_id,
            filter.provider_id,
            filter.location_id,
            statuses.as_deref(),
            filter.from,
            filter.to,
            page.after_id,
            page.fetch(),
        )
        .fetch_all(&mut *read)
        .await?
    };
    Ok(page.finish(rows, |a| (a.id, a.updated_at)))
}
