//! Who gets what: the event-type filter, disabled and deleted subscriptions, other
//! organizations, and recovery of what a subscription missed.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::receiver::{Receiver, Reply};
use super::*;

#[tokio::test]
async fn only_selected_event_types_are_delivered() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (id, _) = create_webhook(&app, &receiver.url(), &["appointment.cancelled", "intake.completed"]).await;
    for t in ["patient.created", "appointment.cancelled", "appointment.scheduled", "intake.completed", "intake.started"]
    {
        record_event(&app.db, app.org_id, t, json!({"t": t})).await;
    }
    let list = wait_deliveries(&app, id, 2, Duration::from_secs(10), status_is("succeeded")).await;
    let types: Vec<&str> = list.iter().map(|d| d["eventType"].as_str().unwrap()).collect();
    assert_eq!(types, ["appointment.cancelled", "intake.completed"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got: Vec<String> = receiver.requests().iter().map(|r| r.header("x-klinivo-event").to_string()).collect();
    assert_eq!(got.len(), 2);
    assert!(got.contains(&"appointment.cancelled".to_string()) && got.contains(&"intake.completed".to_string()));

    // Changing the filter applies to the next events.
    app.patch(&format!("/webhooks/{id}"), &json!({"events": ["patient.created"]})).await;
    record_event(&app.db, app.org_id, "appointment.cancelled", json!({})).await;
    record_event(&app.db, app.org_id, "patient.created", json!({})).await;
    let list = wait_deliveries(&app, id, 3, Duration::from_secs(10), status_is("succeeded")).await;
    assert_eq!(list[2]["eventType"], "patient.created");
}

#[tokio::test]
async fn disabled_subscriptions_get_nothing_until_enabled() {
    let app = TestApp::spawn_with(|c| c.webhook_retry_unit = Duration::from_millis(500)).await;
    let receiver = Receiver::start().await;
    let body = json!({"url": receiver.url(), "events": ["patient.created"], "enabled": false});
    let id = expect_json(app.post("/webhooks", &body).await, 201).await["id"].as_i64().unwrap();
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 1})).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.count(), 0);
    assert!(deliveries(&app, id).await.is_empty());

    app.patch(&format!("/webhooks/{id}"), &json!({"enabled": true})).await;
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 2})).await;
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received[0].json()["data"]["id"], 2);

    // Disabling pauses a delivery that is waiting for a retry; enabling resumes it.
    receiver.set_reply(Reply::Status(500));
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 3})).await;
    receiver.wait_for(2, Duration::from_secs(10)).await;
    app.patch(&format!("/webhooks/{id}"), &json!({"enabled": false})).await;
    // Marked paused, so dispatchers' claims never walk past it (migration 0065).
    let pending = |paused: bool| {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'pending' AND paused = $2",
        )
        .bind(id)
        .bind(paused)
        .fetch_one(&app.db)
    };
    assert_eq!((pending(true).await.unwrap(), pending(false).await.unwrap()), (1, 0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let paused = receiver.count();
    assert!(paused <= 3, "a disabled subscription kept receiving: {paused}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.count(), paused);
    receiver.set_reply(Reply::Status(200));
    app.patch(&format!("/webhooks/{id}"), &json!({"enabled": true})).await;
    assert_eq!(pending(true).await.unwrap(), 0);
    wait_deliveries(&app, id, 2, Duration::from_secs(10), status_is("succeeded")).await;
}

#[tokio::test]
async fn deleted_subscriptions_get_nothing() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (id, _) = create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    assert_eq!(app.delete(&format!("/webhooks/{id}")).await.status(), 204);
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 1})).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.count(), 0);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries").fetch_one(&app.db).await.unwrap();
    assert_eq!(rows, 0);
    expect_error(app.get(&format!("/webhooks/{id}/deliveries")).await, 404, "not_found").await;
}

#[tokio::test]
async fn another_organizations_subscription_never_receives_our_events() {
    let app = TestApp::spawn().await;
    let ours = Receiver::start().await;
    let theirs = Receiver::start().await;
    let (other_org, other_key) = app.other_org().await;
    let r = app
        .request_as(&other_key, Method::POST, "/webhooks")
        .json(&json!({"url": theirs.url(), "events": CONTRACT_TYPES}))
        .send()
        .await
        .unwrap();
    let their_id = expect_json(r, 201).await["id"].as_i64().unwrap();
    let (our_id, _) = create_webhook(&app, &ours.url(), &CONTRACT_TYPES).await;
    for t in CONTRACT_TYPES {
        record_event(&app.db, app.org_id, t, json!({})).await;
    }
    record_event(&app.db, other_org, "patient.created", json!({"theirs": true})).await;
    wait_deliveries(&app, our_id, CONTRACT_TYPES.len(), Duration::from_secs(15), status_is("succeeded")).await;
    let received = theirs.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(theirs.count(), 1);
    assert_eq!(received[0].json()["organizationId"], other_org.to_string());
    assert!(ours.requests().iter().all(|r| r.json()["organizationId"] == app.org_id.to_string()));
    assert_eq!(ours.count(), CONTRACT_TYPES.len());
    // Nor can we see, test or recover theirs.
    expect_error(app.get(&format!("/webhooks/{their_id}/deliveries")).await, 404, "not_found").await;
}

#[tokio::test]
async fn recover_requeues_what_the_subscription_missed() {
    let unit = Duration::from_millis(60);
    let app = TestApp::spawn_with(|c| c.webhook_retry_unit = unit).await;
    let receiver = Receiver::answering(Reply::Status(500)).await;
    let (id, _) = create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);

    // E1 fails every attempt: dead letter.
    let e1 = record_event(&app.db, app.org_id, "patient.created", json!({"n": 1})).await;
    wait_deliveries(&app, id, 1, Duration::from_secs(15), status_is("dead_letter")).await;
    // E2 and E3 happen while the subscription is disabled: no deliveries at all.
    app.patch(&format!("/webhooks/{id}"), &json!({"enabled": false})).await;
    let e2 = record_event(&app.db, app.org_id, "patient.created", json!({"n": 2})).await;
    let e3 = record_event(&app.db, app.org_id, "patient.created", json!({"n": 3})).await;
    // Not selected by the filter: never recovered.
    record_event(&app.db, app.org_id, "appointment.scheduled", json!({"n": 0})).await;
    receiver.set_reply(Reply::Status(200));
    app.patch(&format!("/webhooks/{id}"), &json!({"enabled": true})).await;
    // E4 is delivered normally: not recovered either.
    let e4 = record_event(&app.db, app.org_id, "patient.created", json!({"n": 4})).await;
    wait_deliveries(&app, id, 2, Duration::from_secs(10), |d| {
        d["status"] == "dead_letter" || (d["eventId"] == e4.as_str() && d["status"] == "succeeded")
    })
    .await;
    let before = receiver.count();

    let too_old = chrono::Utc::now() - chrono::Duration::days(15);
    let r = app.post(&format!("/webhooks/{id}/recover"), &json!({"since": too_old.to_rfc3339()})).await;
    let err = expect_error(r, 400, "validation_error").await;
    assert_eq!(err["details"][0]["field"], "since");
    expect_error(app.post(&format!("/webhooks/{id}/recover"), &json!({})).await, 400, "validation_error").await;

    let r = app.post(&format!("/webhooks/{id}/recover"), &json!({"since": since.to_rfc3339()})).await;
    assert_eq!(expect_json(r, 202).await, json!({"count": 3}));
    let list = wait_deliveries(&app, id, 4, Duration::from_secs(10), status_is("succeeded")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resent: Vec<String> =
        receiver.requests()[before..].iter().map(|r| r.header("x-klinivo-event-id").to_string()).collect();
    let mut resent_sorted = resent.clone();
    resent_sorted.sort();
    let mut expected = vec![e1.clone(), e2, e3];
    expected.sort();
    assert_eq!(resent_sorted, expected);
    let e1_delivery = list.iter().find(|d| d["eventId"] == e1.as_str()).unwrap();
    assert_eq!(e1_delivery["attempts"], 7);

    // Everything received: nothing left to recover.
    let r = app.post(&format!("/webhooks/{id}/recover"), &json!({"since": since.to_rfc3339()})).await;
    assert_eq!(expect_json(r, 202).await, json!({"count": 0}));
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_dead_letters").fetch_one(&app.db).await.unwrap();
    assert_eq!(dead, 0);
}
