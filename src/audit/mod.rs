//! The access audit log: who read or changed which patient record, when, from where, with which
//! outcome — never the record's content. What a response disclosed, the batched writer, and the
//! log's partitions and retention live here; the HTTP layer that builds entries from requests
//! is `http::layers::audit`.

pub mod disclosure;
pub mod partitions;
mod sink;

pub use disclosure::{Disclose, Disclosure, RecordType};
pub use sink::{AuditEntry, AuditSink, QUEUE_CAPACITY};
