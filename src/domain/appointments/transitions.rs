//! The appointment lifecycle: the one definition of which transitions are legal, and the one
//! function that performs them.
//!
//! ```text
//! scheduled ──confirm──▶ confirmed
//! scheduled | confirmed ──cancel──▶ cancelled
//! scheduled | confirmed ──reschedule──▶ scheduled   (new times; a confirmation was for the old time)
//! scheduled | confirmed ──no-show──▶ no_show
//! scheduled | confirmed ──complete──▶ completed     (only by ending the consultation)
//! ```
//! `cancelled`, `completed` and `no_show` are final. Anything else is
//! [`Error::InvalidStateTransition`] and changes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::Appointment;
use crate::domain::{Error, Result};
use crate::events::{self, EventType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Scheduled,
    Confirmed,
    Cancelled,
    Completed,
    NoShow,
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 5] = [
        AppointmentStatus::Scheduled,
        AppointmentStatus::Confirmed,
        AppointmentStatus::Cancelled,
        AppointmentStatus::Completed,
        AppointmentStatus::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Scheduled => "scheduled",
            AppointmentStatus::Confirmed => "confirmed",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::Completed => "completed",
            AppointmentStatus::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Option<AppointmentStatus> {
        AppointmentStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Active appointments hold their slot (the exclusion constraint covers exactly these).
    pub fn is_active(self) -> bool {
        matches!(self, AppointmentStatus::Scheduled | AppointmentStatus::Confirmed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Confirm,
    Cancel,
    Reschedule,
    NoShow,
    Complete,
}

impl Transition {
    pub const ALL: [Transition; 5] =
        [Transition::Confirm, Transition::Cancel, Transition::Reschedule, Transition::NoShow, Transition::Complete];

    /// THE rule: the statuses a transition may start from, and where it leads.
    pub fn rule(self) -> (&'static [AppointmentStatus], AppointmentStatus) {
        use AppointmentStatus::*;
        match self {
            Transition::Confirm => (&[Scheduled], Confirmed),
            Transition::Cancel => (&[Scheduled, Confirmed], Cancelled),
            Transition::Reschedule => (&[Scheduled, Confirmed], Scheduled),
            Transition::NoShow => (&[Scheduled, Confirmed], NoShow),
            Transition::Complete => (&[Scheduled, Confirmed], Completed),
        }
    }

    pub fn allowed_from(self) -> &'static [AppointmentStatus] {
        self.rule().0
    }

    pub fn target(self) -> AppointmentStatus {
        self.rule().1
    }

    pub fn is_legal_from(self, from: AppointmentStatus) -> bool {
        self.allowed_from().contains(&from)
    }

    pub fn event(self) -> EventType {
        match self {
            Transition::Confirm => EventType::AppointmentConfirmed,
            Transition::Cancel => EventType::AppointmentCancelled,
            Transition::Reschedule => EventType::AppointmentRescheduled,
            Transition::NoShow => EventType::AppointmentNoShow,
            Transition::Complete => EventType::AppointmentCompleted,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Transition::Confirm => "confirm",
            Transition::Cancel => "cancel",
            Transition::Reschedule => "reschedule",
            Transition::NoShow => "mark as no-show",
            Transition::Complete => "complete",
        }
    }
}

/// Is there a transition from `from` to `to`?
pub fn can_transition(from: AppointmentStatus, to: AppointmentStatus) -> bool {
    Transition::ALL.into_iter().any(|t| t.target() == to && t.is_legal_from(from))
}

/// What a transition changes besides the status.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Stored as `cancellationReason` by `Cancel`.
    pub cancellation_reason: Option<String>,
    /// The new `(startsAt, endsAt)` of `Reschedule`.
    pub times: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Performs `transition` on one appointment in a single guarded `UPDATE` (so two concurrent
/// transitions cannot both win) and records its event, inside the caller's transaction.
/// Not in the organization: [`Error::NotFound`]. In a status the transition does not start
/// from: [`Error::InvalidStateTransition`], nothing changed. New times that overlap another
/// active appointment of the provider fail on the exclusion constraint `appointments_no_overlap`.
pub async fn apply(
    conn: &mut PgConnection,
    org: Uuid,
    id: i64,
    transition: Transition,
    change: Change,
) -> Result<Appointment> {
    let (from, to) = transition.rule();
    let from: Vec<String> = from.iter().map(|s| s.as_str().to_string()).collect();
    let (starts_at, ends_at) = change.times.unzip();
    let updated = sqlx::query_as!(
        Appointment,
        "UPDATE appointments
         SET status = $3,
             cancellation_reason = CASE WHEN $3 = 'cancelled' THEN $5 ELSE cancellation_reason END,
             starts_at = coalesce($6, starts_at),
             ends_at = coalesce($7, ends_at)
         WHERE organization_id = $1 AND id = $2 AND status = ANY($4)
         RETURNING id, patient_id, provider_id, location_id, starts_at, ends_at, status, reason,
                   cancellation_reason, created_at, updated_at",
        org,
        id,
        to.as_str(),
        &from,
        change.cancellation_reason,
        starts_at,
        ends_at,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(appointment) = updated else {
        let status =
            sqlx::query_scalar!("SELECT status FROM appointments WHERE organization_id = $1 AND id = $2", org, id)
                .fetch_optional(&mut *conn)
                .await?;
        return Err(match status {
            None => Error::NotFound("Appointment"),
            Some(status) => Error::transition(format!(
                "Cannot {} an appointment that is {status}; allowed from: {}",
                transition.verb(),
                transition.allowed_from().iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )),
        });
    };
    events::record(conn, org, transition.event(), &appointment).await?;
    tracing::info!(appointment_id = id, status = to.as_str(), "appointment transitioned");
    Ok(appointment)
}

/// Completes an appointment (scheduled or confirmed → completed) and records
/// `appointment.completed`, in the caller's transaction. For ending a consultation, which
/// records `consultation.ended` first and then calls this.
pub async fn complete(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Appointment> {
    apply(conn, org, id, Transition::Complete, Change::default()).await
}

#[cfg(test)]
mod tests {
    use super::AppointmentStatus::*;
    use super::*;

    #[test]
    fn the_legal_transitions_are_exactly_these() {
        let legal = [
            (Scheduled, Confirmed),
            (Scheduled, Cancelled),
            (Confirmed, Cancelled),
            (Scheduled, Scheduled), // reschedule
            (Confirmed, Scheduled), // reschedule
            (Scheduled, NoShow),
            (Confirmed, NoShow),
            (Scheduled, Completed),
            (Confirmed, Completed),
        ];
        for from in AppointmentStatus::ALL {
            for to in AppointmentStatus::ALL {
                assert_eq!(can_transition(from, to), legal.contains(&(from, to)), "{from:?} → {to:?}");
            }
        }
    }

    #[test]
    fn final_states_allow_nothing() {
        for from in [Cancelled, Completed, NoShow] {
            assert!(!from.is_active());
            for t in Transition::ALL {
                assert!(!t.is_legal_from(from), "{t:?} from {from:?}");
            }
        }
    }

    #[test]
    fn confirming_twice_is_illegal() {
        assert!(Transition::Confirm.is_legal_from(Scheduled));
        assert!(!Transition::Confirm.is_legal_from(Confirmed));
    }

    #[test]
    fn statuses_round_trip() {
        for s in AppointmentStatus::ALL {
            assert_eq!(AppointmentStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(AppointmentStatus::parse("noshow"), None);
    }
}
