//! Failing receivers: each kind of failure recorded, the retry spacing and count, the dead
//! letter and its redelivery.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::receiver::{closed_port, Receiver, Reply};
use super::*;

/// Records one event for a fresh subscription to `url` (to its own event type, so that the
/// subscriptions of one test do not share events); waits for its first attempt.
async fn first_attempt(app: &TestApp, url: &str, case: usize) -> Value {
    let event_type = CONTRACT_TYPES[case];
    let (id, _) = create_webhook(app, url, &[event_type]).await;
    record_event(&app.db, app.org_id, event_type, json!({"id": 1})).await;
    let list = wait_deliveries(app, id, 1, Duration::from_secs(15), |d| d["attempts"].as_i64() >= Some(1)).await;
    let d = delivery(app, id, list[0]["id"].as_i64().unwrap()).await;
    assert_eq!(d["status"], "pending", "a failed first attempt is retried: {d}");
    assert!(d["nextAttemptAt"].is_string());
    d
}

#[tokio::test]
async fn each_kind_of_failure_is_recorded() {
    // A long unit: only the first attempt happens during the test.
    let app = TestApp::spawn_with(|c| {
        c.webhook_retry_unit = Duration::from_secs(60);
        c.webhook_timeout = Duration::from_millis(500);
    })
    .await;

    for (case, code) in [500, 503, 404, 410].into_iter().enumerate() {
        let receiver = Receiver::answering(Reply::Status(code)).await;
        let d = first_attempt(&app, &receiver.url(), case).await;
        assert_eq!(d["lastStatusCode"], code);
        assert_eq!(d["lastError"], format!("HTTP {code}"));
        assert_eq!(d["attemptLog"][0]["statusCode"], code);
        assert_eq!(receiver.count(), 1);
    }

    let slow = Receiver::answering(Reply::SleepThen(Duration::from_secs(3), 200)).await;
    let d = first_attempt(&app, &slow.url(), 4).await;
    assert_eq!(d["lastStatusCode"], json!(null));
    assert_eq!(d["lastError"], "timeout after 500 ms");
    let took = d["attemptLog"][0]["durationMs"].as_i64().unwrap();
    assert!((450..2500).contains(&took), "timed out after {took} ms");

    let refused = format!("http://127.0.0.1:{}/hook", closed_port().await);
    let d = first_attempt(&app, &refused, 5).await;
    assert_eq!(d["lastStatusCode"], json!(null));
    assert_eq!(d["lastError"], "connection refused");

    // A redirect is a failure and is not followed, even to an allowed address.
    let target = Receiver::start().await;
    let redirecting = Receiver::answering(Reply::Redirect(target.url())).await;
    let d = first_attempt(&app, &redirecting.url(), 6).await;
    assert_eq!(d["lastStatusCode"], 302);
    assert!(d["lastError"].as_str().unwrap().contains("redirects are not followed"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(target.count(), 0);

    let log = &d["attemptLog"][0];
    assert_eq!(log["attempt"], 1);
    assert!(log["at"].is_string());
    assert!(log["durationMs"].as_i64().unwrap() >= 0);
}

#[tokio::test]
async fn retries_follow_1_2_4_8_16_units_then_dead_letter() {
    let unit = Duration::from_millis(300);
    let app = TestApp::spawn_with(|c| c.webhook_retry_unit = unit).await;
    let receiver = Receiver::answering(Reply::Status(500)).await;
    let (id, _) = create_webhook(&app, &receiver.url(), &["appointment.cancelled"]).await;
    let event_id = record_event(&app.db, app.org_id, "appointment.cancelled", json!({"id": 7})).await;

    let requests = receiver.wait_for(6, Duration::from_secs(30)).await;
    let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1].at - w[0].at).collect();
    eprintln!("retry gaps: {gaps:?}");
    for (i, gap) in gaps.iter().enumerate() {
        let expected = unit * (1 << i);
        // Never early; late only by scheduling noise (generous: the test machine may be busy).
        assert!(
            *gap + Duration::from_millis(15) >= expected,
            "retry {} came after {gap:?}, expected {expected:?}",
            i + 1
        );
        let slack = Duration::from_millis(700).max(expected / 3);
        assert!(*gap <= expected + slack, "retry {} came after {gap:?}, expected {expected:?}", i + 1);
    }
    for (i, r) in requests.iter().enumerate() {
        assert_eq!(r.header("x-klinivo-attempt"), (i + 1).to_string());
        assert_eq!(r.header("x-klinivo-event-id"), event_id);
    }

    let list = wait_deliveries(&app, id, 1, Duration::from_secs(5), status_is("dead_letter")).await;
    let delivery_id = list[0]["id"].as_i64().unwrap();
    let d = delivery(&app, id, delivery_id).await;
    assert_eq!(d["attempts"], 6);
    assert_eq!(d["nextAttemptAt"], json!(null));
    assert_eq!(d["lastStatusCode"], 500);
    let log = d["attemptLog"].as_array().unwrap();
    assert_eq!(log.len(), 6);
    for (i, a) in log.iter().enumerate() {
        assert_eq!(a["attempt"], i + 1);
        assert_eq!(a["statusCode"], 500);
        assert_eq!(a["error"], "HTTP 500");
    }
    let dead: (i32, Option<i32>, String) = sqlx::query_as(
        "SELECT attempts, last_status_code, event_id::text FROM webhook_dead_letters WHERE delivery_id = $1",
    )
    .bind(delivery_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(dead, (6, Some(500), event_id.trim_start_matches("evt_").to_string()));

    // No seventh attempt on its own.
    tokio::time::sleep(unit * 8).await;
    assert_eq!(receiver.count(), 6);
    let listed = expect_json(app.get(&format!("/webhooks/{id}/deliveries?status=dead_letter")).await, 200).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let listed = expect_json(app.get(&format!("/webhooks/{id}/deliveries?status=pending")).await, 200).await;
    assert_eq!(listed["data"], json!([]));

    // Redelivery: a fresh cycle, which now succeeds; the dead letter is gone.
    receiver.set_reply(Reply::Status(200));
    let r =
        app.request(Method::POST, &format!("/webhooks/{id}/deliveries/{delivery_id}/redeliver")).send().await.unwrap();
    let queued = expect_json(r, 202).await;
    assert_eq!(queued["status"], "pending");
    let list = wait_deliveries(&app, id, 1, Duration::from_secs(10), status_is("succeeded")).await;
    assert_eq!(list[0]["attempts"], 7);
    assert_eq!(receiver.count(), 7);
    assert_eq!(receiver.requests()[6].header("x-klinivo-attempt"), "7");
    let d = delivery(&app, id, delivery_id).await;
    assert_eq!(d["attemptLog"].as_array().unwrap().len(), 7);
    assert_eq!(d["attemptLog"][6]["statusCode"], 200);
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_dead_letters").fetch_one(&app.db).await.unwrap();
    assert_eq!(dead, 0);

    // A succeeded delivery can be redelivered too.
    let r =
        app.request(Method::POST, &format!("/webhooks/{id}/deliveries/{delivery_id}/redeliver")).send().await.unwrap();
    expect_json(r, 202).await;
    receiver.wait_for(8, Duration::from_secs(10)).await;
    wait_deliveries(&app, id, 1, Duration::from_secs(10), status_is("succeeded")).await;
}

#[tokio::test]
async fn a_pending_delivery_cannot_be_redelivered() {
    let app = TestApp::spawn_with(|c| c.webhook_retry_unit = Duration::from_secs(60)).await;
    let receiver = Receiver::answering(Reply::Status(503)).await;
    let (id, _) = create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 1})).await;
    let list = wait_deliveries(&app, id, 1, Duration::from_secs(10), |d| d["attempts"] == 1).await;
    let delivery_id = list[0]["id"].as_i64().unwrap();
    let before = delivery(&app, id, delivery_id).await;
    let r =
        app.request(Method::POST, &format!("/webhooks/{id}/deliveries/{delivery_id}/redeliver")).send().await.unwrap();
    expect_error(r, 409, "invalid_state_transition").await;
    assert_eq!(delivery(&app, id, delivery_id).await, before);
    let r = app.request(Method::POST, &format!("/webhooks/{id}/deliveries/999999/redeliver")).send().await.unwrap();
    expect_error(r, 404, "not_found").await;
    expect_error(app.get(&format!("/webhooks/{id}/deliveries/999999")).await, 404, "not_found").await;
    expect_error(app.get(&format!("/webhooks/{id}/deliveries?status=lost")).await, 400, "validation_error").await;
}
