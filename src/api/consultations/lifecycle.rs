//! Starting a consultation from an appointment, and ending it (which completes the appointment).

use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{self, ConsultationDetail, ConsultationStatus, ACTIVE_APPOINTMENT_STATUSES};
use crate::api::common::NoBody;
use crate::auth::permissions::WriteConsultations;
use crate::domain::appointments;
use crate::events::{self, EventType};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path};
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;

const ALREADY_STARTED: &str = "This appointment already has a consultation";

/// Start the consultation of an appointment
///
/// Starts the one consultation of a scheduled or confirmed appointment; its patient and
/// provider are the appointment's. An appointment has at most one consultation: a second start
/// is `409 conflict` (decided by a unique constraint, so two concurrent starts cannot both
/// win). Any other appointment status is `409 invalid_state_transition`. No body, or `{}`.
#[utoipa::path(
    post,
    path = "/appointments/{id}/consultation",
    operation_id = "startConsultation",
    tag = "Consultations",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("WRITE_CONSULTATIONS"))),
    params(("id" = i64, Path, description = "The appointment's id")),
    responses(
        (status = 201, description = "Started; `Location` is the consultation's URL", body = ConsultationDetail,
         headers(("Location" = String, description = "/api/v1/consultations/{id}"))),
        (status = 400, description = "A body other than nothing or `{}`", body = ErrorBody),
        (status = 404, description = "No such appointment in this organization", body = ErrorBody),
        (status = 409, description = "`conflict`: the appointment already has a consultation; \
                                      `invalid_state_transition`: it is not scheduled or confirmed", body = ErrorBody),
    )
)]
pub async fn start(
    auth: Auth<WriteConsultations>,
    mut tx: Tx,
    Path(appointment_id): Path<i64>,
    _: NoBody,
) -> ApiResult<Records<Created<ConsultationDetail>>> {
    let org = auth.organization_id;
    // FOR SHARE: the appointment cannot be cancelled or completed under us.
    let appointment = sqlx::query!(
        r#"SELECT a.patient_id, a.provider_id, a.status,
                  EXISTS (SELECT 1 FROM consultations c WHERE c.appointment_id = a.id) AS "started!"
           FROM appointments a WHERE a.organization_id = $1 AND a.id = $2 FOR SHARE OF a"#,
        org,
        appointment_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound("Appointment"))?;
    if appointment.started {
        return Err(ApiError::Conflict(ALREADY_STARTED.into()));
    }
    if !ACTIVE_APPOINTMENT_STATUSES.contains(&appointment.status.as_str()) {
        return Err(ApiError::transition(format!(
            "A consultation starts from a scheduled or confirmed appointment; this one is {}",
            appointment.status
        )));
    }
    // A concurrent start that got here too loses on `consultations_one_per_appointment` → 409.
    let id = sqlx::query_scalar!(
        "INSERT INTO consultations (organization_id, appointment_id, patient_id, provider_id)
         VALUES ($1, $2, $3, $4) RETURNING id",
        org,
        appointment_id,
        appointment.patient_id,
        appointment.provider_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let consultation = reread(&mut tx, org, id).await?;
    Ok(Records(Created { location: format!("/api/v1/consultations/{id}"), body: consultation }))
}

/// End a consultation
///
/// `in_progress → ended`. In the same transaction the appointment moves to `completed`, and
/// the events `consultation.ended` then `appointment.completed` are recorded. If the
/// appointment is no longer scheduled or confirmed (it was cancelled or marked no-show while
/// the consultation ran), the consultation still ends — what happened in the room is a fact —
/// but the appointment keeps its status and no `appointment.completed` is recorded. Ending a
/// consultation that has already ended is `409 invalid_state_transition`. No body, or `{}`.
#[utoipa::path(
    post,
    path = "/consultations/{id}/end",
    operation_id = "endConsultation",
    tag = "Consultations",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("WRITE_CONSULTATIONS"))),
    params(("id" = i64, Path, description = "The consultation's id")),
    responses(
        (status = 200, description = "Ended", body = ConsultationDetail),
        (status = 400, description = "A body other than nothing or `{}`", body = ErrorBody),
        (status = 404, description = "No such consultation in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`: the consultation is not in progress", body = ErrorBody),
    )
)]
pub async fn end(
    auth: Auth<WriteConsultations>,
    mut tx: Tx,
    Path(id): Path<i64>,
    _: NoBody,
) -> ApiResult<Records<ConsultationDetail>> {
    let org = auth.organization_id;
    let to = ConsultationStatus::Ended;
    let ended = sqlx::query_scalar!(
        "UPDATE consultations SET status = $3, ended_at = now()
         WHERE organization_id = $1 AND id = $2 AND status = ANY($4)
         RETURNING appointment_id",
        org,
        id,
        to.as_str(),
        &ConsultationStatus::allowed_from(to)
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(appointment_id) = ended else {
        let current = model::require(&mut tx, org, id).await?;
        return Err(ApiError::transition(format!(
            "Only a consultation in progress can end; this one is {}",
            current.status
        )));
    };
    let consultation = reread(&mut tx, org, id).await?;
    events::record(&mut tx, org, EventType::ConsultationEnded, &consultation).await?;
    // The appointments' own state machine completes the appointment and records
    // `appointment.completed` (after `consultation.ended`). An appointment that was cancelled or
    // marked no-show meanwhile keeps its status.
    match appointments::transitions::complete(&mut tx, org, appointment_id).await {
        Ok(_) | Err(crate::domain::Error::InvalidStateTransition(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Records(consultation))
}

/// The consultation as `GET` shows it, inside the transaction that just wrote it.
async fn reread(conn: &mut PgConnection, org: Uuid, id: i64) -> ApiResult<ConsultationDetail> {
    model::fetch_detail(conn, org, id).await?.ok_or_else(|| ApiError::internal("consultation vanished"))
}
