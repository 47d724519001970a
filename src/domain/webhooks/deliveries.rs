//! A subscription's deliveries: list, view with the attempt log, redeliver, and recover
//! everything it missed since an instant.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::model::{Attempt, Delivery, DeliveryDetail, DeliveryRow, DeliveryStatus};
use super::subscriptions;
use crate::db::horizon;
use crate::domain::{Error, Page, PageRequest, Result};
use crate::events::wake;

/// How far back `recover` reaches.
pub const RECOVER_MAX_DAYS: i64 = 14;

/// Which of a subscription's deliveries a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<DeliveryStatus>,
}

/// A subscription's deliveries, by ascending id, or by `(updatedAt, id)` up to the sync
/// horizon when the page asks for changes since an instant. `conn` is best a read planned for
/// its parameters (`db::planned_read`): the status filter is optional.
pub async fn list(
    conn: &mut PgConnection,
    org: Uuid,
    webhook_id: i64,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Page<Delivery>> {
    subscriptions::get(&mut *conn, org, webhook_id).await?;
    let status = filter.status.map(DeliveryStatus::as_str);
    let rows = if let (Some(since), Some(after_updated)) = (page.updated_since, page.after_updated) {
        let horizon = horizon::current(conn).await?;
        sqlx::query_as!(
            DeliveryRow,
            "SELECT d.id, d.webhook_id, d.event_id, e.type AS event_type, d.status, d.attempts, d.next_attempt_at,
                    d.last_status_code, d.last_error, d.created_at, d.updated_at
             FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
             WHERE d.organization_id = $1 AND d.webhook_id = $2 AND ($3::text IS NULL OR d.status = $3)
               AND d.updated_at >= $4 AND (d.updated_at, d.id) > ($5, $6) AND d.updated_at < $8
             ORDER BY d.updated_at, d.id LIMIT $7",
            org,
            webhook_id,
            status,
            since,
            after_updated,
            page.after_id,
            page.fetch(),
            horizon
        )
        .fetch_all(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            DeliveryRow,
            "SELECT d.id, d.webhook_id, d.event_id, e.type AS event_type, d.status, d.attempts, d.next_attempt_at,
                    d.last_status_code, d.last_error, d.created_at, d.updated_at
             FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
             WHERE d.organization_id = $1 AND d.webhook_id = $2 AND ($3::text IS NULL OR d.status = $3)
               AND d.id > $4
             ORDER BY d.id LIMIT $5",
            org,
            webhook_id,
            status,
            page.after_id,
            page.fetch()
        )
        .fetch_all(&mut *conn)
        .await?
    };
    let rows: Vec<Delivery> = rows.into_iter().map(Delivery::from).collect();
    Ok(page.finish(rows, |d| (d.id, d.updated_at)))
}

/// One delivery with every attempt, oldest first.
pub async fn get(db: &PgPool, org: Uuid, webhook_id: i64, id: i64) -> Result<DeliveryDetail> {
    let delivery = fetch(db, org, webhook_id, id).await?.ok_or(Error::NotFound("Delivery"))?;
    let attempt_log = sqlx::query_as!(
        Attempt,
        "SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts
         WHERE delivery_id = $1 ORDER BY attempt, id",
        delivery.id
    )
    .fetch_all(db)
    .await?;
    Ok(DeliveryDetail { delivery, attempt_log })
}

/// Gives a finished (dead-lettered or succeeded) delivery a fresh attempt cycle, the first
/// attempt now; a pending one is already queued (`InvalidStateTransition`).
pub async fn redeliver(conn: &mut PgConnection, org: Uuid, webhook_id: i64, id: i64) -> Result<Delivery> {
    subscriptions::enabled(conn, org, webhook_id).await?;
    let requeued = sqlx::query_scalar!(
        "UPDATE webhook_deliveries
         SET status = 'pending', cycle_attempts = 0, next_attempt_at = now(), locked_until = NULL
         WHERE organization_id = $1 AND webhook_id = $2 AND id = $3 AND status = ANY($4)
         RETURNING id",
        org,
        webhook_id,
        id,
        &DeliveryStatus::requeueable_names(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    if requeued.is_none() {
        return match fetch(&mut *conn, org, webhook_id, id).await? {
            None => Err(Error::NotFound("Delivery")),
            Some(d) => Err(Error::transition(format!("This delivery is {}; it is already queued", d.status))),
        };
    }
    sqlx::query!("DELETE FROM webhook_dead_letters WHERE delivery_id = $1", id).execute(&mut *conn).await?;
    wake::mark_queued();
    fetch(conn, org, webhook_id, id).await?.ok_or(Error::NotFound("Delivery"))
}

/// Re-queues every event since `since` (at most [`RECOVER_MAX_DAYS`] back) that the
/// subscription's filter matches and that it has not received: events without a delivery get
/// one, dead letters a fresh cycle; pending and succeeded deliveries are left alone. Returns
/// how many deliveries were queued.
pub async fn recover(conn: &mut PgConnection, org: Uuid, webhook_id: i64, since: DateTime<Utc>) -> Result<i64> {
    let webhook = subscriptions::enabled(conn, org, webhook_id).await?;
    if since < Utc::now() - Duration::days(RECOVER_MAX_DAYS) {
        return Err(Error::invalid("since", format!("must be at most {RECOVER_MAX_DAYS} days ago")));
    }
    let count = sqlx::query_scalar!(
        r#"WITH missing AS (
               INSERT INTO webhook_deliveries (organization_id, webhook_id, event_id)
               SELECT e.organization_id, $2, e.id FROM events e
               WHERE e.organization_id = $1 AND e.type = ANY($3) AND e.created_at >= $4
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = $2 AND d.event_id = e.id)
               ON CONFLICT (webhook_id, event_id) DO NOTHING
               RETURNING id
           ), reset AS (
               UPDATE webhook_deliveries d
               SET status = 'pending', cycle_attempts = 0, next_attempt_at = now(), locked_until = NULL
               FROM events e
               WHERE d.organization_id = $1 AND d.webhook_id = $2 AND d.status = 'dead_letter'
                 AND e.id = d.event_id AND e.type = ANY($3) AND e.created_at >= $4
               RETURNING d.id
           ), cleared AS (
               DELETE FROM webhook_dead_letters WHERE delivery_id IN (SELECT id FROM reset)
           )
           SELECT (SELECT count(*) FROM missing) + (SELECT count(*) FROM reset) AS "count!""#,
        org,
        webhook_id,
        &webhook.events,
        since,
    )
    .fetch_one(conn)
    .await?;
    if count > 0 {
        wake::mark_queued();
    }
    tracing::info!(webhook_id, count, "webhook recovery queued");
    Ok(count)
}

/// One delivery of a subscription of the organization.
pub(super) async fn fetch(db: impl PgExecutor<'_>, org: Uuid, webhook_id: i64, id: i64) -> Result<Option<Delivery>> {
    let row = sqlx::query_as!(
        DeliveryRow,
        "SELECT d.id, d.webhook_id, d.event_id, e.type AS event_type, d.status, d.attempts, d.next_attempt_at,
                d.last_status_code, d.last_error, d.created_at, d.updated_at
         FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.organization_id = $1 AND d.webhook_id = $2 AND d.id = $3",
        org,
        webhook_id,
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(Delivery::from))
}
