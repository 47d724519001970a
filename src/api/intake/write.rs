//! Creating an intake form, and moving it through its lifecycle.

use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::answers;
use super::model::{self, IntakeForm, IntakeStatus};
use crate::api::common::NoBody;
use crate::auth::permissions::WritePatients;
use crate::domain::text::required_text;
use crate::events::{self, EventType};
use crate::http::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::http::extract::{self, Auth, Path};
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;

pub const MAX_FORM_TYPE_CHARS: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewIntakeForm {
    /// A patient of the organization.
    pub patient_id: i64,
    /// An appointment of that patient, if the form is for a visit.
    pub appointment_id: Option<i64>,
    /// What form this is; trimmed, 1–100 characters.
    #[schema(example = "new_patient_history")]
    pub form_type: String,
}

/// Create an intake form
///
/// Creates a `pending` form for a patient, optionally tied to one of that patient's
/// appointments. An unknown `patientId`, or an `appointmentId` that is not that patient's,
/// is `400 validation_error` naming the field.
#[utoipa::path(
    post,
    path = "/intake-forms",
    operation_id = "createIntakeForm",
    tag = "Intake forms",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("WRITE_PATIENTS"))),
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
    extract::Json(body): extract::Json<NewIntakeForm>,
) -> ApiResult<Records<Created<IntakeForm>>> {
    let org = auth.organization_id;
    let mut details = Vec::new();
    let form_type = required_text(&mut details, "formType", &body.form_type, MAX_FORM_TYPE_CHARS);
    let patient_known = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM patients WHERE organization_id = $1 AND id = $2) AS "known!""#,
        org,
        body.patient_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if !patient_known {
        details.push(FieldError::new("patientId", "no patient with this id in the organization"));
    }
    if let Some(appointment_id) = body.appointment_id {
        let owner = sqlx::query_scalar!(
            "SELECT patient_id FROM appointments WHERE organization_id = $1 AND id = $2",
            org,
            appointment_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        match owner {
            None => details.push(FieldError::new("appointmentId", "no appointment with this id in the organization")),
            Some(owner) if patient_known && owner != body.patient_id => {
                details.push(FieldError::new("appointmentId", "is an appointment of another patient"))
            }
            Some(_) => {}
        }
    }
    if !details.is_empty() {
        return Err(ApiError::from_details(details));
    }
    let form = sqlx::query_as!(
        IntakeForm,
        "INSERT INTO intake_forms (organization_id, patient_id, appointment_id, form_type)
         VALUES ($1, $2, $3, $4)
         RETURNING id, patient_id, appointment_id, form_type, status, answers, started_at, completed_at, created_at,
                   updated_at",
        org,
        body.patient_id,
        body.appointment_id,
        form_type
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Records(Created { location: format!("/api/v1/intake-forms/{}", form.id), body: form }))
}

/// Start an intake form
///
/// `pending → started`; sets `startedAt` and records `intake.started`. Any other status is
/// `409 invalid_state_transition`, and nothing changes. No body, or `{}`.
#[utoipa::path(
    post,
    path = "/intake-forms/{id}/start",
    operation_id = "startIntakeForm",
    tag = "Intake forms",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("WRITE_PATIENTS"))),
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
    let org = auth.organization_id;
    let to = IntakeStatus::Started;
    let form = sqlx::query_as!(
        IntakeForm,
        "UPDATE intake_forms SET status = $3, started_at = now()
         WHERE organization_id = $1 AND id = $2 AND status = ANY($4)
         RETURNING id, patient_id, appointment_id, form_type, status, answers, started_at, completed_at, created_at,
                   updated_at",
        org,
        id,
        to.as_str(),
        &IntakeStatus::allowed_from(to)
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(form) = form else {
        return Err(refused(&mut tx, org, id, to).await);
    };
    events::record(&mut tx, org, EventType::IntakeStarted, &form).await?;
    Ok(Records(form))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteIntakeForm {
    /// The patient's answers: a JSON object of at most 256 KiB serialized, nested at most 10
    /// levels, with at most 5,000 values and keys of at most 200 characters.
    #[schema(value_type = Object, example = json!({"allergies": ["penicillin"], "smoker": false}))]
    pub answers: serde_json::Value,
}

/// Complete an intake form
///
/// `started → completed` with the patient's answers; sets `completedAt` and records
/// `intake.completed`. Completing a form that is pending (never started) or already completed
/// is `409 invalid_state_transition`, and nothing changes.
#[utoipa::path(
    post,
    path = "/intake-forms/{id}/complete",
    operation_id = "completeIntakeForm",
    tag = "Intake forms",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("WRITE_PATIENTS"))),
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
    extract::Json(body): extract::Json<CompleteIntakeForm>,
) -> ApiResult<Records<IntakeForm>> {
    answers::check(&body.answers).map_err(|message| ApiError::validation("answers", message))?;
    let org = auth.organization_id;
    let to = IntakeStatus::Completed;
    let form = sqlx::query_as!(
        IntakeForm,
        "UPDATE intake_forms SET status = $3, answers = $5, completed_at = now()
         WHERE organization_id = $1 AND id = $2 AND status = ANY($4)
         RETURNING id, patient_id, appointment_id, form_type, status, answers, started_at, completed_at, created_at,
                   updated_at",
        org,
        id,
        to.as_str(),
        &IntakeStatus::allowed_from(to),
        body.answers
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(form) = form else {
        return Err(refused(&mut tx, org, id, to).await);
    };
    events::record(&mut tx, org, EventType::IntakeCompleted, &form).await?;
    Ok(Records(form))
}

/// Why a transition matched no row: the form does not exist (404) or is in the wrong state (409).
async fn refused(conn: &mut PgConnection, org: Uuid, id: i64, to: IntakeStatus) -> ApiError {
    match model::fetch(conn, org, id).await {
        Err(e) => e.into(),
        Ok(None) => ApiError::NotFound("Intake form"),
        Ok(Some(form)) => {
            ApiError::transition(format!("An intake form that is {} cannot become {}", form.status, to.as_str()))
        }
    }
}
