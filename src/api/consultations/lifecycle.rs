//! `POST /appointments/{id}/consultation` and `POST /consultations/{id}/end`.

use crate::api::common::NoBody;
use crate::auth::permissions::WriteConsultations;
use crate::domain::consultations::{self, ConsultationDetail};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path};
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;

/// Start the consultation of an appointment
///
/// Starts the one consultation of a scheduled or confirmed appointment; its patient and
/// provider are the appointment's. An appointment has at most one consultation: a second start
/// is `409 conflict` (decided by a unique constraint, so two concurrent starts cannot both
/// win). Any other appointment status is `409 invalid_state_transition`. No body, or `{}`.
#[utoipa::path(
    post,
    path = "/api/v1/appointments/{id}/consultation",
    operation_id = "startConsultation",
    tag = "Consultations",
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
    let consultation = consultations::start(&mut tx, auth.organization_id, appointment_id).await?;
    let location = format!("/api/v1/consultations/{}", consultation.consultation.id);
    Ok(Records(Created { location, body: consultation }))
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
    path = "/api/v1/consultations/{id}/end",
    operation_id = "endConsultation",
    tag = "Consultations",
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
    Ok(Records(consultations::end(&mut tx, auth.organization_id, id).await?))
}
