//! The deliveries API: list with its filter and pagination, the attempt log of a retried
//! success.

use std::time::Duration;

use serde_json::json;

use super::receiver::{Receiver, Reply};
use super::*;

#[tokio::test]
async fn a_retried_success_keeps_both_attempts() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Status(503)]);
    let (id, _) = create_webhook(&app, &receiver.url(), &["intake.started"]).await;
    let event_id = record_event(&app.db, app.org_id, "intake.started", json!({"id": 5})).await;
    let list = wait_deliveries(&app, id, 1, Duration::from_secs(10), status_is("succeeded")).await;
    let d = delivery(&app, id, list[0]["id"].as_i64().unwrap()).await;
    assert_eq!(d["webhookId"], id);
    assert_eq!(d["eventId"], event_id);
    assert_eq!(d["eventType"], "intake.started");
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["lastStatusCode"], 200);
    assert_eq!(d["lastError"], json!(null));
    assert_eq!(d["nextAttemptAt"], json!(null));
    let log = d["attemptLog"].as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0]["attempt"].clone(), log[0]["statusCode"].clone(), log[0]["error"].clone()),
        (json!(1), json!(503), json!("HTTP 503"))
    );
    assert_eq!(
        (log[1]["attempt"].clone(), log[1]["statusCode"].clone(), log[1]["error"].clone()),
        (json!(2), json!(200), json!(null))
    );
    assert!(log[0]["at"].as_str().unwrap() < log[1]["at"].as_str().unwrap());
    for field in [
        "id",
        "webhookId",
        "eventId",
        "eventType",
        "status",
        "attempts",
        "nextAttemptAt",
        "lastStatusCode",
        "lastError",
        "createdAt",
        "updatedAt",
        "attemptLog",
    ] {
        assert!(d.get(field).is_some(), "missing {field}");
    }
}

#[tokio::test]
async fn deliveries_list_by_status_and_page_without_gaps() {
    let app = TestApp::spawn_with(|c| c.webhook_retry_unit = Duration::from_secs(60)).await;
    let receiver = Receiver::start().await;
    // Two of five fail (and wait a minute for their retry); three succeed.
    receiver.script([Reply::Status(500), Reply::Status(200), Reply::Status(500)]);
    let (id, _) = create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    for i in 0..5 {
        record_event(&app.db, app.org_id, "patient.created", json!({"n": i})).await;
        receiver.wait_for(i + 1, Duration::from_secs(10)).await;
    }
    let all = wait_deliveries(&app, id, 5, Duration::from_secs(10), |d| d["attempts"] == 1).await;
    let ids: Vec<i64> = all.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ascending id");

    let count = |status: &'static str| {
        let app = &app;
        async move {
            let body = expect_json(app.get(&format!("/webhooks/{id}/deliveries?status={status}")).await, 200).await;
            assert!(body["data"].as_array().unwrap().iter().all(|d| d["status"] == status));
            body["data"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("pending").await, 2);
    assert_eq!(count("succeeded").await, 3);
    assert_eq!(count("dead_letter").await, 0);

    for query in ["", "&updatedSince=2000-01-01T00:00:00Z"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/webhooks/{id}/deliveries?limit=2{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = expect_json(app.get(&path).await, 200).await;
            seen.extend(page["data"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()));
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        seen.sort();
        assert_eq!(seen, sorted, "query {query:?}");
    }
    let later =
        expect_json(app.get(&format!("/webhooks/{id}/deliveries?updatedSince=2999-01-01T00:00:00Z")).await, 200).await;
    assert_eq!(later["data"], json!([]));
    expect_error(app.get(&format!("/webhooks/{id}/deliveries?limit=500")).await, 400, "validation_error").await;
}
