//! The access audit log: who read or changed which patient record, when, from where, with which
//! outcome — never the record's content. What a response disclosed and the batched writer live
//! here; the HTTP layer that builds entries from requests is `http::layers::audit`.

pub mod disclosure;
mod sink;

pub use disclosure::{Disclose, Disclosure, RecordType};
pub use sink::{AuditEntry, AuditSink, QUEUE_CAPACITY};
