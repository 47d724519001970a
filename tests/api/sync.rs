//! Incremental sync never skips a change, however long its transaction stayed open: a change
//! that commits late, stamped with an instant a client has already paged past, is still found
//! when the client resumes from its last cursor or its last timestamp.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::helpers::*;
use crate::patients::{create_patient, ts};

/// Longer than the few seconds an integrator used to subtract when resuming.
const WAIT: Duration = Duration::from_secs(2);

/// What a sync client keeps: everything it received, the last cursor it was given and the
/// last timestamp (`stamp`) it saw.
struct Synced {
    items: Vec<Value>,
    cursor: Option<String>,
    stamp: Option<String>,
}

/// Pages through `path` (a query string ending in `&` or `?`) one row at a time, from `cursor`
/// if given.
async fn sync(app: &TestApp, path: &str, cursor: Option<String>, stamp: &str) -> Synced {
    let mut synced = Synced { items: Vec::new(), cursor: None, stamp: None };
    let mut next = cursor;
    for _ in 0..100 {
        let mut url = format!("{path}limit=1");
        if let Some(c) = &next {
            url.push_str(&format!("&cursor={c}"));
        }
        let body = expect_json(app.get(&url).await, 200).await;
        for item in body["data"].as_array().unwrap() {
            synced.stamp = Some(item[stamp].as_str().unwrap().to_string());
            synced.items.push(item.clone());
        }
        match body["nextCursor"].as_str() {
            Some(c) => {
                next = Some(c.to_string());
                synced.cursor = next.clone();
            }
            None => return synced,
        }
    }
    panic!("pagination does not end");
}

fn encoded(t: &str) -> String {
    t.replace('+', "%2B")
}

async fn patch_patient(app: &TestApp, id: i64, first_name: &str) -> Value {
    expect_json(app.patch(&format!("/patients/{id}"), &json!({"firstName": first_name})).await, 200).await
}

/// The start of the transaction of another backend of this database waiting on a lock, once
/// there is one.
async fn lock_waiter_start(db: &sqlx::PgPool) -> DateTime<Utc> {
    for _ in 0..200 {
        let start: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT xact_start FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_optional(db)
        .await
        .unwrap();
        if let Some(start) = start {
            return start;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no request ever waited on the lock");
}

#[tokio::test]
async fn a_patch_that_waited_on_a_lock_is_found_when_the_sync_resumes() {
    let app = TestApp::spawn().await;
    let first = create_patient(&app, &json!({"firstName": "First", "lastName": "P"})).await;
    let x = create_patient(&app, &json!({"firstName": "X", "lastName": "P"})).await;
    let y = create_patient(&app, &json!({"firstName": "Y", "lastName": "P"})).await;
    let z = create_patient(&app, &json!({"firstName": "Z", "lastName": "P"})).await;
    let since = encoded(first["updatedAt"].as_str().unwrap());

    // Another session holds X's row; a PATCH of X through the API waits for it.
    let mut locker = PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("SELECT 1 FROM patients WHERE id = $1 FOR UPDATE")
        .bind(x["id"].as_i64().unwrap())
        .execute(&mut locker)
        .await
        .unwrap();
    let late = tokio::spawn({
        let request = app.request(reqwest::Method::PATCH, &format!("/patients/{}", x["id"]));
        async move { request.json(&json!({"firstName": "Late"})).send().await.unwrap() }
    });
    let waiting_since = lock_waiter_start(&app.db).await;
    tokio::time::sleep(WAIT).await;
    // Y and Z change and commit while X's change is still waiting.
    let y2 = patch_patient(&app, y["id"].as_i64().unwrap(), "Y2").await;
    patch_patient(&app, z["id"].as_i64().unwrap(), "Z2").await;
    assert!(ts(&y2["updatedAt"]) - waiting_since >= chrono::Duration::from_std(WAIT).unwrap());

    let path = format!("/patients?updatedSince={since}&");
    let before = sync(&app, &path, None, "updatedAt").await;
    // Y and Z are held back: serving them would put the cursor past X's coming change.
    let served: Vec<(i64, &str)> =
        before.items.iter().map(|p| (p["id"].as_i64().unwrap(), p["firstName"].as_str().unwrap())).collect();
    assert_eq!(served, [(first["id"].as_i64().unwrap(), "First"), (x["id"].as_i64().unwrap(), "X")]);
    assert!(!late.is_finished(), "the PATCH did not wait for the lock");

    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    let x2 = expect_json(late.await.unwrap(), 200).await;
    assert_eq!(x2["firstName"], "Late");
    // The late change is stamped before the changes that committed ahead of it.
    assert!(ts(&x2["updatedAt"]) <= waiting_since && ts(&x2["updatedAt"]) < ts(&y2["updatedAt"]));

    let is_late_x = |p: &Value| p["id"] == x["id"] && p["firstName"] == "Late";
    let cursor = before.cursor.expect("the first sync had more than one page");
    let by_cursor = sync(&app, &path, Some(cursor), "updatedAt").await;
    assert!(by_cursor.items.iter().any(is_late_x), "resuming from the cursor skipped X: {:?}", by_cursor.items);
    let stamp = encoded(&before.stamp.unwrap());
    let by_stamp = sync(&app, &format!("/patients?updatedSince={stamp}&"), None, "updatedAt").await;
    assert!(by_stamp.items.iter().any(is_late_x), "resuming from the last updatedAt skipped X: {:?}", by_stamp.items);
}

#[tokio::test]
async fn an_event_of_a_transaction_that_waited_is_found_when_the_log_is_followed() {
    let app = TestApp::spawn().await;
    create_patient(&app, &json!({"firstName": "A", "lastName": "E"})).await;
    let b = create_patient(&app, &json!({"firstName": "B", "lastName": "E"})).await;

    // A transaction records its event, then stays open while later events commit.
    let mut slow = PgConnection::connect(&app.db_url).await.unwrap();
    let mut tx = slow.begin().await.unwrap();
    let late_id = klinivo::events::record(&mut tx, app.org_id, klinivo::events::EventType::PatientUpdated, &json!({}))
        .await
        .unwrap();
    let late_id = klinivo::events::public_id(late_id);
    tokio::time::sleep(WAIT).await;
    patch_patient(&app, b["id"].as_i64().unwrap(), "B2").await;
    patch_patient(&app, b["id"].as_i64().unwrap(), "B3").await;

    let before = sync(&app, "/events?", None, "createdAt").await;
    let types: Vec<&str> = before.items.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["patient.created", "patient.created"], "later events are held back");

    tx.commit().await.unwrap();
    let mut log = Vec::new();
    for _ in 0..100 {
        log = sync(&app, "/events?", None, "createdAt").await.items;
        if log.len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids: Vec<&str> = log.iter().map(|e| e["id"].as_str().unwrap()).collect();
    // It sorts before the events that were committed ahead of it.
    assert_eq!(ids.iter().position(|id| *id == late_id), Some(2), "{log:?}");
    assert!(ts(&log[2]["createdAt"]) < ts(&log[3]["createdAt"]));

    let cursor = before.cursor.expect("the first sync had more than one page");
    let by_cursor = sync(&app, "/events?", Some(cursor), "createdAt").await;
    assert!(by_cursor.items.iter().any(|e| e["id"] == late_id), "resuming from the cursor skipped the event");
    let from = encoded(&before.stamp.unwrap());
    let by_from = sync(&app, &format!("/events?from={from}&"), None, "createdAt").await;
    assert!(by_from.items.iter().any(|e| e["id"] == late_id), "resuming from the last createdAt skipped the event");
}

#[tokio::test]
async fn an_open_transaction_holds_the_horizon_at_its_start_until_it_ends() {
    let app = TestApp::spawn().await;
    let mut reader = PgConnection::connect(&app.db_url).await.unwrap();
    let mut idle = PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("BEGIN READ ONLY").execute(&mut idle).await.unwrap();
    let started: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&mut idle).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(klinivo::db::horizon::current(&mut reader).await.unwrap() <= started);
    sqlx::query("COMMIT").execute(&mut idle).await.unwrap();
    assert!(klinivo::db::horizon::current(&mut reader).await.unwrap() > started);
}

#[tokio::test]
async fn a_listening_session_receiving_notifications_does_not_hold_the_horizon_back() {
    let app = TestApp::spawn().await;
    // A session that listens and then stays idle, as the server's own listeners do: PostgreSQL
    // reads each notification for it in a transaction stamped with its last statement's start.
    let mut listener = sqlx::postgres::PgListener::connect(&app.db_url).await.unwrap();
    listener.listen("horizon_probe").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut reader = PgConnection::connect(&app.db_url).await.unwrap();
    let after: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&mut reader).await.unwrap();
    let url = app.db_url.clone();
    let notifier = tokio::spawn(async move {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        for _ in 0..2000 {
            sqlx::query("NOTIFY horizon_probe").execute(&mut conn).await.unwrap();
        }
    });
    let drain = tokio::spawn(async move { while listener.recv().await.is_ok() {} });
    let mut held_back = 0;
    let mut samples = 0;
    while !notifier.is_finished() {
        samples += 1;
        if klinivo::db::horizon::current(&mut reader).await.unwrap() < after {
            held_back += 1;
        }
    }
    notifier.await.unwrap();
    drain.abort();
    assert!(samples > 100, "only {samples} samples");
    assert_eq!(held_back, 0, "{held_back} of {samples} horizons fell behind the listener's last statement");
}
