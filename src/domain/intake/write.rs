//! Creating an intake form.

use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::IntakeForm;
use crate::domain::text::required_text;
use crate::domain::{Error, FieldError, Result};

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

/// Creates a `pending` form. An unknown `patientId`, or an `appointmentId` that is not that
/// patient's, is [`Error::Invalid`] naming the field.
pub async fn create(conn: &mut PgConnection, org: Uuid, input: &NewIntakeForm) -> Result<IntakeForm> {
    let mut details = Vec::new();
    let form_type = required_text(&mut details, "formType", &input.form_type, MAX_FORM_TYPE_CHARS);
    let patient_known = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM patients WHERE organization_id = $1 AND id = $2) AS "known!""#,
        org,
        input.patient_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if !patient_known {
        details.push(FieldError::new("patientId", "no patient with this id in the organization"));
    }
    if let Some(appointment_id) = input.appointment_id {
        let owner = sqlx::query_scalar!(
            "SELECT patient_id FROM appointments WHERE organization_id = $1 AND id = $2",
            org,
            appointment_id
        )
        .fetch_optional(&mut *conn)
        .await?;
        match owner {
            None => details.push(FieldError::new("appointmentId", "no appointment with this id in the organization")),
            Some(owner) if patient_known && owner != input.patient_id => {
                details.push(FieldError::new("appointmentId", "is an appointment of another patient"))
            }
            Some(_) => {}
        }
    }
    if !details.is_empty() {
        return Err(Error::Invalid(details));
    }
    let form = sqlx::query_as!(
        IntakeForm,
        "INSERT INTO intake_forms (organization_id, patient_id, appointment_id, form_type)
         VALUES ($1, $2, $3, $4)
         RETURNING id, patient_id, appointment_id, form_type, status, answers, started_at, completed_at, created_at,
                   updated_at",
        org,
        input.patient_id,
        input.appointment_id,
        form_type
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(form)
}
