//! `GET /consultations` and `GET /consultations/{id}`.

use axum::extract::State;

use crate::auth::permissions::ReadConsultations;
use crate::domain::consultations::{self, model, Consultation, ConsultationDetail, ListFilter};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::{list_query, paged};
use crate::http::response::Records;
use crate::state::AppState;

paged!(ConsultationList = Consultation, "consultations");

list_query! {
    pub struct ListConsultationsQuery {
        /// Only this patient's consultations.
        pub patient_id: Option<i64>,
        /// Only this provider's consultations.
        pub provider_id: Option<i64>,
        /// Only the consultation of this appointment.
        pub appointment_id: Option<i64>,
        /// Comma-separated statuses: `in_progress`, `ended`.
        #[param(example = "in_progress", pattern = r"^\s*(?:in_progress|ended)\s*(?:,\s*(?:in_progress|ended)\s*)*$")]
        pub status: Option<String>,
    }
}

/// List consultations
///
/// Ascending id; with `updatedSince`, ascending `(updatedAt, id)`. The list items do not embed
/// notes and prescriptions; the single view does.
#[utoipa::path(
    get,
    path = "/api/v1/consultations",
    operation_id = "listConsultations",
    tag = "Consultations",
    params(ListConsultationsQuery),
    responses(
        (status = 200, description = "A page of consultations", body = ConsultationList),
        (status = 400, description = "A bad filter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Query(query): Query<ListConsultationsQuery>,
) -> ApiResult<Records<ConsultationList>> {
    let filter = ListFilter {
        patient_id: query.patient_id,
        provider_id: query.provider_id,
        appointment_id: query.appointment_id,
        statuses: model::parse_status_filter(query.status.as_deref())?,
    };
    let page = query.page()?;
    let mut read = crate::db::planned_read(&state.db).await?;
    Ok(Records(consultations::list(&mut read, auth.organization_id, &filter, &page).await?))
}

/// Get a consultation
///
/// The consultation with its SOAP notes and prescriptions, each in ascending id order. Each note
/// is shown as its own single view shows it: its current version, with its earlier versions in
/// `versions`.
#[utoipa::path(
    get,
    path = "/api/v1/consultations/{id}",
    operation_id = "getConsultation",
    tag = "Consultations",
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
