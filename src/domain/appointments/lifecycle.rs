//! The lifecycle writes a client asks for: confirm, cancel, reschedule, no-show. Each checks
//! its input and is one call to [`transitions::apply`], which holds the rules and records the
//! event. Completing is [`transitions::complete`], done by ending a consultation.

use sqlx::PgConnection;
use uuid::Uuid;

use super::model::Appointment;
use super::transitions::{self, Change, Transition};
use super::validate::{CancelRequest, RescheduleRequest};
use crate::domain::Result;

/// scheduled → confirmed; records `appointment.confirmed`.
pub async fn confirm(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Appointment> {
    transitions::apply(conn, org, id, Transition::Confirm, Change::default()).await
}

/// scheduled or confirmed → cancelled, keeping the reason; records `appointment.cancelled`.
pub async fn cancel(conn: &mut PgConnection, org: Uuid, id: i64, input: &CancelRequest) -> Result<Appointment> {
    let change = Change { cancellation_reason: input.validate()?, ..Change::default() };
    transitions::apply(conn, org, id, Transition::Cancel, change).await
}

/// scheduled or confirmed → scheduled at the new times; records `appointment.rescheduled`.
pub async fn reschedule(conn: &mut PgConnection, org: Uuid, id: i64, input: &RescheduleRequest) -> Result<Appointment> {
    let change = Change { times: Some(input.validate()?), ..Change::default() };
    transitions::apply(conn, org, id, Transition::Reschedule, change).await
}

/// scheduled or confirmed → no_show; records `appointment.no_show`.
pub async fn no_show(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Appointment> {
    transitions::apply(conn, org, id, Transition::NoShow, Change::default()).await
}
