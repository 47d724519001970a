//! Authentication, permissions, errors, operator endpoints, request ids.

use std::time::Duration;

use klinivo::auth::Permission;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn health_reports_the_key() {
    let app = TestApp::spawn().await;
    let body = expect_json(app.get("/health").await, 200).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["keyPrefix"], &app.key[..11]);
    assert_eq!(body["organizationId"], app.org_id.to_string());
    assert_eq!(body["permissions"].as_array().unwrap().len(), 9);

    let limited = app.key_with(&[Permission::ReadPatients, Permission::ReadAppointments]).await;
    let r = app.request_as(&limited, Method::GET, "/health").send().await.unwrap();
    let body = expect_json(r, 200).await;
    assert_eq!(body["permissions"], json!(["READ_PATIENTS", "READ_APPOINTMENTS"]));
}

#[tokio::test]
async fn missing_and_invalid_keys_are_refused() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/api/v1/health")).send().await.unwrap();
    expect_error(r, 401, "missing_api_key").await;

    for bad in ["kv_nope", "not-a-key", &format!("{}x", app.key), &app.key.to_uppercase()] {
        let r = app.request_as(bad, Method::GET, "/health").send().await.unwrap();
        let body = expect_error(r, 401, "invalid_api_key").await;
        assert_eq!(body["message"], "Invalid or expired API key");
    }
    // Well-formed (valid checksum) but unknown.
    let unknown = klinivo::auth::keys::generate().secret;
    let r = app.request_as(&unknown, Method::GET, "/health").send().await.unwrap();
    expect_error(r, 401, "invalid_api_key").await;
}

/// A revoked or expired key is refused as soon as the change commits (it is announced to every
/// instance) and in any case within the one second a key may stay cached.
async fn refused_within_a_second(app: &TestApp, key: &str) {
    let refused = eventually(Duration::from_secs(3), || async {
        app.request_as(key, Method::GET, "/health").send().await.unwrap().status() == 401
    })
    .await;
    assert!(refused, "the key is still accepted");
    let r = app.request_as(key, Method::GET, "/health").send().await.unwrap();
    expect_error(r, 401, "invalid_api_key").await;
}

#[tokio::test]
async fn revoked_and_expired_keys_are_refused_at_once() {
    let app = TestApp::spawn().await;
    let key = app.key_with(&[Permission::ReadPatients]).await;
    assert_eq!(app.request_as(&key, Method::GET, "/health").send().await.unwrap().status(), 200);
    klinivo::auth::store::revoke_key(&mut *app.db.acquire().await.unwrap(), None, &key[..11]).await.unwrap();
    refused_within_a_second(&app, &key).await;

    let key = app.key_with(&[Permission::ReadPatients]).await;
    assert_eq!(app.request_as(&key, Method::GET, "/health").send().await.unwrap().status(), 200);
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_prefix = $1")
        .bind(&key[..11])
        .execute(&app.db)
        .await
        .unwrap();
    refused_within_a_second(&app, &key).await;
}

#[tokio::test]
async fn revocation_reaches_every_instance() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.db_url.clone(), |_| {}).await;
    let key = a.key_with(&[Permission::ReadPatients]).await;
    for app in [&a, &b] {
        assert_eq!(app.request_as(&key, Method::GET, "/health").send().await.unwrap().status(), 200);
    }
    klinivo::auth::store::revoke_key(&mut *a.db.acquire().await.unwrap(), None, &key[..11]).await.unwrap();
    for app in [&a, &b] {
        refused_within_a_second(app, &key).await;
    }
}

#[tokio::test]
async fn keys_are_stored_hashed_and_last_use_is_batched() {
    let app = TestApp::spawn().await;
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT key_prefix, key_hash FROM api_keys").fetch_all(&app.db).await.unwrap();
    for (prefix, hash) in &rows {
        assert_eq!(prefix.len(), 11);
        assert_eq!(hash.len(), 32);
    }
    let dump: String =
        sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM api_keys t").fetch_one(&app.db).await.unwrap();
    assert!(!dump.contains(&app.key[3..]), "the key's secret part is stored in clear");

    assert_eq!(app.get("/health").await.status(), 200);
    let last_used = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
            "SELECT last_used_at FROM api_keys WHERE key_prefix = $1",
        )
        .bind(&app.key[..11])
        .fetch_one(&app.db)
        .await
        .unwrap()
        .is_some()
    };
    assert!(eventually(Duration::from_secs(15), last_used).await, "lastUsedAt never recorded");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
    expect_error(r, 404, "not_found").await;
    let r = app.client.get(app.url("/nope")).send().await.unwrap();
    expect_error(r, 404, "not_found").await;
    let r = app.request(Method::DELETE, "/health").send().await.unwrap();
    expect_error(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn operator_endpoints_need_no_key() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.get("/health").await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("klinivo_http_requests_total{route=\"/api/v1/health\",method=\"GET\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("klinivo_http_request_duration_seconds_bucket"));
    let queued = text.lines().find_map(|l| l.strip_prefix("klinivo_audit_queue_entries "));
    assert!(queued.is_some_and(|n| n.trim().parse::<u64>().is_ok()), "audit queue gauge: {text}");
    assert!(!text.contains(&app.key[..11]), "metrics must not carry key prefixes");
}

#[tokio::test]
async fn metrics_use_route_templates_not_raw_paths() {
    let app = TestApp::spawn().await;
    app.client.get(app.url("/api/v1/patients/123456")).header("X-API-Key", &app.key).send().await.unwrap();
    app.client.get(app.url("/some/random/path/987654")).send().await.unwrap();
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("123456"), "{text}");
    assert!(!text.contains("987654"), "{text}");
}

#[tokio::test]
async fn readyz_follows_the_database_down_and_back() {
    let db_url = fresh_database().await;
    let mut proxy = DbProxy::start(&db_url).await;
    let app = TestApp::spawn_on(proxy.url(&db_url), |_| {}).await;
    let ready = |app: &TestApp| {
        let url = app.url("/readyz");
        let client = app.client.clone();
        async move { client.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    };
    assert_eq!(ready(&app).await, 200);
    proxy.down();
    assert!(eventually(Duration::from_secs(20), || async { ready(&app).await == 503 }).await);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    if r.status() == 503 {
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "service_unavailable");
    }
    proxy.up().await;
    assert!(eventually(Duration::from_secs(20), || async { ready(&app).await == 200 }).await);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let r = app.request(Method::GET, "/health").header("X-Request-Id", "abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = app.request(Method::GET, "/health").send().await.unwrap();
    assert!(r.headers()["x-request-id"].len() >= 16);
    // An unreasonable id is replaced, not echoed.
    let r = app.request(Method::GET, "/health").header("X-Request-Id", "a b<script>").send().await.unwrap();
    assert_ne!(r.headers()["x-request-id"], "a b<script>");
}

#[tokio::test]
async fn responses_forbid_caching_and_sniffing() {
    let app = TestApp::spawn().await;
    let r = app.get("/health").await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}
