//! Webhooks: the subscription and delivery APIs, the event log, and delivery itself against
//! real receivers on loopback (real time, scaled down by the retry unit).

mod bench;
mod crash;
mod deliveries;
mod events_api;
mod failures;
pub mod receiver;
mod retention;
mod routing;
mod signatures;
mod ssrf;
mod subscriptions;

use std::time::Duration;

use klinivo::events::EventType;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

/// Every event type of the contract an integrator can subscribe to.
pub const CONTRACT_TYPES: [&str; 14] = [
    "patient.created",
    "patient.updated",
    "appointment.scheduled",
    "appointment.confirmed",
    "appointment.completed",
    "appointment.cancelled",
    "appointment.no_show",
    "appointment.rescheduled",
    "consultation.ended",
    "soap_note.created",
    "soap_note.signed",
    "soap_note.amended",
    "intake.started",
    "intake.completed",
];

/// A fresh database with one organization and no server (so no dispatcher): for tests that
/// run their own dispatchers, or none.
pub async fn bare_database() -> (String, PgPool, Uuid) {
    let url = fresh_database().await;
    let db = klinivo::db::connect(&url, 5).await.unwrap();
    let org = klinivo::auth::store::create_organization(&db, "Bare Clinic", "UTC").await.unwrap();
    (url, db, org)
}

/// Creates a subscription through the API; returns its id and secret.
pub async fn create_webhook(app: &TestApp, url: &str, events: &[&str]) -> (i64, String) {
    let body = expect_json(app.post("/webhooks", &json!({"url": url, "events": events})).await, 201).await;
    (body["id"].as_i64().unwrap(), body["secret"].as_str().unwrap().to_string())
}

/// Writes a subscription straight to the database (bypassing the URL rules of the API).
pub async fn insert_webhook(db: &PgPool, org: Uuid, url: &str, events: &[&str]) -> (i64, String) {
    let secret = klinivo::delivery::signing::generate_secret();
    let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let id = sqlx::query_scalar(
        "INSERT INTO webhook_subscriptions (organization_id, url, events, secret) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(org)
    .bind(url)
    .bind(&events)
    .bind(&secret)
    .fetch_one(db)
    .await
    .unwrap();
    (id, secret)
}

/// Records an event the way a resource handler does: inside a transaction, then commits and
/// wakes the dispatchers (as the write layer does after a handler's commit).
pub async fn record_event(db: &PgPool, org: Uuid, event_type: &str, data: Value) -> String {
    let event_type = EventType::parse(event_type).unwrap();
    let mut tx = db.begin().await.unwrap();
    let id = klinivo::events::record(&mut tx, org, event_type, &data).await.unwrap();
    tx.commit().await.unwrap();
    klinivo::events::wake::notify(db).await.unwrap();
    klinivo::events::public_id(id)
}

/// All deliveries of a subscription (first page of 200).
pub async fn deliveries(app: &TestApp, webhook_id: i64) -> Vec<Value> {
    let body = expect_json(app.get(&format!("/webhooks/{webhook_id}/deliveries?limit=200")).await, 200).await;
    body["data"].as_array().unwrap().clone()
}

pub async fn delivery(app: &TestApp, webhook_id: i64, delivery_id: i64) -> Value {
    expect_json(app.get(&format!("/webhooks/{webhook_id}/deliveries/{delivery_id}")).await, 200).await
}

/// Waits until every delivery of the subscription satisfies `done`, and there are `count`.
pub async fn wait_deliveries(
    app: &TestApp,
    webhook_id: i64,
    count: usize,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let list = deliveries(app, webhook_id).await;
        if list.len() == count && list.iter().all(&done) {
            return list;
        }
        assert!(tokio::time::Instant::now() < deadline, "deliveries did not settle in {timeout:?}: {list:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |d: &Value| d["status"] == status
}
