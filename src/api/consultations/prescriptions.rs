//! `POST /consultations/{id}/prescriptions`, `GET /prescriptions` and `GET /prescriptions/{id}`.

use axum::extract::State;

use crate::auth::permissions::{ReadConsultations, WriteConsultations};
use crate::domain::consultations::prescriptions::{self, ListFilter, NewPrescription, Prescription};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{self, Auth, Path, Query};
use crate::http::pagination::{list_query, paged};
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;
use crate::state::AppState;

paged!(PrescriptionList = Prescription, "prescriptions");

list_query! {
    pub struct ListPrescriptionsQuery {
        /// Only this patient's prescriptions.
        pub patient_id: Option<i64>,
        /// Only this consultation's prescriptions.
        pub consultation_id: Option<i64>,
    }
}

/// Write a prescription
///
/// On a consultation in progress or ended. The patient and the prescribing provider are the
/// consultation's. No event is recorded.
#[utoipa::path(
    post,
    path = "/api/v1/consultations/{id}/prescriptions",
    operation_id = "createPrescription",
    tag = "Prescriptions",
    params(("id" = i64, Path, description = "The consultation's id")),
    request_body = NewPrescription,
    responses(
        (status = 201, description = "Written; `Location` is the prescription's URL", body = Prescription,
         headers(("Location" = String, description = "/api/v1/prescriptions/{id}"))),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such consultation in this organization", body = ErrorBody),
    )
)]
pub async fn create(
    auth: Auth<WriteConsultations>,
    mut tx: Tx,
    Path(consultation_id): Path<i64>,
    extract::Json(body): extract::Json<NewPrescription>,
) -> ApiResult<Records<Created<Prescription>>> {
    let prescription = prescriptions::create(&mut tx, auth.organization_id, consultation_id, &body).await?;
    Ok(Records(Created { location: format!("/api/v1/prescriptions/{}", prescription.id), body: prescription }))
}

/// List prescriptions
///
/// Ascending id; with `updatedSince`, ascending `(updatedAt, id)`.
#[utoipa::path(
    get,
    path = "/api/v1/prescriptions",
    operation_id = "listPrescriptions",
    tag = "Prescriptions",
    params(ListPrescriptionsQuery),
    responses(
        (status = 200, description = "A page of prescriptions", body = PrescriptionList),
        (status = 400, description = "A bad filter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Query(query): Query<ListPrescriptionsQuery>,
) -> ApiResult<Records<PrescriptionList>> {
    let page = query.page()?;
    let filter = ListFilter { patient_id: query.patient_id, consultation_id: query.consultation_id };
    let mut read = crate::db::planned_read(&state.db).await?;
    Ok(Records(prescriptions::list(&mut read, auth.organization_id, &filter, &page).await?))
}

/// Get a prescription
#[utoipa::path(
    get,
    path = "/api/v1/prescriptions/{id}",
    operation_id = "getPrescription",
    tag = "Prescriptions",
    params(("id" = i64, Path, description = "The prescription's id")),
    responses(
        (status = 200, description = "The prescription", body = Prescription),
        (status = 404, description = "No such prescription in this organization", body = ErrorBody),
    )
)]
pub async fn get(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Records<Prescription>> {
    Ok(Records(prescriptions::get(&state.reads, auth.organization_id, id).await?))
}
