//! Appointments: the record, booking, the list, and the lifecycle (`transitions` holds the
//! state machine; ending a consultation completes its appointment through
//! [`transitions::complete`]).

mod book;
mod held;
mod lifecycle;
mod list;
mod model;
pub mod transitions;
mod validate;

pub use book::book;
pub(crate) use book::check_references;
pub use lifecycle::{cancel, confirm, no_show, reschedule};
pub use list::{list, ListFilter};
pub use model::{get, Appointment, Booking};
pub use transitions::{complete, AppointmentStatus};
pub(crate) use validate::slot;
pub use validate::{parse_timestamp, CancelRequest, NewAppointment, RescheduleRequest};
