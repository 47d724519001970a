//! The event log keeps 30 days. Older events are deleted hourly, in batches, with their
//! deliveries and attempts — except an event still owed to an enabled subscription (a pending
//! delivery), which is kept until it is delivered or dead-lettered: nothing is dropped unsent.
//! A disabled subscription's pending deliveries do not hold events back.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub const RETENTION_DAYS: i32 = 30;
const BATCH: i64 = 1_000;
const EVERY: Duration = Duration::from_secs(3600);

/// Deletes expired events; returns how many.
pub async fn purge_expired_events(db: &PgPool) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let done = sqlx::query!(
            "DELETE FROM events WHERE id IN (
                 SELECT e.id FROM events e
                 WHERE e.created_at < now() - make_interval(days => $1)
                   AND NOT EXISTS (
                       SELECT 1 FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.webhook_id
                       WHERE d.event_id = e.id AND d.status = 'pending' AND s.enabled)
                 LIMIT $2)",
            RETENTION_DAYS,
            BATCH,
        )
        .execute(db)
        .await?;
        total += done.rows_affected();
        if done.rows_affected() < BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Purges at start and then hourly, until `stop`.
pub async fn run(db: PgPool, stop: CancellationToken) {
    loop {
        match purge_expired_events(&db).await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "expired events purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "event purge failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}
