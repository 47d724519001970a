//! `POST /intake-forms`, and the transitions `…/start` and `…/complete`.

use crate::api::common::NoBody;
use crate::auth::permissions::WritePatients;
use crate::domain::intake::{self, CompleteIntakeForm, IntakeForm, NewIntakeForm};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Json, Path};
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;

/// Create an intake form
///
/// Creates a `pending` form for a patient, optionally tied to one of that patient's
/// appointments. An unknown `patientId`, or an `appointmentId` that is not that patient's,
/// is `400 validation_error` naming the field.
#[utoipa::path(
    post,
    path = "/api/v1/intake-forms",
    operation_id = "createIntakeForm",
    tag = "Intake forms",
    request_body = NewIntakeForm,
    responses(
        (status = 201, description = "Created; `Location` is the form's URL", body = IntakeForm,
         headers(("Location" = String, description = "/api/v1/intake-forms/{id}"))),
        (status = 400, description = "Invalid body", body = ErrorBody),
    )
)]
pub async fn create(
    auth: Auth<WritePatients>,
    mut tx: Tx,
    Json(body): Json<NewIntakeForm>,
) -> ApiResult<Records<Created<IntakeForm>>> {
    let form = intake::create(&mut tx, auth.organization_id, &body).await?;
    Ok(Records(Created { location: format!("/api/v1/intake-forms/{}", form.id), body: form }))
}

/// Start an intake form
///
/// `pending → started`; sets `startedAt` and records `intake.started`. Any other status is
/// `409 invalid_state_transition`, and nothing changes. No body, or `{}`.
#[utoipa::path(
    post,
    path = "/api/v1/intake-forms/{id}/start",
    operation_id = "startIntakeForm",
    tag = "Intake forms",
    params(("id" = i64, Path, description = "The intake form's id")),
    responses(
        (status = 200, description = "Started", body = IntakeForm),
        (status = 400, description = "A body other than nothing or `{}`", body = ErrorBody),
        (status = 404, description = "No such intake form in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`: the form is not pending", body = ErrorBody),
    )
)]
pub async fn start(
    auth: Auth<WritePatients>,
    mut tx: Tx,
    Path(id): Path<i64>,
    _: NoBody,
) -> ApiResult<Records<IntakeForm>> {
    Ok(Records(intake::start(&mut tx, auth.organization_id, id).await?))
}

/// Complete an intake form
///
/// `started → completed` with the patient's answers; sets `completedAt` and records
/// `intake.completed`. Completing a form that is pending (never started) or already completed
/// is `409 invalid_state_transition`, and nothing changes.
#[utoipa::path(
    post,
    path = "/api/v1/intake-forms/{id}/complete",
    operation_id = "completeIntakeForm",
    tag = "Intake forms",
    params(("id" = i64, Path, description = "The intake form's id")),
    request_body = CompleteIntakeForm,
    responses(
        (status = 200, description = "Completed", body = IntakeForm),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such intake form in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`: the form is not started", body = ErrorBody),
    )
)]
pub async fn complete(
    auth: Auth<WritePatients>,
    mut tx: Tx,
    Path(id): Path<i64>,
    Json(body): Json<CompleteIntakeForm>,
) -> ApiResult<Records<IntakeForm>> {
    Ok(Records(intake::complete(&mut tx, auth.organization_id, id, body).await?))
}
