//! The list of consultations.

use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{Consultation, ConsultationStatus};
use crate::db::horizon;
use crate::domain::{Page, PageRequest, Result};

/// Which consultations a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this patient's consultations.
    pub patient_id: Option<i64>,
    /// Only this provider's consultations.
    pub provider_id: Option<i64>,
    /// Only the consultation of this appointment.
    pub appointment_id: Option<i64>,
    /// Only consultations in one of these statuses.
    pub statuses: Option<Vec<ConsultationStatus>>,
}

/// One page of the organization's consultations (without their notes and prescriptions):
/// ascending id, or `(updatedAt, id)` up to the sync horizon with `updatedSince`. The filters
/// are optional, so run it on [`crate::db::planned_read`], which plans each execution for its
/// own values.
pub async fn list(
    conn: &mut PgConnection,
    org: Uuid,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Page<Consultation>> {
    let statuses: Option<Vec<String>> =
        filter.statuses.as_ref().map(|s| s.iter().map(|s| s.as_str().to_string()).collect());
    let rows = match (page.updated_since, page.after_updated) {
        (Some(since), Some(after_updated)) => {
            let horizon = horizon::current(&mut *conn).await?;
            sqlx::query_as!(
                Consultation,
                "SELECT id, appointment_id, patient_id, provider_id, status, started_at, ended_at, created_at,
                        updated_at
                 FROM consultations
                 WHERE organization_id = $1
                   AND ($2::bigint IS NULL OR patient_id = $2)
                   AND ($3::bigint IS NULL OR provider_id = $3)
                   AND ($4::bigint IS NULL OR appointment_id = $4)
                   AND ($5::text[] IS NULL OR status = ANY($5))
                   AND updated_at >= $6 AND (updated_at, id) > ($7, $8) AND updated_at < $10
                 ORDER BY updated_at, id LIMIT $9",
                org,
                filter.patient_id,
                filter.provider_id,
                filter.appointment_id,
                statuses.as_deref(),
                since,
                after_updated,
                page.after_id,
                page.fetch(),
                horizon
            )
            .fetch_all(&mut *conn)
            .await?
        }
        _ => {
            sqlx::query_as!(
                Consultation,
                "SELECT id, appointment_id, patient_id, provider_id, status, started_at, ended_at, created_at,
                        updated_at
                 FROM consultations
                 WHERE organization_id = $1
                   AND ($2::bigint IS NULL OR patient_id = $2)
                   AND ($3::bigint IS NULL OR provider_id = $3)
                   AND ($4::bigint IS NULL OR appointment_id = $4)
                   AND ($5::text[] IS NULL OR status = ANY($5))
                   AND id > $6
                 ORDER BY id LIMIT $7",
                org,
                filter.patient_id,
                filter.provider_id,
                filter.appointment_id,
                statuses.as_deref(),
                page.after_id,
                page.fetch()
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    Ok(page.finish(rows, |c| (c.id, c.updated_at)))
}
