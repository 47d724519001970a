//! Consultations: started from an appointment, ended with it; their SOAP notes and
//! prescriptions. `model` holds the consultation and its state machine, `lifecycle` its start
//! and end, `read` its list; `soap_notes` and `prescriptions` each hold their record, rules
//! and SQL (a note's versions and their transitions in `soap_notes/`).

pub mod lifecycle;
pub mod model;
pub mod prescriptions;
pub mod read;
pub mod soap_notes;

pub use lifecycle::{end, start};
pub use model::{Consultation, ConsultationDetail, ConsultationStatus};
pub use prescriptions::{NewPrescription, Prescription};
pub use read::{list, ListFilter};
pub use soap_notes::{NewSoapNote, SoapNote, SoapNoteDetail};
