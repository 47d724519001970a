//! `POST /patients` and `PATCH /patients/{id}`.

use crate::auth::permissions::WritePatients;
use crate::domain::patients::{self, NewPatient, Patient, PatientPatch};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Auth, Json, Path};
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;

/// Create a patient
///
/// Returns `201` with the patient and `Location: /api/v1/patients/{id}`, and records the event
/// `patient.created`. An `externalId` already used in the organization is `409 conflict`.
#[utoipa::path(
    post,
    path = "/api/v1/patients",
    tag = "Patients",
    request_body = NewPatient,
    responses(
        (status = 201, description = "Created", body = Patient,
         headers(("Location" = String, description = "/api/v1/patients/{id}"))),
        (status = 400, description = "Malformed JSON or invalid fields, with `details`", body = ErrorBody),
        (status = 409, description = "`conflict`: the externalId is taken; or `idempotency_key_in_use`", body = ErrorBody),
    )
)]
pub async fn create_patient(
    auth: Auth<WritePatients>,
    mut tx: Tx,
    Json(body): Json<NewPatient>,
) -> Result<Records<Created<Patient>>, ApiError> {
    let patient = patients::create(&mut tx, auth.organization_id, body).await?;
    Ok(Records(Created { location: format!("/api/v1/patients/{}", patient.id), body: patient }))
}

/// Update a patient
///
/// Only the fields sent change; an explicit `null` clears an optional field (`firstName`,
/// `lastName` and `sex` cannot be cleared). `address` is merged field by field;
/// `"address": null` clears all of it. Records `patient.updated` when something changed; a
/// PATCH that changes nothing returns the patient as it is (`200`), records no event and
/// leaves `updatedAt` alone.
#[utoipa::path(
    patch,
    path = "/api/v1/patients/{id}",
    tag = "Patients",
    params(("id" = i64, Path, description = "Patient id")),
    request_body = PatientPatch,
    responses(
        (status = 200, description = "The patient after the update", body = Patient),
        (status = 400, description = "Malformed JSON or invalid fields, with `details`", body = ErrorBody),
        (status = 404, description = "No such patient in this organization", body = ErrorBody),
        (status = 409, description = "`conflict`: the externalId is taken; or `idempotency_key_in_use`", body = ErrorBody),
    )
)]
pub async fn update_patient(
    auth: Auth<WritePatients>,
    mut tx: Tx,
    Path(id): Path<i64>,
    Json(patch): Json<PatientPatch>,
) -> Result<Records<Patient>, ApiError> {
    Ok(Records(patients::update(&mut tx, auth.organization_id, id, patch).await?))
}
