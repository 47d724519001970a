//! The dispatcher under stress: stepped by hand, killed with SIGKILL, run twice over one
//! database, shut down gracefully, and cut off from its database.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use klinivo::delivery::{Dispatcher, Settings, Step};
use klinivo::events::EventType;
use klinivo::metrics::Metrics;
use serde_json::json;
use sqlx::PgPool;
use tokio::process::{Child, Command};

use super::receiver::{Receiver, Reply};
use super::*;

async fn statuses(db: &PgPool) -> HashMap<String, i64> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM webhook_deliveries GROUP BY status").fetch_all(db).await.unwrap();
    rows.into_iter().collect()
}

async fn all_succeeded(db: &PgPool, n: i64, timeout: Duration) {
    let ok = eventually(timeout, || async { statuses(db).await.get("succeeded") == Some(&n) }).await;
    assert!(ok, "not all {n} deliveries succeeded: {:?}", statuses(db).await);
}

/// A dispatcher that no loop runs: the test claims and delivers by hand.
fn stepped_dispatcher(db: &PgPool) -> Dispatcher {
    let settings = Settings {
        timeout: Duration::from_secs(2),
        retry_unit: Duration::from_secs(30),
        allow_private: true,
        concurrency: 1,
        poll_interval: Duration::from_secs(1),
    };
    Dispatcher::new(db.clone(), settings, Arc::new(Metrics::default()), Default::default()).unwrap()
}

#[tokio::test]
async fn the_worker_can_be_stepped_one_delivery_at_a_time() {
    let (_, db, org) = bare_database().await;
    let receiver = Receiver::start().await;
    let (webhook_id, _) = insert_webhook(&db, org, &receiver.url(), &["patient.created"]).await;
    let dispatcher = stepped_dispatcher(&db);
    assert_eq!(dispatcher.try_deliver_one().await.unwrap(), Step::NothingDue);
    record_event(&db, org, "patient.created", json!({"id": 1})).await;
    record_event(&db, org, "patient.created", json!({"id": 2})).await;
    assert_eq!(dispatcher.try_deliver_one().await.unwrap(), Step::Succeeded);
    assert_eq!(receiver.count(), 1);
    receiver.set_reply(Reply::Status(500));
    assert_eq!(dispatcher.try_deliver_one().await.unwrap(), Step::Retrying);
    // The retry is 30 s away: nothing is due now.
    assert_eq!(dispatcher.try_deliver_one().await.unwrap(), Step::NothingDue);
    let (wait, attempts): (f64, i32) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM next_attempt_at - now())::float8, attempts FROM webhook_deliveries
         WHERE webhook_id = $1 AND status = 'pending'",
    )
    .bind(webhook_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!((28.0..=30.5).contains(&wait), "next attempt in {wait} s");
    assert_eq!(attempts, 1);
    // A claimed delivery is leased: a second claimer cannot take it.
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending'")
        .execute(&db)
        .await
        .unwrap();
    let claimed = dispatcher.claim_batch(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(dispatcher.claim_batch(10).await.unwrap().is_empty());
    dispatcher.release(&claimed[0]).await.unwrap();
    receiver.set_reply(Reply::Status(200));
    assert_eq!(dispatcher.try_deliver_one().await.unwrap(), Step::Succeeded);
    assert_eq!(statuses(&db).await.get("succeeded"), Some(&2));
}

#[tokio::test]
async fn a_backlog_queued_at_one_instant_is_claimed_in_order_with_each_body_shared() {
    let (_, db, org) = bare_database().await;
    let receiver = Receiver::start().await;
    let mut hooks = Vec::new();
    for _ in 0..5 {
        hooks.push(insert_webhook(&db, org, &receiver.url(), &["patient.created"]).await.0);
    }
    // 20 events in one transaction: their 100 deliveries share one next_attempt_at.
    let mut tx = db.begin().await.unwrap();
    let mut events = Vec::new();
    for n in 0..20 {
        let id = klinivo::events::record(&mut tx, org, EventType::PatientCreated, &json!({"n": n})).await.unwrap();
        events.push(klinivo::events::public_id(id));
    }
    tx.commit().await.unwrap();
    let dispatcher = stepped_dispatcher(&db);
    let mut claimed = Vec::new();
    let mut ids: Vec<i64> = Vec::new();
    for _ in 0..4 {
        let batch = dispatcher.claim_batch(30).await.unwrap();
        let mut batch_ids: Vec<i64> = batch.iter().map(|c| c.id).collect();
        batch_ids.sort_unstable();
        // Oldest first: each claim takes the lowest ids still unclaimed.
        assert!(ids.last().is_none_or(|last| *last < batch_ids[0]));
        ids.extend(batch_ids);
        claimed.extend(batch);
    }
    let all: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM webhook_deliveries ORDER BY id").fetch_all(&db).await.unwrap();
    assert_eq!(ids, all, "four claims of 30 took all 100 deliveries, in order, once each");
    for c in &claimed {
        let body: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
        let id = klinivo::events::public_id(c.event_id);
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["type"], "patient.created");
        assert_eq!(body["data"]["n"], events.iter().position(|e| *e == id).unwrap());
        assert!(hooks.contains(&c.webhook_id));
        assert!(c.url.starts_with(&receiver.url()));
    }
    // One event's deliveries in one claim share one rendering of its body.
    let first = &claimed[0];
    let same = claimed[..30].iter().filter(|c| c.event_id == first.event_id).collect::<Vec<_>>();
    assert!(same.len() > 1);
    assert!(same.iter().all(|c| c.body.as_ptr() == first.body.as_ptr()));
}

fn spawn_worker(db_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_klinivo"))
        .arg("worker")
        .env("DATABASE_URL", db_url)
        .env("KLINIVO_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("KLINIVO_WEBHOOK_RETRY_UNIT_MS", "100")
        .env("KLINIVO_WEBHOOK_TIMEOUT_MS", "2000")
        .env("KLINIVO_DB_MAX_CONNECTIONS", "5")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start klinivo worker")
}

fn signal(child: &Child, signal: i32) {
    let pid = child.id().expect("still running") as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

#[tokio::test]
async fn kill_9_with_deliveries_in_flight_loses_nothing() {
    let (db_url, db, org) = bare_database().await;
    // Slow answers: when the worker dies, deliveries are mid-request.
    let receiver = Receiver::answering(Reply::SleepThen(Duration::from_millis(700), 200)).await;
    insert_webhook(&db, org, &receiver.url(), &["appointment.scheduled"]).await;
    for i in 0..30 {
        record_event(&db, org, "appointment.scheduled", json!({"n": i})).await;
    }
    let mut worker = spawn_worker(&db_url);
    receiver.wait_for(1, Duration::from_secs(30)).await;
    signal(&worker, libc::SIGKILL);
    let status = worker.wait().await.unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    let leased: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND locked_until > now()")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(leased > 0, "the worker died holding leases of deliveries in flight");
    // More events while no dispatcher runs.
    for i in 30..40 {
        record_event(&db, org, "appointment.scheduled", json!({"n": i})).await;
    }

    let mut worker = spawn_worker(&db_url);
    all_succeeded(&db, 40, Duration::from_secs(60)).await;
    let received: std::collections::HashSet<String> =
        receiver.requests().iter().map(|r| r.header("x-klinivo-delivery-id").to_string()).collect();
    assert_eq!(received.len(), 40, "every delivery reached the receiver at least once");

    // SIGTERM: a graceful exit.
    signal(&worker, libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(20), worker.wait()).await.unwrap().unwrap();
    assert!(status.success(), "worker exit status {status:?}");
    let leased: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE locked_until IS NOT NULL")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(leased, 0);
}

#[tokio::test]
async fn two_instances_never_send_one_delivery_twice() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.db_url.clone(), |_| {}).await;
    let receiver = Receiver::answering(Reply::SleepThen(Duration::from_millis(20), 200)).await;
    let (id, _) = create_webhook(&a, &receiver.url(), &["patient.created", "patient.updated"]).await;
    let n = 300;
    for chunk in 0..(n / 50) {
        let mut tx = a.db.begin().await.unwrap();
        for i in 0..50 {
            let t = if i % 2 == 0 { EventType::PatientCreated } else { EventType::PatientUpdated };
            klinivo::events::record(&mut tx, a.org_id, t, &json!({"n": chunk * 50 + i})).await.unwrap();
        }
        tx.commit().await.unwrap();
        klinivo::events::wake::notify(&a.db).await.unwrap();
    }
    all_succeeded(&a.db, n, Duration::from_secs(60)).await;
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for r in receiver.requests() {
        *per_delivery.entry(r.header("x-klinivo-delivery-id").to_string()).or_default() += 1;
    }
    assert_eq!(per_delivery.len(), n as usize);
    assert!(per_delivery.values().all(|c| *c == 1), "some delivery was sent more than once");
    assert_eq!(receiver.max_concurrent_per_delivery(), 1);
    let list = deliveries(&a, id).await;
    assert!(list.iter().all(|d| d["attempts"] == 1));
    let rendered = |app: &TestApp| {
        app.state
            .metrics
            .render()
            .lines()
            .find(|l| l.starts_with("klinivo_webhook_deliveries_succeeded_total "))
            .map(|l| l.to_string())
            .unwrap_or_default()
    };
    eprintln!("instance a: {} / instance b: {}", rendered(&a), rendered(&b));
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_delivery_in_flight() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::answering(Reply::SleepThen(Duration::from_millis(1000), 200)).await;
    let (id, _) = create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 1})).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(receiver.in_flight(), 1);
    let db = app.db.clone();
    app.stop().await;
    let (status, attempts, leased): (String, i32, bool) = sqlx::query_as(
        "SELECT status, attempts, locked_until IS NOT NULL FROM webhook_deliveries WHERE webhook_id = $1",
    )
    .bind(id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((status.as_str(), attempts, leased), ("succeeded", 1, false));
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn a_database_outage_pauses_delivery_which_then_resumes_by_itself() {
    let db_url = fresh_database().await;
    let mut proxy = DbProxy::start(&db_url).await;
    // `DbProxy::url` only rewrites URLs that spell out their port; this one may not.
    let mut proxied = url::Url::parse(&db_url).unwrap();
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.port)).unwrap();
    let app = TestApp::spawn_on(proxied.to_string(), |_| {}).await;
    let direct = klinivo::db::connect(&db_url, 2).await.unwrap();
    let receiver = Receiver::start().await;
    let (id, _) = create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    record_event(&direct, app.org_id, "patient.created", json!({"n": 1})).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    proxy.down();
    record_event(&direct, app.org_id, "patient.created", json!({"n": 2})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.count(), 1, "nothing can be claimed while the database is away");
    proxy.up().await;
    receiver.wait_for(2, Duration::from_secs(30)).await;
    // The API's pooled connections that the outage broke answer one retryable 503 each before
    // they are replaced (`db::connect`); nothing else.
    let path = format!("/webhooks/{id}/deliveries");
    let api_back = eventually(Duration::from_secs(10), || async {
        let r = app.get(&path).await;
        match r.status().as_u16() {
            200 => true,
            503 => {
                expect_error(r, 503, "service_unavailable").await;
                false
            }
            other => panic!("unexpected status {other} after the outage"),
        }
    })
    .await;
    assert!(api_back, "the API did not recover from the outage");
    wait_deliveries(&app, id, 2, Duration::from_secs(10), status_is("succeeded")).await;
}
