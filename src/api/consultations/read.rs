//! `GET /consultations` and `GET /consultations/{id}`.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{self, Consultation, ConsultationDetail};
use crate::audit::{Disclose, Disclosure};
use crate::auth::permissions::ReadConsultations;
use crate::db::horizon;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::PageRequest;
use crate::http::response::Records;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsultationFilters {
    /// Only this patient's consultations.
    pub patient_id: Option<i64>,
    /// Only this provider's consultations.
    pub provider_id: Option<i64>,
    /// Only the consultation of this appointment.
    pub appointment_id: Option<i64>,
    /// Comma-separated statuses: `in_progress`, `ended`.
    #[param(example = "in_progress", pattern = r"^\s*(?:in_progress|ended)\s*(?:,\s*(?:in_progress|ended)\s*)*$")]
    pub status: Option<String>,
    /// Only consultations updated at or after this instant; orders by `(updatedAt, id)`.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    pub updated_since: Option<DateTime<Utc>>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of consultations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsultationList {
    pub data: Vec<Consultation>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
}

impl Disclose for ConsultationList {
    fn disclose(&self, to: &mut Disclosure) {
        to.add_page(&self.data);
    }
}

/// List consultations
///
/// Ascending id; with `updatedSince`, ascending `(updatedAt, id)`. The list items do not embed
/// notes and prescriptions; the single view does.
#[utoipa::path(
    get,
    path = "/consultations",
    operation_id = "listConsultations",
    tag = "Consultations",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_CONSULTATIONS"))),
    params(ConsultationFilters),
    responses(
        (status = 200, description = "A page of consultations", body = ConsultationList),
        (status = 400, description = "A bad filter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Query(f): Query<ConsultationFilters>,
) -> ApiResult<Records<ConsultationList>> {
    let mut read = crate::db::planned_read(&state.db).await?;
    let statuses = model::parse_status_filter(f.status.as_deref())?;
    let page = PageRequest::new(f.limit, f.cursor.as_deref(), f.updated_since)?;
    let org = auth.organization_id;
    let rows = match (page.updated_since, page.after_updated) {
        (Some(since), Some(after_updated)) => {
            let horizon = horizon::current(&mut read).await?;
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
                f.patient_id,
                f.provider_id,
                f.appointment_id,
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
                f.patient_id,
                f.provider_id,
                f.appointment_id,
                statuses.as_deref(),
                page.after_id,
                page.fetch()
            )
            .fetch_all(&mut *read)
            .await?
        }
    };
    let page = page.finish(rows, |c| (c.id, c.updated_at));
    Ok(Records(ConsultationList { data: page.data, next_cursor: page.next_cursor }))
}

/// Get a consultation
///
/// The consultation with its SOAP notes and prescriptions, each in ascending id order.
#[utoipa::path(
    get,
    path = "/consultations/{id}",
    operation_id = "getConsultation",
    tag = "Consultations",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_CONSULTATIONS"))),
    params(("id" = i64, Path, description = "The consultation's id")),
    responses(
        (status = 200, description = "The consultation", body = ConsultationDetail),
        (status = 404, description = "No such consultation in this organization", body = ErrorBody),
    )
)]
pub async fn get(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Records<ConsultationDetail>> {
    // One snapshot, so the notes and prescriptions belong to the consultation as read.
    let mut tx = state.db.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    let detail = model::fetch_detail(&mut tx, auth.organization_id, id).await?;
    tx.commit().await?;
    detail.map(Records).ok_or(ApiError::NotFound("Consultation"))
}
