//! `GET /intake-forms` and `GET /intake-forms/{id}`.

use axum::extract::State;

use crate::auth::permissions::ReadPatients;
use crate::domain::intake::{self, IntakeForm, ListFilter};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::{list_query, paged};
use crate::http::response::Records;
use crate::state::AppState;

paged!(IntakeFormList = IntakeForm, "intake forms");

list_query! {
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
    }
}

/// List intake forms
///
/// Ascending id; with `updatedSince`, ascending `(updatedAt, id)`.
#[utoipa::path(
    get,
    path = "/api/v1/intake-forms",
    operation_id = "listIntakeForms",
    tag = "Intake forms",
    params(IntakeFormFilters),
    responses(
        (status = 200, description = "A page of intake forms", body = IntakeFormList),
        (status = 400, description = "A bad filter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list(
    auth: Auth<ReadPatients>,
    State(state): State<AppState>,
    Query(query): Query<IntakeFormFilters>,
) -> ApiResult<Records<IntakeFormList>> {
    let filter = ListFilter {
        patient_id: query.patient_id,
        appointment_id: query.appointment_id,
        statuses: intake::parse_status_filter(query.status.as_deref())?,
    };
    let page = query.page()?;
    Ok(Records(intake::list(&state.db, auth.organization_id, &filter, &page).await?))
}

/// Get an intake form
#[utoipa::path(
    get,
    path = "/api/v1/intake-forms/{id}",
    operation_id = "getIntakeForm",
    tag = "Intake forms",
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
    Ok(Records(intake::get(&state.reads, auth.organization_id, id).await?))
}
