//! Writes the outcomes of webhook attempts, many per statement.
//!
//! Each attempt's outcome — the attempt row, the delivery's new state (only while the lease the
//! attempt was made under still holds) and, after the last retry, its dead letter — used to be
//! one statement and one commit (one WAL flush) per delivery, which capped delivery at the
//! disk's flush rate (bench/README.md). Attempts now queue their outcome here and wait; one task writes
//! whatever has queued in one statement, so under load a commit carries hundreds of outcomes,
//! and an idle system still writes each one at once. Each waiting attempt learns whether its
//! row was updated (no: its lease was lost, and the delivery will be attempted again).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

/// The most outcomes written in one statement.
const BATCH: usize = 500;

/// One attempt's outcome, waiting to be written.
pub struct Pending {
    pub id: i64,
    pub locked_until: DateTime<Utc>,
    pub attempt: i32,
    pub status: &'static str,
    pub retry_in: Option<f64>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
    pub duration_ms: i32,
    /// `Ok(true)`: written; `Ok(false)`: the lease was lost; `Err`: the database stayed away.
    pub reply: oneshot::Sender<Result<bool, String>>,
}

/// Starts the writer; it stops when every sender (every clone of the dispatcher) is gone, after
/// writing what is queued.
pub fn spawn(db: PgPool, lease: Duration) -> mpsc::Sender<Pending> {
    let (tx, mut rx) = mpsc::channel::<Pending>(4 * BATCH);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            let result = write_persistently(&db, &batch, lease).await;
            for p in batch.drain(..) {
                let reply = match &result {
                    Ok(updated) => Ok(updated.binary_search(&p.id).is_ok()),
                    Err(e) => Err(e.to_string()),
                };
                let _ = p.reply.send(reply);
            }
        }
    });
    tx
}

/// Retries through a brief database outage; if it lasts longer than a lease, the leases expire
/// and the deliveries are attempted again: at least once.
async fn write_persistently(db: &PgPool, batch: &[Pending], lease: Duration) -> Result<Vec<i64>, sqlx::Error> {
    let give_up = Instant::now() + lease;
    let mut pause = Duration::from_millis(100);
    loop {
        match write(db, batch).await {
            Ok(mut updated) => {
                updated.sort_unstable();
                return Ok(updated);
            }
            Err(e) if Instant::now() + pause < give_up => {
                tracing::warn!(error = %e, outcomes = batch.len(), "cannot record webhook attempts yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One statement, so one transaction: every attempt (kept even when its lease was lost), the
/// deliveries' new states where their leases hold, and the dead letters. Returns the ids of
/// the deliveries updated.
async fn write(db: &PgPool, batch: &[Pending]) -> Result<Vec<i64>, sqlx::Error> {
    let ids: Vec<i64> = batch.iter().map(|p| p.id).collect();
    let leases: Vec<DateTime<Utc>> = batch.iter().map(|p| p.locked_until).collect();
    let attempts: Vec<i32> = batch.iter().map(|p| p.attempt).collect();
    let statuses: Vec<String> = batch.iter().map(|p| p.status.to_string()).collect();
    let retry_in: Vec<Option<f64>> = batch.iter().map(|p| p.retry_in).collect();
    let codes: Vec<Option<i32>> = batch.iter().map(|p| p.status_code).collect();
    let errors: Vec<Option<String>> = batch.iter().map(|p| p.error.clone()).collect();
    let ats: Vec<DateTime<Utc>> = batch.iter().map(|p| p.at).collect();
    let durations: Vec<i32> = batch.iter().map(|p| p.duration_ms).collect();
    sqlx::query_scalar!(
        r#"WITH input AS (
               SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::int[], $4::text[], $5::float8[],
                                    $6::int[], $7::text[], $8::timestamptz[], $9::int[])
                   AS i(id, locked_until, attempt, status, retry_in, status_code, error, at, duration_ms)
               ORDER BY id
           ), updated AS (
               UPDATE webhook_deliveries d
               SET attempts = d.attempts + 1, cycle_attempts = d.cycle_attempts + 1, status = i.status,
                   next_attempt_at = CASE WHEN i.retry_in IS NULL THEN d.next_attempt_at
                                          ELSE clock_timestamp() + make_interval(secs => i.retry_in) END,
                   locked_until = NULL, last_status_code = i.status_code, last_error = i.error
               FROM input i
               WHERE d.id = i.id AND d.locked_until = i.locked_until
               RETURNING d.id, d.organization_id, d.webhook_id, d.event_id, d.attempts, i.status,
                         i.status_code, i.error
           ), attempt AS (
               -- Every attempt is kept, even one whose lease was lost meanwhile.
               INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
               SELECT i.id, i.attempt, i.at, i.status_code, i.error, i.duration_ms FROM input i
               WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = i.id)
           ), dead AS (
               INSERT INTO webhook_dead_letters (delivery_id, organization_id, webhook_id, event_id, attempts,
                                                 last_status_code, last_error)
               SELECT id, organization_id, webhook_id, event_id, attempts, status_code, error FROM updated
               WHERE status = 'dead_letter'
               ON CONFLICT (delivery_id) DO UPDATE
               SET attempts = EXCLUDED.attempts, last_status_code = EXCLUDED.last_status_code,
                   last_error = EXCLUDED.last_error, dead_lettered_at = now()
           )
           SELECT id AS "id!" FROM updated"#,
        &ids,
        &leases,
        &attempts,
        &statuses,
        &retry_in as &[Option<f64>],
        &codes as &[Option<i32>],
        &errors as &[Option<String>],
        &ats,
        &durations,
    )
    .fetch_all(db)
    .await
}
