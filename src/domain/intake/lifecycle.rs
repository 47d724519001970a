//! Moving an intake form through its lifecycle, each step with its event in the caller's
//! transaction. A step is one `UPDATE … WHERE status = ANY(allowed)`; only when it matches no
//! row is the form read again, to tell a missing form from one in the wrong state.

use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::answers;
use super::model::IntakeForm;
use super::read::fetch;
use super::status::IntakeStatus;
use crate::domain::{Error, Result};
use crate::events::{self, EventType};

/// `pending → started`: sets `startedAt` and records `intake.started`. Any other status is
/// [`Error::InvalidStateTransition`], and nothing changes.
pub async fn start(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<IntakeForm> {
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
    .fetch_optional(&mut *conn)
    .await?;
    let Some(form) = form else {
        return Err(refused(&mut *conn, org, id, to).await);
    };
    events::record(&mut *conn, org, EventType::IntakeStarted, &form).await?;
    Ok(form)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteIntakeForm {
    /// The patient's answers: a JSON object of at most 256 KiB serialized, nested at most 10
    /// levels, with at most 5,000 values and keys of at most 200 characters.
    #[schema(value_type = Object, example = json!({"allergies": ["penicillin"], "smoker": false}))]
    pub answers: serde_json::Value,
}

/// `started → completed` with the patient's answers: sets `completedAt` and records
/// `intake.completed`. A form that is pending (never started) or already completed is
/// [`Error::InvalidStateTransition`], and nothing changes.
pub async fn complete(conn: &mut PgConnection, org: Uuid, id: i64, input: CompleteIntakeForm) -> Result<IntakeForm> {
    answers::check(&input.answers).map_err(|message| Error::invalid("answers", message))?;
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
        input.answers
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(form) = form else {
        return Err(refused(&mut *conn, org, id, to).await);
    };
    events::record(&mut *conn, org, EventType::IntakeCompleted, &form).await?;
    Ok(form)
}

/// Why a transition matched no row: the form does not exist, or is in a state the transition
/// does not start from.
async fn refused(conn: &mut PgConnection, org: Uuid, id: i64, to: IntakeStatus) -> Error {
    match fetch(conn, org, id).await {
        Err(e) => e,
        Ok(None) => Error::NotFound("Intake form"),
        Ok(Some(form)) => {
            Error::transition(format!("An intake form that is {} cannot become {}", form.status, to.as_str()))
        }
    }
}
