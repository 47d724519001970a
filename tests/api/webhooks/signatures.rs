//! What a receiver gets: every event type, signed under both schemes, with the contract's
//! headers and the body `/events` shows; the test endpoint; secret rotation.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::receiver::{verify_klinivo, verify_standard, Receiver};
use super::*;

#[tokio::test]
async fn every_event_type_arrives_signed_under_both_schemes() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (webhook_id, secret) = create_webhook(&app, &receiver.url(), &CONTRACT_TYPES).await;
    let mut event_ids = Vec::new();
    for (i, event_type) in CONTRACT_TYPES.iter().enumerate() {
        let data = json!({"id": i, "status": "scheduled", "note": "ünïcødé ✓", "nested": {"b": 1, "a": [1, 2]}});
        event_ids.push((record_event(&app.db, app.org_id, event_type, data).await, *event_type));
    }
    let received = receiver.wait_for(CONTRACT_TYPES.len(), Duration::from_secs(20)).await;
    assert_eq!(received.len(), CONTRACT_TYPES.len());
    for (event_id, event_type) in &event_ids {
        let request = received.iter().find(|r| r.header("x-klinivo-event-id") == event_id).expect("delivered");
        assert_eq!(request.header("x-klinivo-event"), *event_type);
        assert_eq!(request.header("content-type"), "application/json");
        assert_eq!(request.header("user-agent"), "Klinivo-Webhooks/1");
        assert_eq!(request.header("x-klinivo-attempt"), "1");
        assert_eq!(request.header("webhook-id"), event_id);
        let signature = request.header("x-klinivo-signature");
        assert!(verify_klinivo(&request.body, signature, &secret), "{event_type}: {signature}");
        assert!(verify_standard(&request.headers, &request.body, &secret), "{event_type}");
        // One `v1` exactly, and the same `t` in both schemes.
        assert_eq!(signature.matches("v1=").count(), 1);
        let t = signature.split(',').next().unwrap().strip_prefix("t=").unwrap();
        assert_eq!(request.header("webhook-timestamp"), t);
        assert!((chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap()).abs() < 60);
        // Tampering is detected by both.
        let mut tampered = request.body.to_vec();
        tampered.push(b' ');
        assert!(!verify_klinivo(&tampered, signature, &secret));
        assert!(!verify_standard(&request.headers, &tampered, &secret));
        assert!(!verify_klinivo(&request.body, signature, "whsec_wrong"));

        // The body is the event exactly as /events returns it, byte for byte.
        let r = app.get(&format!("/events/{event_id}")).await;
        assert_eq!(r.status(), 200);
        let logged = r.bytes().await.unwrap();
        assert_eq!(&logged[..], &request.body[..]);
        let body = request.json();
        assert_eq!(body["id"], *event_id);
        assert_eq!(body["type"], *event_type);
        assert_eq!(body["organizationId"], app.org_id.to_string());
        assert!(body["createdAt"].is_string());
        assert_eq!(body["data"]["note"], "ünïcødé ✓");
        let delivery_id: i64 = request.header("x-klinivo-delivery-id").parse().unwrap();
        let d = delivery(&app, webhook_id, delivery_id).await;
        assert_eq!(d["eventId"], *event_id);
        assert_eq!(d["eventType"], *event_type);
    }
    let all =
        wait_deliveries(&app, webhook_id, CONTRACT_TYPES.len(), Duration::from_secs(10), status_is("succeeded")).await;
    for d in all {
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["lastStatusCode"], 200);
        assert_eq!(d["lastError"], json!(null));
        assert_eq!(d["nextAttemptAt"], json!(null));
    }
}

#[tokio::test]
async fn the_test_endpoint_reaches_only_this_subscription_whatever_its_filter() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let bystander = Receiver::start().await;
    let (id, secret) = create_webhook(&app, &receiver.url(), &["intake.completed"]).await;
    create_webhook(&app, &bystander.url(), &CONTRACT_TYPES).await;
    let r = app.request(Method::POST, &format!("/webhooks/{id}/test")).send().await.unwrap();
    let queued = expect_json(r, 202).await;
    assert_eq!(queued["webhookId"], id);
    assert_eq!(queued["eventType"], "webhook.test");
    assert_eq!(queued["status"], "pending");
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    let request = &received[0];
    assert_eq!(request.header("x-klinivo-event"), "webhook.test");
    assert_eq!(request.header("x-klinivo-event-id"), queued["eventId"].as_str().unwrap());
    assert!(verify_klinivo(&request.body, request.header("x-klinivo-signature"), &secret));
    assert!(verify_standard(&request.headers, &request.body, &secret));
    // Its data is the subscription, without the secret.
    let body = request.json();
    assert_eq!(body["data"]["id"], id);
    assert!(!String::from_utf8_lossy(&request.body).contains("whsec_"));
    wait_deliveries(&app, id, 1, Duration::from_secs(5), status_is("succeeded")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bystander.count(), 0);
    // In the event log, filterable by type.
    let events = expect_json(app.get("/events?type=webhook.test").await, 200).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);

    // A disabled subscription cannot be tested.
    app.patch(&format!("/webhooks/{id}"), &json!({"enabled": false})).await;
    let r = app.request(Method::POST, &format!("/webhooks/{id}/test")).send().await.unwrap();
    expect_error(r, 409, "conflict").await;
}

#[tokio::test]
async fn after_rotation_deliveries_are_signed_with_the_new_secret_only() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (id, old) = create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 1})).await;
    let first = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(verify_klinivo(&first[0].body, first[0].header("x-klinivo-signature"), &old));

    let rotated = expect_json(app.post(&format!("/webhooks/{id}/rotate-secret"), &json!({})).await, 200).await;
    let new = rotated["secret"].as_str().unwrap().to_string();
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 2})).await;
    let both = receiver.wait_for(2, Duration::from_secs(10)).await;
    let second = &both[1];
    let signature = second.header("x-klinivo-signature");
    assert!(verify_klinivo(&second.body, signature, &new));
    assert!(verify_standard(&second.headers, &second.body, &new));
    assert!(!verify_klinivo(&second.body, signature, &old));
    assert!(!verify_standard(&second.headers, &second.body, &old));
    assert_eq!(signature.matches("v1=").count(), 1);
}

#[tokio::test]
async fn each_attempt_is_signed_afresh() {
    let app = TestApp::spawn_with(|c| c.webhook_retry_unit = Duration::from_millis(1100)).await;
    let receiver = Receiver::answering(super::receiver::Reply::Status(500)).await;
    let (id, secret) = create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 1})).await;
    let first = receiver.wait_for(1, Duration::from_secs(10)).await;
    receiver.set_reply(super::receiver::Reply::Status(200));
    let both = receiver.wait_for(2, Duration::from_secs(10)).await;
    let (a, b) = (&first[0], &both[1]);
    assert_eq!(a.body, b.body);
    assert_eq!(a.header("x-klinivo-delivery-id"), b.header("x-klinivo-delivery-id"));
    assert_eq!((a.header("x-klinivo-attempt"), b.header("x-klinivo-attempt")), ("1", "2"));
    // The retry came at least a second later: a new timestamp, so a new signature.
    assert_ne!(a.header("webhook-timestamp"), b.header("webhook-timestamp"));
    assert_ne!(a.header("x-klinivo-signature"), b.header("x-klinivo-signature"));
    for r in [a, b] {
        assert!(verify_klinivo(&r.body, r.header("x-klinivo-signature"), &secret));
        assert!(verify_standard(&r.headers, &r.body, &secret));
    }
    wait_deliveries(&app, id, 1, Duration::from_secs(5), status_is("succeeded")).await;
}
