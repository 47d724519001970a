//! `GET /intake-forms` and `GET /intake-forms/{id}`.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{self, IntakeForm};
use crate::audit::{Disclose, Disclosure};
use crate::auth::permissions::ReadPatients;
use crate::db::horizon;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::PageRequest;
use crate::http::response::Records;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntakeFormFilters {
    /// Only this patient's forms.
    pub patient_id: Option<i64>,
    /// Only the forms of this appointment.
    pub appointment_id: Option<i64>,
    /// Comma-separated statuses: `pending`, `started`, `completed`.
    #[param(
        example = "pending,started",
        pattern = r"^\s*(?:pending|started|completed)\s*(?:,\s*(?:pending|started|completed)\s*)*$"
    )]
    pub status: Option<String>,
    /// Only forms updated at or after this instant; orders by `(updatedAt, id)`.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    pub updated_since: Option<DateTime<Utc>>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of intake forms.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntakeFormList {
    pub data: Vec<IntakeForm>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
}

impl Disclose for IntakeFormList {
    fn disclose(&self, to: &mut Disclosure) {
        to.add_page(&self.data);
    }
}

/// List intake forms
///
/// Ascending id; with `updatedSince`, ascending `(updatedAt, id)`.
#[utoipa::path(
    get,
    path = "/intake-forms",
    operation_id = "listIntakeForms",
    tag = "Intake forms",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_PATIENTS"))),
    params(IntakeFormFilters),
    responses(
        (status = 200, description = "A page of intake forms", body = IntakeFormList),
        (status = 400, description = "A bad filter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list(
    auth: Auth<ReadPatients>,
    State(state): State<AppState>,
    Query(f): Query<IntakeFormFilters>,
) -> ApiResult<Records<IntakeFormList>> {
    let mut read = crate::db::planned_read(&state.db).await?;
    let statuses = model::parse_status_filter(f.status.as_deref())?;
    let page = PageRequest::new(f.limit, f.cursor.as_deref(), f.updated_since)?;
    let org = auth.organization_id;
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
                f.patient_id,
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
                f.patient_id,
                f.appointment_id,
                statuses.as_deref(),
                page.after_id,
                page.fetch()
            )
            .fetch_all(&mut *read)
            .await?
        }
    };
    let page = page.finish(rows, |f| (f.id, f.updated_at));
    Ok(Records(IntakeFormList { data: page.data, next_cursor: page.next_cursor }))
}

/// Get an intake form
#[utoipa::path(
    get,
    path = "/intake-forms/{id}",
    operation_id = "getIntakeForm",
    tag = "Intake forms",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_PATIENTS"))),
    params(("id" = i64, Path, description = "The intake form's id")),
    responses(
        (status = 200, description = "The intake form", body = IntakeForm),
        (status = 404, description = "No such intake form in this organization", body = ErrorBody),
    )
)]
pub async fn get(
    auth: Auth<ReadPatients>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Records<IntakeForm>> {
    let mut conn = state.db.acquire().await?;
    model::fetch(&mut conn, auth.organization_id, id).await?.map(Records).ok_or(ApiError::NotFound("Intake form"))
}
