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

async fn insert(db: &sqlx::PgPool, batch: &[AuditEntry]) -> Result<(), sqlx::Error> {
    let orgs: Vec<Option<Uuid>> = batch.iter().map(|e| e.organization_id).collect();
    let ats: Vec<DateTime<Utc>> = batch.iter().map(|e| e.at).collect();
    let prefixes: Vec<Option<String>> = batch.iter().map(|e| e.key_prefix.clone()).collect();
    let actions: Vec<String> = batch.iter().map(|e| e.action.to_string()).collect();
    let types: Vec<String> = batch.iter().map(|e| e.resource_type.to_string()).collect();
    let ids: Vec<Option<i64>> = batch.iter().map(|e| e.resource_id).collect();
    let statuses: Vec<i16> = batch.iter().map(|e| e.status as i16).collect();
    let request_ids: Vec<String> = batch.iter().map(|e| e.request_id.clone()).collect();
    let addrs: Vec<Option<String>> = batch.iter().map(|e| e.client_address.clone()).collect();
    let routes: Vec<String> = batch.iter().map(|e| e.route.clone()).collect();
    // A batch's lists have different lengths, and PostgreSQL's arrays are rectangular: each
    // list travels as its array literal (`{1,2,3}`) and is cast back per row.
    let lists: Vec<Option<String>> = batch.iter().map(|e| e.resource_ids.as_deref().map(array_literal)).collect();
    sqlx::query!(
        "INSERT INTO audit_events (organization_id, at, key_prefix, action, resource_type, resource_id, status,
                                   request_id, client_address, resource_ids, route)
         SELECT o, a, k, act, t, r, s, req, addr, ids::bigint[], rt
         FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                     $7::smallint[], $8::text[], $9::text[], $10::text[], $11::text[])
              AS u(o, a, k, act, t, r, s, req, addr, ids, rt)",
        &orgs as &[Option<Uuid>],
        &ats,
        &prefixes as &[Option<String>],
        &actions,
        &types,
        &ids as &[Option<i64>],
        &statuses,
        &request_ids,
        &addrs as &[Option<String>],
        &lists as &[Option<String>],
        &routes,
    )
    .execute(db)
    .await?;
    Ok(())
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
    use super::array_literal;

    #[test]
    fn array_literals() {
        assert_eq!(array_literal(&[]), "{}");
        assert_eq!(array_literal(&[7]), "{7}");
        assert_eq!(array_literal(&[1, -2, 9_007_199_254_740_993]), "{1,-2,9007199254740993}");
    }
}
