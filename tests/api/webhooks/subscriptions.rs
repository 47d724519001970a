//! The subscription endpoints: create, list, view, update, delete, rotate, validation,
//! URL rules, permissions and tenancy.

use klinivo::auth::Permission;
use reqwest::Method;
use serde_json::json;

use super::*;

/// The first detail names `field` (an unknown field may be reported with its path repeated by
/// the shared JSON extractor before its fix is merged: `secret.secret`).
fn assert_names_field(err: &serde_json::Value, field: &str) {
    let named = err["details"][0]["field"].as_str().unwrap_or_default();
    assert!(named == field || named == format!("{field}.{field}"), "expected {field}: {err}");
}

#[tokio::test]
async fn create_shows_the_secret_once_and_view_never() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/webhooks",
            &json!({"url": "https://example.com/hooks", "events": ["appointment.scheduled", "patient.created",
                    "appointment.scheduled"], "description": "Calendar sync"}),
        )
        .await;
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let created = expect_json(r, 201).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/webhooks/{id}"));
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    use base64::Engine;
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(&secret[6..]).unwrap().len(), 32);
    // Duplicates dropped, order kept; enabled by default.
    assert_eq!(created["events"], json!(["appointment.scheduled", "patient.created"]));
    assert_eq!(created["enabled"], true);
    assert_eq!(created["description"], "Calendar sync");
    for field in ["createdAt", "updatedAt"] {
        assert!(created[field].is_string());
    }

    let viewed = expect_json(app.get(&location.replace("/api/v1", "")).await, 200).await;
    assert!(viewed.get("secret").is_none());
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("secret");
    assert_eq!(viewed, expected);
    let listed = expect_json(app.get("/webhooks").await, 200).await;
    assert_eq!(listed["data"], json!([expected]));
    assert!(!listed.to_string().contains("whsec_"));
}

#[tokio::test]
async fn validation_names_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"events": ["patient.created"]}), "url"),
        (json!({"url": "https://example.com/h"}), "events"),
        (json!({"url": "https://example.com/h", "events": []}), "events"),
        (json!({"url": "https://example.com/h", "events": ["patient.created", "patient.deleted"]}), "events[1]"),
        (json!({"url": "https://example.com/h", "events": ["webhook.test"]}), "events[0]"),
        (json!({"url": "https://example.com/h", "events": ["patient.created"], "secret": "whsec_x"}), "secret"),
        (
            json!({"url": "https://example.com/h", "events": ["patient.created"], "description": "x".repeat(501)}),
            "description",
        ),
        (json!({"url": "https://example.com/h", "events": ["patient.created"], "enabled": "yes"}), "enabled"),
    ];
    for (body, field) in cases {
        let err = expect_error(app.post("/webhooks", &body).await, 400, "validation_error").await;
        assert_names_field(&err, field);
    }
    let r = app.request(Method::POST, "/webhooks").header("content-type", "application/json").body("{nope").send();
    expect_error(r.await.unwrap(), 400, "invalid_json").await;
    for url in ["ftp://example.com/h", "not a url", "", "https://"] {
        let body = json!({"url": url, "events": ["patient.created"]});
        expect_error(app.post("/webhooks", &body).await, 400, "invalid_webhook_url").await;
    }
    let listed = expect_json(app.get("/webhooks").await, 200).await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn internal_destinations_are_refused_at_creation_and_update() {
    let app = TestApp::spawn_with(|c| c.webhook_allow_private = false).await;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://172.16.5.4/hook",
        "https://192.168.0.10/hook",
        "https://100.64.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",
        "https://[fe80::1]/hook",
        "https://localhost/hook",
        "https://localhost:8443/hook",
        "https://2130706433/hook",
        "http://example.com/hook",
        "http://93.184.216.34/hook",
    ] {
        let r = app.post("/webhooks", &json!({"url": url, "events": ["patient.created"]})).await;
        let err = expect_error(r, 400, "invalid_webhook_url").await;
        assert!(!err["message"].as_str().unwrap().is_empty(), "{url}");
    }
    // A public literal address passes (no DNS needed).
    let (id, _) = create_webhook(&app, "https://93.184.216.34/hook", &["patient.created"]).await;
    let r = app.patch(&format!("/webhooks/{id}"), &json!({"url": "https://[::1]:8443/x"})).await;
    expect_error(r, 400, "invalid_webhook_url").await;
    let r = app.patch(&format!("/webhooks/{id}"), &json!({"url": "https://localhost/x"})).await;
    expect_error(r, 400, "invalid_webhook_url").await;
    let after = expect_json(app.get(&format!("/webhooks/{id}")).await, 200).await;
    assert_eq!(after["url"], "https://93.184.216.34/hook");
}

#[tokio::test]
async fn update_changes_only_what_is_sent_and_null_clears_description() {
    let app = TestApp::spawn().await;
    let created = expect_json(
        app.post(
            "/webhooks",
            &json!({"url": "https://example.com/a", "events": ["patient.created"], "description": "first"}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let path = format!("/webhooks/{id}");
    let updated = expect_json(app.patch(&path, &json!({"enabled": false})).await, 200).await;
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["url"], "https://example.com/a");
    assert_eq!(updated["description"], "first");
    let updated = expect_json(
        app.patch(
            &path,
            &json!({"url": "https://example.com/b", "events": ["intake.completed", "appointment.no_show"],
                    "description": null, "enabled": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(updated["url"], "https://example.com/b");
    assert_eq!(updated["events"], json!(["intake.completed", "appointment.no_show"]));
    assert_eq!(updated["description"], json!(null));
    assert_eq!(updated["enabled"], true);
    assert!(updated["updatedAt"].as_str().unwrap() >= created["updatedAt"].as_str().unwrap());
    assert!(updated.get("secret").is_none());

    for (body, field) in [
        (json!({"url": null}), "url"),
        (json!({"events": null}), "events"),
        (json!({"enabled": null}), "enabled"),
        (json!({"events": []}), "events"),
        (json!({"events": ["nope"]}), "events[0]"),
        (json!({"secret": "whsec_mine"}), "secret"),
    ] {
        let err = expect_error(app.patch(&path, &body).await, 400, "validation_error").await;
        assert_names_field(&err, field);
    }
    let unchanged = expect_json(app.get(&path).await, 200).await;
    assert_eq!(unchanged, updated);
}

#[tokio::test]
async fn delete_removes_the_subscription() {
    let app = TestApp::spawn().await;
    let (id, _) = create_webhook(&app, "https://example.com/h", &["patient.created"]).await;
    let r = app.delete(&format!("/webhooks/{id}")).await;
    assert_eq!(r.status(), 204);
    expect_error(app.get(&format!("/webhooks/{id}")).await, 404, "not_found").await;
    expect_error(app.delete(&format!("/webhooks/{id}")).await, 404, "not_found").await;
}

#[tokio::test]
async fn rotate_secret_returns_a_new_secret() {
    let app = TestApp::spawn().await;
    let (id, old) = create_webhook(&app, "https://example.com/h", &["patient.created"]).await;
    let rotated = expect_json(app.post(&format!("/webhooks/{id}/rotate-secret"), &json!({})).await, 200).await;
    let new = rotated["secret"].as_str().unwrap();
    assert!(new.starts_with("whsec_"));
    assert_ne!(new, old);
    assert_eq!(rotated["id"], id);
    let r = app.request(Method::POST, &format!("/webhooks/{id}/rotate-secret")).send().await.unwrap();
    let again = expect_json(r, 200).await;
    assert_ne!(again["secret"], rotated["secret"]);
}

#[tokio::test]
async fn pagination_never_skips_or_repeats() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create_webhook(&app, &format!("https://example.com/{i}"), &["patient.created"]).await.0);
    }
    for query in ["", "&updatedSince=2000-01-01T00:00:00Z"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/webhooks?limit=2{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = expect_json(app.get(&path).await, 200).await;
            let data = page["data"].as_array().unwrap();
            assert!(data.len() <= 2);
            seen.extend(data.iter().map(|w| w["id"].as_i64().unwrap()));
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids, "query {query:?} saw {seen:?}");
    }
    expect_error(app.get("/webhooks?limit=0").await, 400, "validation_error").await;
    expect_error(app.get("/webhooks?cursor=garbage!").await, 400, "invalid_cursor").await;
    expect_error(app.get("/webhooks?colour=red").await, 400, "validation_error").await;
}

#[tokio::test]
async fn every_endpoint_needs_manage_webhooks() {
    let app = TestApp::spawn().await;
    let (id, _) = create_webhook(&app, "https://example.com/h", &["patient.created"]).await;
    let event = record_event(&app.db, app.org_id, "patient.created", json!({"id": 1})).await;
    let others: Vec<Permission> = Permission::ALL.into_iter().filter(|p| *p != Permission::ManageWebhooks).collect();
    let key = app.key_with(&others).await;
    let body = json!({"url": "https://example.com/x", "events": ["patient.created"]});
    for (method, path) in [
        (Method::GET, "/webhooks".to_string()),
        (Method::POST, "/webhooks".to_string()),
        (Method::GET, format!("/webhooks/{id}")),
        (Method::PATCH, format!("/webhooks/{id}")),
        (Method::DELETE, format!("/webhooks/{id}")),
        (Method::POST, format!("/webhooks/{id}/rotate-secret")),
        (Method::POST, format!("/webhooks/{id}/test")),
        (Method::GET, format!("/webhooks/{id}/deliveries")),
        (Method::GET, format!("/webhooks/{id}/deliveries/1")),
        (Method::POST, format!("/webhooks/{id}/deliveries/1/redeliver")),
        (Method::POST, format!("/webhooks/{id}/recover")),
        (Method::GET, "/events".to_string()),
        (Method::GET, format!("/events/{event}")),
    ] {
        let r = app.request_as(&key, method.clone(), &path).json(&body).send().await.unwrap();
        let err = expect_error(r, 403, "insufficient_permission").await;
        assert!(err["message"].as_str().unwrap().contains("MANAGE_WEBHOOKS"), "{method} {path}");
    }
    // Nothing changed.
    let viewed = expect_json(app.get(&format!("/webhooks/{id}")).await, 200).await;
    assert_eq!(viewed["url"], "https://example.com/h");
}

#[tokio::test]
async fn another_organizations_webhooks_are_not_found() {
    let app = TestApp::spawn().await;
    let (other_org, other_key) = app.other_org().await;
    let (theirs, _) = insert_webhook(&app.db, other_org, "https://example.com/theirs", &["patient.created"]).await;
    let their_event = record_event(&app.db, other_org, "patient.created", json!({"id": 1})).await;
    let their_delivery: i64 = sqlx::query_scalar("SELECT id FROM webhook_deliveries WHERE webhook_id = $1")
        .bind(theirs)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let body = json!({"url": "https://example.com/x", "since": chrono::Utc::now().to_rfc3339()});
    for (method, path) in [
        (Method::GET, format!("/webhooks/{theirs}")),
        (Method::PATCH, format!("/webhooks/{theirs}")),
        (Method::DELETE, format!("/webhooks/{theirs}")),
        (Method::POST, format!("/webhooks/{theirs}/rotate-secret")),
        (Method::POST, format!("/webhooks/{theirs}/test")),
        (Method::GET, format!("/webhooks/{theirs}/deliveries")),
        (Method::GET, format!("/webhooks/{theirs}/deliveries/{their_delivery}")),
        (Method::POST, format!("/webhooks/{theirs}/deliveries/{their_delivery}/redeliver")),
        (Method::GET, format!("/events/{their_event}")),
    ] {
        let payload = if method == Method::PATCH { json!({"url": "https://example.com/x"}) } else { json!({}) };
        let r = app.request(method.clone(), &path).json(&payload).send().await.unwrap();
        expect_error(r, 404, "not_found").await;
    }
    let r = app.post(&format!("/webhooks/{theirs}/recover"), &json!({"since": body["since"]})).await;
    expect_error(r, 404, "not_found").await;
    let listed = expect_json(app.get("/webhooks").await, 200).await;
    assert_eq!(listed["data"], json!([]));
    let events = expect_json(app.get("/events").await, 200).await;
    assert_eq!(events["data"], json!([]));
    // The owner still sees it, unchanged.
    let r = app.request_as(&other_key, Method::GET, &format!("/webhooks/{theirs}")).send().await.unwrap();
    assert_eq!(expect_json(r, 200).await["url"], "https://example.com/theirs");
    for path in ["/webhooks/abc", "/webhooks/99999999", "/events/nope", "/events/evt_not-a-uuid"] {
        expect_error(app.get(path).await, 404, "not_found").await;
    }
}
