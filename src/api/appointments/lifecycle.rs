//! The lifecycle endpoints: confirm, cancel, reschedule, no-show. Each is one call to
//! `domain::appointments`, whose state machine holds the rules.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::api::route::Demands;
use crate::auth::permissions::WriteAppointments;
use crate::domain::appointments::{self, Appointment, CancelRequest, RescheduleRequest};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{parse_json, Auth, Json, Path};
use crate::http::response::Records;
use crate::http::tx::Tx;

/// A JSON body that may be left out: an empty body reads as `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidJson("Could not read the request body".into())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

// A body demands no permission of the key.
impl<T> Demands for OptionalJson<T> {}

/// An empty body (or `{}`), for transitions that take no input.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

/// Confirm an appointment
///
/// scheduled → confirmed; records `appointment.confirmed`. From any other status: `409
/// invalid_state_transition`, nothing changes. No body (or `{}`).
#[utoipa::path(
    post,
    path = "/api/v1/appointments/{id}/confirm",
    tag = "Appointments",
    params(("id" = i64, Path, description = "Appointment id")),
    responses(
        (status = 200, description = "The confirmed appointment", body = Appointment),
        (status = 400, description = "A body with fields", body = ErrorBody),
        (status = 404, description = "No such appointment in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`, or `idempotency_key_in_use`", body = ErrorBody),
    )
)]
pub async fn confirm_appointment(
    auth: Auth<WriteAppointments>,
    mut tx: Tx,
    Path(id): Path<i64>,
    OptionalJson(NoInput {}): OptionalJson<NoInput>,
) -> Result<Records<Appointment>, ApiError> {
    Ok(Records(appointments::confirm(&mut tx, auth.organization_id, id).await?))
}

/// Cancel an appointment
///
/// scheduled or confirmed → cancelled; the optional `reason` is kept as
/// `cancellationReason`; records `appointment.cancelled`. The slot becomes free. From any
/// other status: `409 invalid_state_transition`, nothing changes.
#[utoipa::path(
    post,
    path = "/api/v1/appointments/{id}/cancel",
    tag = "Appointments",
    params(("id" = i64, Path, description = "Appointment id")),
    request_body(content = Option<CancelRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The cancelled appointment", body = Appointment),
        (status = 400, description = "Malformed JSON or invalid fields", body = ErrorBody),
        (status = 404, description = "No such appointment in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`, or `idempotency_key_in_use`", body = ErrorBody),
    )
)]
pub async fn cancel_appointment(
    auth: Auth<WriteAppointments>,
    mut tx: Tx,
    Path(id): Path<i64>,
    OptionalJson(body): OptionalJson<CancelRequest>,
) -> Result<Records<Appointment>, ApiError> {
    Ok(Records(appointments::cancel(&mut tx, auth.organization_id, id, &body).await?))
}

/// Reschedule an appointment
///
/// Moves a scheduled or confirmed appointment to `startsAt` with `endsAt` or
/// `durationMinutes` (same rules as booking). The status becomes `scheduled` again: a
/// confirmation was for the old time, so confirm again once the patient agrees. Records
/// `appointment.rescheduled`. Overlapping another active appointment or a live hold of the
/// provider: `409 slot_unavailable`; from any other status: `409 invalid_state_transition`; in both
/// cases nothing changes.
#[utoipa::path(
    post,
    path = "/api/v1/appointments/{id}/reschedule",
    tag = "Appointments",
    params(("id" = i64, Path, description = "Appointment id")),
    request_body = RescheduleRequest,
    responses(
        (status = 200, description = "The rescheduled appointment", body = Appointment),
        (status = 400, description = "Malformed JSON or invalid fields, with `details`", body = ErrorBody),
        (status = 404, description = "No such appointment in this organization", body = ErrorBody),
        (status = 409, description = "`slot_unavailable`, `invalid_state_transition`, or `idempotency_key_in_use`", body = ErrorBody),
    )
)]
pub async fn reschedule_appointment(
    auth: Auth<WriteAppointments>,
    mut tx: Tx,
    Path(id): Path<i64>,
    Json(body): Json<RescheduleRequest>,
) -> Result<Records<Appointment>, ApiError> {
    Ok(Records(appointments::reschedule(&mut tx, auth.organization_id, id, &body).await?))
}

/// Mark an appointment as a no-show
///
/// scheduled or confirmed → no_show; records `appointment.no_show`. From any other status:
/// `409 invalid_state_transition`, nothing changes. No body (or `{}`).
#[utoipa::path(
    post,
    path = "/api/v1/appointments/{id}/no-show",
    tag = "Appointments",
    params(("id" = i64, Path, description = "Appointment id")),
    responses(
        (status = 200, description = "The appointment, now `no_show`", body = Appointment),
        (status = 400, description = "A body with fields", body = ErrorBody),
        (status = 404, description = "No such appointment in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`, or `idempotency_key_in_use`", body = ErrorBody),
    )
)]
pub async fn no_show_appointment(
    auth: Auth<WriteAppointments>,
    mut tx: Tx,
    Path(id): Path<i64>,
    OptionalJson(NoInput {}): OptionalJson<NoInput>,
) -> Result<Records<Appointment>, ApiError> {
    Ok(Records(appointments::no_show(&mut tx, auth.organization_id, id).await?))
}
