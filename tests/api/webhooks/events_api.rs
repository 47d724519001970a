//! The event log: list (order, filters, pagination), view, and the 30-day purge.

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

#[tokio::test]
async fn events_older_than_30_days_are_purged_unless_still_owed() {
    // No server: no dispatcher touches the deliveries set up here.
    let (_, db, org) = bare_database().await;
    let (on, _) = insert_webhook(&db, org, "https://example.com/on", &["patient.created"]).await;
    let (off, _) = insert_webhook(&db, org, "https://example.com/off", &["patient.created"]).await;
    let enable = |id: i64, enabled: bool| {
        let db = db.clone();
        async move {
            sqlx::query("UPDATE webhook_subscriptions SET enabled = $2 WHERE id = $1")
                .bind(id)
                .bind(enabled)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    // No deliveries at all.
    let old_plain = record_event(&db, org, "appointment.scheduled", json!({})).await;
    let recent = record_event(&db, org, "appointment.scheduled", json!({})).await;
    // Pending for both subscriptions; `on` stays enabled: still owed.
    let old_owed = record_event(&db, org, "patient.created", json!({})).await;
    // Delivered to both.
    let old_done = record_event(&db, org, "patient.created", json!({})).await;
    sqlx::query("UPDATE webhook_deliveries SET status = 'succeeded' WHERE event_id = $1")
        .bind(klinivo::events::parse_public_id(&old_done).unwrap())
        .execute(&db)
        .await
        .unwrap();
    // Pending only for `off`, which is then disabled: not owed any more.
    enable(on, false).await;
    let old_paused = record_event(&db, org, "patient.created", json!({})).await;
    enable(on, true).await;
    enable(off, false).await;
    for id in [&old_plain, &old_owed, &old_done, &old_paused] {
        sqlx::query("UPDATE events SET created_at = now() - interval '31 days' WHERE id = $1")
            .bind(klinivo::events::parse_public_id(id).unwrap())
            .execute(&db)
            .await
            .unwrap();
    }

    let purged = klinivo::delivery::retention::purge_expired_events(&db).await.unwrap();
    assert_eq!(purged, 3);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT 'evt_' || id::text FROM events ORDER BY seq").fetch_all(&db).await.unwrap();
    assert_eq!(left, vec![recent, old_owed]);
    // Deliveries went with their events; the owed event's stay.
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries").fetch_one(&db).await.unwrap();
    assert_eq!(deliveries, 2);
    assert_eq!(klinivo::delivery::retention::purge_expired_events(&db).await.unwrap(), 0);
}
