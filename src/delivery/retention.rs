//! The event log keeps 30 days. Older events are deleted hourly, in batches, except those a
//! delivery still needs: an event with a pending delivery (whatever its subscription's state:
//! a paused subscription gets its backlog when it is enabled again) or a dead letter (it can
//! be redelivered, and the event is its payload) is kept, with all its deliveries and their
//! attempts, until none of them is pending or dead-lettered. An expired event whose
//! deliveries all succeeded goes, and its succeeded deliveries and their attempt logs go with
//! it (the foreign keys cascade): after 30 days they can no longer be redelivered. What is
//! deleted is counted in `klinivo_retention_events_deleted_total` and
//! `klinivo_retention_deliveries_deleted_total`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::metrics::Metrics;

pub const RETENTION_DAYS: i32 = 30;
const BATCH: i64 = 1_000;
const EVERY: Duration = Duration::from_secs(3600);

pub const EVENTS_DELETED: &str = "klinivo_retention_events_deleted_total";
pub const DELIVERIES_DELETED: &str = "klinivo_retention_deliveries_deleted_total";

/// What one purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub events: u64,
    /// Succeeded deliveries that went with their events.
    pub deliveries: u64,
}

/// Deletes expired events that no delivery needs, counting them in `metrics` batch by batch.
///
/// The expired events are visited once, oldest first, in `(created_at, id)` order: the ones
/// kept (dead letters can stay for good) are passed over, not read again by every batch.
pub async fn purge_expired_events(db: &PgPool, metrics: &Metrics) -> Result<Purged, sqlx::Error> {
    let mut total = Purged::default();
    // Before any event: 0001-01-01 (chrono's own minimum is outside PostgreSQL's range).
    let mut after: (DateTime<Utc>, Uuid) =
        (DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or(DateTime::UNIX_EPOCH), Uuid::nil());
    loop {
        // The outer query sees the deliveries as they were before the delete (one snapshot for
        // the whole statement), so it counts the ones the cascade removes.
        let done = sqlx::query!(
            r#"WITH batch AS (
                   SELECT id, created_at FROM events
                   WHERE created_at < now() - make_interval(days => $1)
                     AND created_at >= $2 AND (created_at, id) > ($2, $3)
                   ORDER BY created_at, id
                   LIMIT $4
               ), gone AS (
                   DELETE FROM events e USING batch b
                   WHERE e.id = b.id
                     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                     WHERE d.event_id = e.id AND d.status IN ('pending', 'dead_letter'))
                   RETURNING e.id
               ), last AS (
                   SELECT created_at, id FROM batch ORDER BY created_at DESC, id DESC LIMIT 1
               )
               SELECT (SELECT count(*) FROM batch) AS "visited!",
                      (SELECT count(*) FROM gone) AS "events!",
                      (SELECT count(*) FROM webhook_deliveries WHERE event_id IN (SELECT id FROM gone)) AS "deliveries!",
                      (SELECT created_at FROM last) AS last_created_at,
                      (SELECT id FROM last) AS last_id"#,
            RETENTION_DAYS,
            after.0,
            after.1,
            BATCH,
        )
        .fetch_one(db)
        .await?;
        let batch = Purged { events: done.events as u64, deliveries: done.deliveries as u64 };
        metrics.incr(EVENTS_DELETED, batch.events);
        metrics.incr(DELIVERIES_DELETED, batch.deliveries);
        total.events += batch.events;
        total.deliveries += batch.deliveries;
        match (done.last_created_at, done.last_id) {
            (Some(created_at), Some(id)) if done.visited == BATCH => after = (created_at, id),
            _ => return Ok(total),
        }
    }
}

/// Purges at start and then hourly, until `stop`.
pub async fn run(db: PgPool, metrics: Arc<Metrics>, stop: CancellationToken) {
    loop {
        match purge_expired_events(&db, &metrics).await {
            Ok(p) if p.events > 0 => {
                tracing::info!(events = p.events, deliveries = p.deliveries, "expired events purged")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "event purge failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}
