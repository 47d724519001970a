//! The event log's 30-day purge: what it keeps, what it deletes, and what it counts.

use klinivo::delivery::retention::{purge_expired_events, Purged};
use klinivo::metrics::Metrics;
use serde_json::json;

use super::*;

async fn exec(db: &PgPool, sql: &str, event: &str) {
    let id = klinivo::events::parse_public_id(event).unwrap();
    sqlx::query(sql).bind(id).execute(db).await.unwrap();
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

#[tokio::test]
async fn expired_events_are_purged_unless_a_delivery_still_needs_them() {
    // No server: no dispatcher touches the deliveries set up here.
    let (_, db, org) = bare_database().await;
    let (on, _) = insert_webhook(&db, org, "https://example.com/on", &["patient.created"]).await;
    let (paused, _) = insert_webhook(&db, org, "https://example.com/paused", &["appointment.scheduled"]).await;
    // Nobody subscribes to patient.updated: no deliveries.
    let plain = record_event(&db, org, "patient.updated", json!({})).await;
    let recent = record_event(&db, org, "patient.updated", json!({})).await;
    let delivered = record_event(&db, org, "patient.created", json!({})).await;
    let dead = record_event(&db, org, "patient.created", json!({})).await;
    let owed = record_event(&db, org, "appointment.scheduled", json!({})).await;
    sqlx::query("UPDATE webhook_subscriptions SET enabled = false WHERE id = $1")
        .bind(paused)
        .execute(&db)
        .await
        .unwrap();

    let attempt = "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, duration_ms)
                   SELECT id, 1, now(), 500, 3 FROM webhook_deliveries WHERE event_id = $1";
    for event in [&delivered, &dead, &owed] {
        exec(&db, attempt, event).await;
    }
    exec(&db, "UPDATE webhook_deliveries SET status = 'succeeded', attempts = 1 WHERE event_id = $1", &delivered).await;
    exec(&db, "UPDATE webhook_deliveries SET status = 'dead_letter', attempts = 1 WHERE event_id = $1", &dead).await;
    exec(
        &db,
        "INSERT INTO webhook_dead_letters (delivery_id, organization_id, webhook_id, event_id, attempts, last_status_code)
         SELECT id, organization_id, webhook_id, event_id, 1, 500 FROM webhook_deliveries WHERE event_id = $1",
        &dead,
    )
    .await;
    for event in [&plain, &delivered, &dead, &owed] {
        exec(&db, "UPDATE events SET created_at = now() - interval '31 days' WHERE id = $1", event).await;
    }

    let metrics = Metrics::default();
    let purged = purge_expired_events(&db, &metrics).await.unwrap();
    assert_eq!(purged, Purged { events: 2, deliveries: 1 }, "the plain event, and the delivered one with its delivery");
    let left: Vec<String> =
        sqlx::query_scalar("SELECT 'evt_' || id::text FROM events ORDER BY seq").fetch_all(&db).await.unwrap();
    assert_eq!(left, vec![recent, dead, owed]);
    // The dead letter and the paused delivery keep their rows, attempt logs and dead letter.
    let kept: Vec<(i64, String)> =
        sqlx::query_as("SELECT webhook_id, status FROM webhook_deliveries ORDER BY id").fetch_all(&db).await.unwrap();
    assert_eq!(kept, vec![(on, "dead_letter".to_string()), (paused, "pending".to_string())]);
    assert_eq!(count(&db, "SELECT count(*) FROM webhook_attempts").await, 2);
    assert_eq!(count(&db, "SELECT count(*) FROM webhook_dead_letters").await, 1);

    let rendered = metrics.render();
    assert!(rendered.contains("\nklinivo_retention_events_deleted_total 2\n"), "{rendered}");
    assert!(rendered.contains("\nklinivo_retention_deliveries_deleted_total 1\n"), "{rendered}");
    assert_eq!(purge_expired_events(&db, &metrics).await.unwrap(), Purged::default());
}

#[tokio::test]
async fn the_purge_passes_over_more_kept_events_than_one_batch() {
    let (_, db, org) = bare_database().await;
    let (webhook, _) = insert_webhook(&db, org, "https://example.com/dead", &["patient.created"]).await;
    // 1,500 expired dead letters, the oldest events; then 7 expired events nothing needs.
    sqlx::query(
        "WITH e AS (
             INSERT INTO events (id, organization_id, type, data, created_at)
             SELECT gen_random_uuid(), $1, 'patient.created', '{}', now() - interval '40 days' + g * interval '1 second'
             FROM generate_series(1, 1500) g
             RETURNING id)
         INSERT INTO webhook_deliveries (organization_id, webhook_id, event_id, status)
         SELECT $1, $2, id, 'dead_letter' FROM e",
    )
    .bind(org)
    .bind(webhook)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO events (id, organization_id, type, data, created_at)
         SELECT gen_random_uuid(), $1, 'patient.updated', '{}', now() - interval '35 days' + g * interval '1 second'
         FROM generate_series(1, 7) g",
    )
    .bind(org)
    .execute(&db)
    .await
    .unwrap();

    let metrics = Metrics::default();
    assert_eq!(purge_expired_events(&db, &metrics).await.unwrap(), Purged { events: 7, deliveries: 0 });
    assert_eq!(count(&db, "SELECT count(*) FROM events").await, 1500);
    assert_eq!(count(&db, "SELECT count(*) FROM webhook_deliveries").await, 1500);
}
