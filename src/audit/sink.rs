//! The audit log's write path: entries are queued in memory and written in batches by a
//! background task, so auditing adds no database round trip to a request. The queue is
//! bounded; the writer drains it on graceful shutdown. A crash loses at most what was queued
//! since the last batch: the writer writes whatever is queued every ~20 ms, so at most the entries
//! of the last few tens of milliseconds (and never more than `QUEUE_CAPACITY`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use uuid::Uuid;

pub const QUEUE_CAPACITY: usize = 10_000;
const BATCH: usize = 5_000;
/// While entries keep coming, the writer writes at most once per this.
const GATHER: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub organization_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub key_prefix: Option<String>,
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: Option<i64>,
    /// The records of this type the response showed besides `resource_id`, in order: a list's
    /// page, or what another record embedded.
    pub resource_ids: Option<Vec<i64>>,
    pub status: u16,
    pub request_id: String,
    pub client_address: Option<String>,
    /// Method and route template (`GET /api/v1/events/{id}`): never the path or the query.
    pub route: String,
}

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditEntry>,
    rx: Arc<Mutex<Option<mpsc::Receiver<AuditEntry>>>>,
}

impl Default for AuditSink {
    fn default() -> Self {
        Self::new()
    }
}

impl AuditSink {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        AuditSink { tx, rx: Arc::new(Mutex::new(Some(rx))) }
    }

    /// Entries queued and not yet written (the `klinivo_audit_queue_entries` gauge).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Queues an entry. Normally this does not wait; when the writer has fallen
    /// `QUEUE_CAPACITY` entries behind, the request waits for room rather than losing its entry:
    /// under sustained overload responses slow down to the audit log's pace, and nothing goes
    /// unrecorded. Only a closed queue (the server is stopping) loses an entry, and says so.
    pub async fn record(&self, entry: AuditEntry) {
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(entry)) => {
                if self.tx.send(entry).await.is_err() {
                    tracing::error!("audit queue closed: an audit entry was dropped");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("audit queue closed: an audit entry was dropped");
            }
        }
    }

    /// Writes queued entries in batches until `shutdown`, then drains what is left.
    pub async fn run_writer(self, db: sqlx::PgPool, shutdown: tokio_util::sync::CancellationToken) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let mut buf = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut buf, BATCH) => { if n == 0 { break; } }
                _ = shutdown.cancelled() => {
                    while let Ok(e) = rx.try_recv() { buf.push(e); }
                    write_batch(&db, &mut buf, &shutdown).await;
                    break;
                }
            }
            let started = tokio::time::Instant::now();
            write_batch(&db, &mut buf, &shutdown).await;
            // At most one write per GATHER while entries keep coming, so that a busy server
            // writes a few hundred entries per INSERT rather than a score, at less of
            // PostgreSQL's time per entry (bench/README.md, "Audit batches"). The first entry
            // after a quiet spell is written at once, and so is a queue that has fallen behind.
            if rx.len() < BATCH / 2 {
                tokio::time::sleep_until(started + GATHER).await;
            }
        }
    }
}

/// Writes `buf`, retrying for as long as the database refuses (an outage must not lose the
/// entries of the reads made before it; meanwhile the queue fills and requests wait for room).
/// Once the server is stopping, it gives up after a few more attempts.
async fn write_batch(db: &sqlx::PgPool, buf: &mut Vec<AuditEntry>, shutdown: &tokio_util::sync::CancellationToken) {
    while !buf.is_empty() {
        let take = buf.len().min(BATCH);
        let batch: Vec<AuditEntry> = buf.drain(..take).collect();
        let mut attempt: u64 = 0;
        let mut after_shutdown = 0;
        loop {
            match insert(db, &batch).await {
                Ok(()) => break,
                Err(e) if after_shutdown < 5 => {
                    attempt += 1;
                    if shutdown.is_cancelled() {
                        after_shutdown += 1;
                    }
                    tracing::warn!(error = %e, attempt, "audit write failed; retrying");
                    tokio::time::sleep(Duration::from_millis((200 * attempt).min(5_000))).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, lost = batch.len(), "audit entries could not be written");
                    break;
                }
            }
        }
    }
}

/// The batch's rows, written with `COPY`: PostgreSQL inserts them in groups rather than one by
/// one, at about 40 % less of its time per entry than an `INSERT … SELECT FROM unnest(…)` of the
/// same rows (bench/README.md, "Audit batches"). `COPY` is not a statement sqlx can check at
/// compile time; the columns are the table's, and the audit tests read every kind of entry back.
const COPY: &str = "COPY audit_events (organization_id, at, key_prefix, action, resource_type, resource_id, \
                    status, request_id, client_address, resource_ids, route) FROM STDIN";

async fn insert(db: &sqlx::PgPool, batch: &[AuditEntry]) -> Result<(), sqlx::Error> {
    use sqlx::postgres::PgPoolCopyExt;
    let rows = copy_rows(batch);
    let mut copy = db.copy_in_raw(COPY).await?;
    if let Err(e) = copy.send(rows).await {
        let _ = copy.abort("the audit batch could not be sent").await;
        return Err(e);
    }
    copy.finish().await?;
    Ok(())
}

/// The batch in `COPY`'s text format: a line per entry, tab-separated, `\N` for null.
fn copy_rows(batch: &[AuditEntry]) -> Vec<u8> {
    use std::fmt::Write;
    let mut out = String::with_capacity(batch.len() * 160);
    for e in batch {
        match e.organization_id {
            Some(org) => write!(out, "{org}").expect("writing to a string"),
            None => out.push_str("\\N"),
        }
        out.push('\t');
        write!(out, "{}", e.at.format("%Y-%m-%d %H:%M:%S%.6f+00")).expect("writing to a string");
        out.push('\t');
        copy_text(&mut out, e.key_prefix.as_deref());
        out.push('\t');
        copy_text(&mut out, Some(e.action));
        out.push('\t');
        copy_text(&mut out, Some(e.resource_type));
        out.push('\t');
        match e.resource_id {
            Some(id) => write!(out, "{id}").expect("writing to a string"),
            None => out.push_str("\\N"),
        }
        out.push('\t');
        write!(out, "{}", e.status).expect("writing to a string");
        out.push('\t');
        copy_text(&mut out, Some(&e.request_id));
        out.push('\t');
        copy_text(&mut out, e.client_address.as_deref());
        out.push('\t');
        match &e.resource_ids {
            Some(ids) => out.push_str(&array_literal(ids)),
            None => out.push_str("\\N"),
        }
        out.push('\t');
        copy_text(&mut out, Some(&e.route));
        out.push('\n');
    }
    out.into_bytes()
}

/// A text value as `COPY` reads it: backslash, tab and line breaks escaped; a NUL character,
/// which PostgreSQL's text cannot hold, replaced rather than failing the whole batch.
fn copy_text(out: &mut String, value: Option<&str>) {
    let Some(value) = value else {
        out.push_str("\\N");
        return;
    };
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
}

/// `{1,2,3}`: a bigint array in PostgreSQL's text form.
fn array_literal(ids: &[i64]) -> String {
    let mut text = String::with_capacity(2 + ids.len() * 8);
    text.push('{');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&id.to_string());
    }
    text.push('}');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals() {
        assert_eq!(array_literal(&[]), "{}");
        assert_eq!(array_literal(&[7]), "{7}");
        assert_eq!(array_literal(&[1, -2, 9_007_199_254_740_993]), "{1,-2,9007199254740993}");
    }

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_a_line() {
        let mut out = String::new();
        copy_text(&mut out, Some("a\tb\nc\rd\\e\0f"));
        assert_eq!(out, "a\\tb\\nc\\rd\\\\e\u{fffd}f");
        out.clear();
        copy_text(&mut out, None);
        assert_eq!(out, "\\N");
    }

    #[test]
    fn copy_rows_are_one_line_of_eleven_fields_each() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:11:12.345678Z").unwrap().with_timezone(&Utc);
        let entry = AuditEntry {
            organization_id: None,
            at,
            key_prefix: Some("kv_abcdefgh".into()),
            action: "list",
            resource_type: "patient",
            resource_id: None,
            resource_ids: Some(vec![3, 4]),
            status: 200,
            request_id: "req\tid".into(),
            client_address: None,
            route: "GET /api/v1/patients".into(),
        };
        let rows = String::from_utf8(copy_rows(&[entry.clone(), entry])).unwrap();
        let line = "\\N\t2026-12-07 10:11:12.345678+00\tkv_abcdefgh\tlist\tpatient\t\\N\t200\treq\\tid\t\\N\t{3,4}\tGET /api/v1/patients\n";
        assert_eq!(rows, format!("{line}{line}"));
    }
}
