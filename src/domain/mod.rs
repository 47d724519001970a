//! The clinic's records below every front door (the REST API, clinic set-up, the demo seed, the
//! benchmark, and those to come): their types, their SQL, their rules and state machines. A
//! front door extracts what its client sent, calls in here and shapes the answer; nothing here
//! knows of HTTP, and nothing here imports `http` or `api`. Every function is scoped by
//! organization: another organization's id is [`Error::NotFound`].

pub mod accounts;
pub mod address;
pub mod appointments;
pub mod audit_log;
pub mod availability;
pub mod consultations;
pub mod error;
pub mod event_log;
pub mod holds;
pub mod intake;
pub mod locations;
pub mod organizations;
pub mod page;
pub mod patients;
pub mod providers;
pub mod search_text;
pub mod slots;
pub mod text;
pub mod webhooks;

pub use address::Address;
pub use error::{Error, FieldError, Result};
pub use page::{Page, PageRequest};
