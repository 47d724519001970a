//! Reading intake forms: one by id, and the filtered list.

use sqlx::PgPool;
use uuid::Uuid;

use super::model::IntakeForm;
use super::status::IntakeStatus;
use crate::db::horizon;
use crate::domain::{Error, Page, PageRequest, Result};

/// What a list of intake forms may be narrowed by.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Only this patient's forms.
    pub patient_id: Option<i64>,
    /// Only the forms of this appointment.
    pub appointment_id: Option<i64>,
    /// Only forms in one of these statuses.
    pub statuses: Option<Vec<IntakeStatus>>,
}

/// A page of the organization's intake forms, by ascending id or, with `updatedSince`, by
/// `(updatedAt, id)` up to the sync horizon; on a planned read, as the best plan depends on the
/// filters given.
pub async fn list(db: &PgPool, org: Uuid, filter: &ListFilter, page: &PageRequest) -> Result<Page<IntakeForm>> {
    let mut read = crate::db::planned_read(db).await?;
    let statuses: Option<Vec<String>> =
        filter.statuses.as_ref().map(|s| s.iter().map(|s| s.as_str().to_string()).collect());
    let rows = match (page.updated_since, page.after_updated) {
        (Some(since), Some(after_updated)) => {
            let horizon = horizon::current(&mut read).await?;
            sqlx::query_as!(
                IntakeForm,
                "SELECT id, patient_id, appointment_id, form_type, status, answers, started_at, completed_at,
                        created_at, updated_at
                 FROM intake_forms
                 WHERE organization_id = $1
                   AND ($2::bigint IS NULL OR patient_id = $2)
                   AND ($3::bigint IS NULL OR appointment_id = $3)
                   AND ($4::text[] IS NULL OR status = ANY($4))
                   AND updated_at >= $5 AND (updated_at, id) > ($6, $7) AND updated_at < $9
                 ORDER BY updated_at, id LIMIT $8",
                org,
                filter.patient_id,
                filter.appointment_id,
                statuses.as_deref(),
                since,
                after_updated,
                page.after_id,
                page.fetch(),
                horizon
            )
            .fetch_all(&mut *read)
            .await?
        }
        _ => {
            sqlx::query_as!(
                IntakeForm,
                "SELECT id, patient_id, appointment_id, form_type, status, answers, started_at, completed_at,
                        created_at, updated_at
                 FROM intake_forms
                 WHERE organization_id = $1
                   AND ($2::bigint IS NULL OR patient_id = $2)
                   AND ($3::bigint IS NULL OR appointment_id = $3)
                   AND ($4::text[] IS NULL OR status = ANY($4))
                   AND id > $5
                 ORDER BY id LIMIT $6",
                org,
                filter.patient_id,
                filter.appointment_id,
                statuses.as_deref(),
                page.after_id,
                page.fetch()
            )
            .fetch_all(&mut *read)
            .await?
        }
    };
    Ok(page.finish(rows, |f| (f.id, f.updated_at)))
}

/// One intake form of the organization.
pub async fn get(db: impl sqlx::PgExecutor<'_>, org: Uuid, id: i64) -> Result<IntakeForm> {
    fetch(db, org, id).await?.ok_or(Error::NotFound("Intake form"))
}

/// One intake form of the organization (another organization's id is `None`).
pub(super) async fn fetch(db: impl sqlx::PgExecutor<'_>, org: Uuid, id: i64) -> Result<Option<IntakeForm>> {
    Ok(sqlx::query_as!(
        IntakeForm,
        "SELECT id, patient_id, appointment_id, form_type, status, answers, started_at, completed_at, created_at,
                updated_at
         FROM intake_forms WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(db)
    .await?)
}
