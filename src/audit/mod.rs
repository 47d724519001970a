//! The access audit log: who read or changed which patient record, when, from where, with which
//! outcome — never the record's content.

mod classify;
pub mod disclosure;
pub mod middleware;
mod sink;

pub use disclosure::{Disclose, Disclosure, RecordType};
pub use sink::{AuditEntry, AuditSink, QUEUE_CAPACITY};
