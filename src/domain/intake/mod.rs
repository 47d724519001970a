//! Intake forms: created `pending` for a patient (and, if for a visit, one of their
//! appointments), started, completed with the patient's answers. The record, its state
//! machine, the rules on what is sent, its SQL and the events its transitions record.

pub mod answers;
mod lifecycle;
mod model;
mod read;
mod status;
mod write;

pub use lifecycle::{complete, start, CompleteIntakeForm};
pub use model::IntakeForm;
pub use read::{get, list, ListFilter};
pub use status::{parse_status_filter, IntakeStatus};
pub use write::{create, NewIntakeForm, MAX_FORM_TYPE_CHARS};
