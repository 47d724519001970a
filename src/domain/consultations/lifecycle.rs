//! Starting a consultation from an appointment, and ending it.

use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{self, ConsultationDetail, ConsultationStatus, ACTIVE_APPOINTMENT_STATUSES};
use crate::domain::{appointments, Error, Result};
use crate::events::{self, EventType};

const ALREADY_STARTED: &str = "This appointment already has a consultation";

/// Starts the one consultation of a scheduled or confirmed appointment, with the appointment's
/// patient and provider, in the caller's transaction. No such appointment:
/// [`Error::NotFound`]; one that already has a consultation: [`Error::Conflict`] (a concurrent
/// start that passes the check loses on the unique constraint
/// `consultations_one_per_appointment`, which the front door maps to the same conflict); any
/// other appointment status: [`Error::InvalidStateTransition`].
pub async fn start(conn: &mut PgConnection, org: Uuid, appointment_id: i64) -> Result<ConsultationDetail> {
    // FOR SHARE: the appointment cannot be cancelled or completed under us.
    let appointment = sqlx::query!(
        r#"SELECT a.patient_id, a.provider_id, a.status,
                  EXISTS (SELECT 1 FROM consultations c WHERE c.appointment_id = a.id) AS "started!"
           FROM appointments a WHERE a.organization_id = $1 AND a.id = $2 FOR SHARE OF a"#,
        org,
        appointment_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound("Appointment"))?;
    if appointment.started {
        return Err(Error::Conflict(ALREADY_STARTED.into()));
    }
    if !ACTIVE_APPOINTMENT_STATUSES.contains(&appointment.status.as_str()) {
        return Err(Error::transition(format!(
            "A consultation starts from a scheduled or confirmed appointment; this one is {}",
            appointment.status
        )));
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO consultations (organization_id, appointment_id, patient_id, provider_id)
         VALUES ($1, $2, $3, $4) RETURNING id",
        org,
        appointment_id,
        appointment.patient_id,
        appointment.provider_id
    )
    .fetch_one(&mut *conn)
    .await?;
    reread(conn, org, id).await
}

/// Ends a consultation in progress (`in_progress → ended`), records `consultation.ended`, then
/// completes its appointment through the appointments' own state machine, which records
/// `appointment.completed` — all in the caller's transaction. An appointment cancelled or
/// marked no-show while the consultation ran keeps its status (what happened in the room is a
/// fact; the booking's fate is its own). Not in progress: [`Error::InvalidStateTransition`],
/// nothing changed.
pub async fn end(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<ConsultationDetail> {
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
    .fetch_optional(&mut *conn)
    .await?;
    if ended.is_none() {
        let current = model::require(conn, org, id).await?;
        return Err(Error::transition(format!(
            "Only a consultation in progress can end; this one is {}",
            current.status
        )));
    }
    let consultation = reread(conn, org, id).await?;
    events::record(conn, org, EventType::ConsultationEnded, &consultation).await?;
    match appointments::complete(conn, org, consultation.consultation.appointment_id).await {
        Ok(_) | Err(Error::InvalidStateTransition(_)) => Ok(consultation),
        Err(e) => Err(e),
    }
}

/// The consultation as `GET` shows it, inside the transaction that just wrote it.
async fn reread(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<ConsultationDetail> {
    model::fetch_detail(conn, org, id).await?.ok_or_else(|| Error::internal("consultation vanished"))
}
