//! The event log: list (order, filters, pagination) and view.

use serde_json::{json, Value};

use super::*;

async fn page_through(app: &TestApp, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/events?limit=2{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = expect_json(app.get(&path).await, 200).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        all.extend(data.iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
}

#[tokio::test]
async fn the_event_log_lists_in_creation_order_with_filters() {
    let app = TestApp::spawn().await;
    let types =
        ["patient.created", "appointment.scheduled", "patient.created", "appointment.confirmed", "patient.created"];
    let mut ids = Vec::new();
    for (i, t) in types.iter().enumerate() {
        ids.push(record_event(&app.db, app.org_id, t, json!({"n": i})).await);
    }
    let all = page_through(&app, "").await;
    let listed: Vec<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["type"], types[i]);
        assert_eq!(e["data"], json!({"n": i}));
        assert_eq!(e["organizationId"], app.org_id.to_string());
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "exactly the delivered body: {e}");
    }
    let patients = page_through(&app, "&type=patient.created").await;
    assert_eq!(patients.len(), 3);
    assert!(patients.iter().all(|e| e["type"] == "patient.created"));

    let third_at = all[2]["createdAt"].as_str().unwrap().to_string();
    let from = page_through(&app, &format!("&from={}", third_at.replace('+', "%2B"))).await;
    assert_eq!(
        from.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(),
        all[2..].iter().map(|e| e["id"].clone()).collect::<Vec<_>>()
    );
    let from_typed = page_through(&app, &format!("&type=patient.created&from={}", third_at.replace('+', "%2B"))).await;
    assert_eq!(from_typed.len(), 2);

    let one = expect_json(app.get(&format!("/events/{}", ids[1])).await, 200).await;
    assert_eq!(one, all[1]);

    let err = expect_error(app.get("/events?type=patient.deleted").await, 400, "validation_error").await;
    assert_eq!(err["details"][0]["field"], "type");
    expect_error(app.get("/events?from=yesterday").await, 400, "validation_error").await;
    expect_error(app.get("/events?cursor=zzz").await, 400, "invalid_cursor").await;
    expect_error(app.get("/events?limit=201").await, 400, "validation_error").await;
    let future = expect_json(app.get("/events?from=2999-01-01T00:00:00Z").await, 200).await;
    assert_eq!(future, json!({"data": [], "nextCursor": null}));
}
