//! Slot holds: a slot kept for one provider for a few minutes while a patient fills in a
//! booking form, then booked exactly (`appointments::book` with `holdId`) or released.
//!
//! ```text
//! held ──book──▶ booked
//! held ──release──▶ released
//! held, past expiresAt  reads as  expired   (computed when read; never written)
//! ```
//! A held hold claims its slot in `slot_claims` (migration 0077), whose exclusion constraint
//! keeps it apart from active appointments and other live holds; an expired hold's claim is
//! deleted by the next writer that overlaps it, so no sweeper has to run.

mod model;
mod validate;
mod write;

pub use model::{get, AppointmentHold, HoldStatus};
pub use validate::{NewAppointmentHold, DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS};
pub use write::{create, mark_booked, release, take_for_booking};
