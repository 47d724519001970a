//! The write layer: one transaction per write, Idempotency-Key semantics.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use klinivo::auth::permissions::WritePatients;
use klinivo::events::{self, EventType};
use klinivo::http::error::ApiError;
use klinivo::http::extract::{Auth, Json};
use klinivo::http::response::Created;
use klinivo::http::tx::Tx;
use klinivo::AppState;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// A handler that writes an event and answers 201; `fail` makes it fail after writing.
async fn widget(auth: Auth<WritePatients>, mut tx: Tx, Json(body): Json<Value>) -> Result<impl IntoResponse, ApiError> {
    let id = events::record(&mut tx, auth.organization_id, EventType::PatientCreated, &body).await?;
    match body["mode"].as_str() {
        Some("fail") => Err(ApiError::internal("failing on purpose after the write")),
        Some("reject") => Err(ApiError::validation("mode", "rejected on purpose after the write")),
        Some("slow") => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(Created { location: format!("/api/v1/widgets/{id}"), body: json!({"id": id.to_string()}) }
                .into_response())
        }
        _ => {
            Ok(Created { location: format!("/api/v1/widgets/{id}"), body: json!({"id": id.to_string()}) }
                .into_response())
        }
    }
}

fn widgets() -> axum::Router<AppState> {
    axum::Router::<AppState>::new().route("/api/v1/widgets", post(widget))
}

async fn app() -> TestApp {
    TestApp::spawn_with_routes(widgets()).await
}

async fn events_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&app.db).await.unwrap()
}

fn send(app: &TestApp, key: &str, body: &Value) -> reqwest::RequestBuilder {
    app.request(Method::POST, "/widgets").header("Idempotency-Key", key).json(body)
}

#[tokio::test]
async fn a_repeat_replays_the_first_response_and_does_nothing() {
    let app = app().await;
    let body = json!({"name": "a"});
    let first = send(&app, "key-1", &body).send().await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let first_body: Value = first.json().await.unwrap();

    let again = send(&app, "key-1", &json!({ "name": "a" })).send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.json::<Value>().await.unwrap(), first_body);
    assert_eq!(events_count(&app).await, 1);

    // The same JSON with other whitespace and key order is the same request.
    let r = app
        .request(Method::POST, "/widgets")
        .header("Idempotency-Key", "key-2")
        .header("content-type", "application/json")
        .body(r#"{"name":"b","x":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .request(Method::POST, "/widgets")
        .header("Idempotency-Key", "key-2")
        .header("content-type", "application/json")
        .body("{ \"x\": 1,\n \"name\": \"b\" }")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(events_count(&app).await, 2);
}

#[tokio::test]
async fn same_key_different_request_is_422() {
    let app = app().await;
    assert_eq!(send(&app, "k", &json!({"name": "a"})).send().await.unwrap().status(), 201);
    let r = send(&app, "k", &json!({"name": "b"})).send().await.unwrap();
    expect_error(r, 422, "idempotency_key_mismatch").await;
    assert_eq!(events_count(&app).await, 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_api_key() {
    let app = app().await;
    let other = app.key_with(&[klinivo::auth::Permission::WritePatients]).await;
    assert_eq!(send(&app, "shared", &json!({"n": 1})).send().await.unwrap().status(), 201);
    let r = app
        .request_as(&other, Method::POST, "/widgets")
        .header("Idempotency-Key", "shared")
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("idempotent-replayed").is_none());
    assert_eq!(events_count(&app).await, 2);
}

#[tokio::test]
async fn invalid_keys_are_400() {
    let app = app().await;
    let long = "x".repeat(256);
    for bad in [long.as_str(), "tab\there", "ünïcode"] {
        let r = app
            .request(Method::POST, "/widgets")
            .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(bad.as_bytes()).unwrap())
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let body = expect_error(r, 400, "validation_error").await;
        assert_eq!(body["details"][0]["field"], "Idempotency-Key");
    }
    assert_eq!(send(&app, &"y".repeat(255), &json!({})).send().await.unwrap().status(), 201);
    assert_eq!(events_count(&app).await, 1);
}

#[tokio::test]
async fn a_failure_after_writing_stores_nothing_and_frees_the_key() {
    let app = app().await;
    let r = send(&app, "retry-me", &json!({"mode": "fail"})).send().await.unwrap();
    let body = expect_error(r, 500, "internal_error").await;
    assert!(!body["message"].as_str().unwrap().contains("purpose"), "internals leaked: {body}");
    assert_eq!(events_count(&app).await, 0, "the write of a failed request was kept");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys").fetch_one(&app.db).await.unwrap();
    assert_eq!(stored, 0);
    // The retry runs afresh (same key, same request) and succeeds... once the handler does.
    let r = send(&app, "retry-me", &json!({"mode": "fail"})).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let r = app.request(Method::POST, "/widgets").json(&json!({"mode": "ok"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(events_count(&app).await, 1);
}

#[tokio::test]
async fn a_client_error_is_kept_but_its_writes_are_not() {
    let app = app().await;
    let r = send(&app, "bad", &json!({"mode": "reject"})).send().await.unwrap();
    expect_error(r, 400, "validation_error").await;
    assert_eq!(events_count(&app).await, 0);
    let r = send(&app, "bad", &json!({"mode": "reject"})).send().await.unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    expect_error(r, 400, "validation_error").await;
    assert_eq!(events_count(&app).await, 0);
}

#[tokio::test]
async fn without_a_key_a_rejected_write_changes_nothing() {
    let app = app().await;
    let r = app.request(Method::POST, "/widgets").json(&json!({"mode": "reject"})).send().await.unwrap();
    expect_error(r, 400, "validation_error").await;
    assert_eq!(events_count(&app).await, 0);
}

#[tokio::test]
async fn a_key_in_use_is_409() {
    let app = app().await;
    let slow = send(&app, "busy", &json!({"mode": "slow"}));
    let first = tokio::spawn(async move { slow.send().await.unwrap().status().as_u16() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = send(&app, "busy", &json!({"mode": "slow"})).send().await.unwrap();
    expect_error(r, 409, "idempotency_key_in_use").await;
    assert_eq!(first.await.unwrap(), 201);
    let r = send(&app, "busy", &json!({"mode": "slow"})).send().await.unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(events_count(&app).await, 1);
}

#[tokio::test]
async fn fifty_concurrent_requests_make_one_effect() {
    let app = app().await;
    for round in 0..5 {
        let key = format!("race-{round}");
        let mut handles = Vec::new();
        for _ in 0..50 {
            let req = send(&app, &key, &json!({"round": round}));
            handles.push(tokio::spawn(async move {
                let r = req.send().await.unwrap();
                let replayed = r.headers().contains_key("idempotent-replayed");
                (r.status().as_u16(), replayed, r.text().await.unwrap())
            }));
        }
        let mut created = Vec::new();
        for h in handles {
            let (status, replayed, body) = h.await.unwrap();
            match status {
                201 => created.push((replayed, body)),
                409 => assert!(body.contains("idempotency_key_in_use"), "{body}"),
                s => panic!("unexpected status {s}: {body}"),
            }
        }
        assert_eq!(created.iter().filter(|(replayed, _)| !replayed).count(), 1, "round {round}");
        assert!(created.windows(2).all(|w| w[0].1 == w[1].1), "replays differ from the original");
    }
    assert_eq!(events_count(&app).await, 5);
}

#[tokio::test]
async fn two_instances_one_key_one_effect() {
    let a = app().await;
    let b = TestApp::spawn_on_with_routes(a.db_url.clone(), widgets()).await;
    for round in 0..3 {
        let key = format!("cross-{round}");
        let mut handles = Vec::new();
        for i in 0..20 {
            // The same API key on both instances.
            let target = if i % 2 == 0 { &a } else { &b };
            let req = target
                .request_as(&a.key, Method::POST, "/widgets")
                .header("Idempotency-Key", key.as_str())
                .json(&json!({"x": round}));
            handles.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
        }
        for h in handles {
            assert!(matches!(h.await.unwrap(), 201 | 409));
        }
    }
    assert_eq!(events_count(&a).await, 3);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = app().await;
    let big = json!({"blob": "x".repeat(1024 * 1024 + 10)});
    let r = app.request(Method::POST, "/widgets").json(&big).send().await.unwrap();
    expect_error(r, 413, "payload_too_large").await;
    let r = send(&app, "big", &big).send().await.unwrap();
    expect_error(r, 413, "payload_too_large").await;
    assert_eq!(events_count(&app).await, 0);
    let _ = StatusCode::OK;
}

#[tokio::test]
async fn malformed_json_and_unknown_fields_are_400() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        name: String,
        age: Option<u32>,
    }
    async fn strict(_: Auth<WritePatients>, _tx: Tx, Json(_): Json<Strict>) -> StatusCode {
        StatusCode::NO_CONTENT
    }
    let app = TestApp::spawn_with_routes(axum::Router::<AppState>::new().route("/api/v1/strict", post(strict))).await;
    let post_raw = |body: &'static str| {
        app.request(Method::POST, "/strict").header("content-type", "application/json").body(body).send()
    };
    expect_error(post_raw("{\"name\": ").await.unwrap(), 400, "invalid_json").await;
    expect_error(post_raw("").await.unwrap(), 400, "invalid_json").await;
    let body =
        expect_error(post_raw(r#"{"name": "a", "nickname": "b"}"#).await.unwrap(), 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "nickname");
    let body = expect_error(post_raw(r#"{"name": "a", "age": "old"}"#).await.unwrap(), 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "age");
    let body = expect_error(post_raw(r#"{"age": 3}"#).await.unwrap(), 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "name");
    assert_eq!(post_raw(r#"{"name": "a"}"#).await.unwrap().status(), 204);
}

/// Requests abandoned at any instant (the client gives up, the connection closes) must not
/// leave a pooled connection inside a transaction: the next request on it would run in that
/// transaction (read-only, or aborted) and fail. A small pool makes every connection reused.
/// The fault it guards against (a `BEGIN` cancelled in flight, see `db::begin_with`) needs a
/// drop at one instant, so without the fix this fails in some runs, not all (seen: 1 in 3).
#[tokio::test]
async fn requests_abandoned_mid_flight_leave_every_connection_clean() {
    let app = TestApp::spawn_with(|c| c.db_max_connections = 3).await;
    let patient = seed_patient(&app.db, app.org_id).await;
    // Three at a time, so they reach the database rather than wait for a connection, each
    // given up after a different delay, so that some are dropped at every step of a request.
    for wave in 0..400u64 {
        let mut abandoned = tokio::task::JoinSet::new();
        for j in 0..3u64 {
            let i = wave * 3 + j;
            let url = app.url("/api/v1");
            let key = app.key.clone();
            abandoned.spawn(async move {
                // A client of its own: giving up closes its connection, as a gone client's does.
                let client = reqwest::Client::new();
                let request = match i % 3 {
                    0 => client.get(format!("{url}/patients?q=ada")),
                    1 => client.post(format!("{url}/patients")).json(&json!({"firstName": "Ada", "lastName": "L"})),
                    _ => client
                        .post(format!("{url}/patients"))
                        .header("Idempotency-Key", format!("abandoned-{i}"))
                        .json(&json!({"firstName": "Ada", "lastName": "L"})),
                };
                let patience = Duration::from_micros(100 + (i * 7919) % 3000);
                let _ = tokio::time::timeout(patience, request.header("X-API-Key", key).send()).await;
            });
        }
        while abandoned.join_next().await.is_some() {}
    }
    for i in 0..30 {
        let list = app.get("/patients?q=ada").await;
        assert_eq!(list.status(), 200, "list {i}: {}", list.text().await.unwrap_or_default());
        let by_id = app.get(&format!("/patients/{patient}")).await;
        assert_eq!(by_id.status(), 200, "read {i}");
        let created = app
            .request(Method::POST, "/patients")
            .header("Idempotency-Key", format!("after-{i}"))
            .json(&json!({"firstName": "Grace", "lastName": "H"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "create {i}: {}", created.text().await.unwrap_or_default());
    }
}

/// Counts its runs and fails every run after the first: a retry answered by running the
/// handler again would see the failure (and bump the count).
async fn once_only(
    axum::extract::State(runs): axum::extract::State<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
    auth: Auth<WritePatients>,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<impl IntoResponse, ApiError> {
    if runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
        return Err(ApiError::internal("the handler ran again"));
    }
    let id = events::record(&mut tx, auth.organization_id, EventType::PatientCreated, &body).await?;
    Ok(Created { location: format!("/api/v1/once/{id}"), body: json!({"id": id.to_string()}) }.into_response())
}

#[tokio::test]
async fn a_retry_is_answered_from_the_store_without_running_the_handler() {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let routes = axum::Router::<AppState>::new().route(
        "/api/v1/once",
        post({
            let runs = runs.clone();
            move |auth, tx, body| once_only(axum::extract::State(runs), auth, tx, body)
        }),
    );
    let app = TestApp::spawn_with_routes(routes).await;
    let send = |body: Value| app.request(Method::POST, "/once").header("Idempotency-Key", "retry-1").json(&body).send();
    let first = send(json!({"n": 1})).await.unwrap();
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].to_str().unwrap().to_string();
    let first_body: Value = first.json().await.unwrap();
    for _ in 0..3 {
        let again = send(json!({"n": 1})).await.unwrap();
        assert_eq!(again.status(), 201, "a retry must replay the stored 201, not re-run the handler");
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["location"].to_str().unwrap(), location);
        assert_eq!(again.json::<Value>().await.unwrap(), first_body);
    }
    // A different request under the same key is refused, also without running the handler.
    expect_error(send(json!({"n": 2})).await.unwrap(), 422, "idempotency_key_mismatch").await;
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1, "the handler ran on a replay");
    assert_eq!(events_count(&app).await, 1);
    // Every connection went back to the pool clean after the refused claims.
    for _ in 0..12 {
        let r = app.request(Method::POST, "/once").header("Idempotency-Key", "retry-1").json(&json!({"n": 1})).send();
        expect_json(r.await.unwrap(), 201).await;
        assert_eq!(app.get("/health").await.status(), 200);
    }
    let r = app.post("/patients", &json!({"firstName": "Ada", "lastName": "Lovelace"})).await;
    assert_eq!(r.status(), 201, "a pooled connection was left in a failed transaction");
}

/// The claim finds a stored response by the primary key, whatever the API key has stored: the
/// key it is sent (`convert_from(…)`, collation "C") is compared under the column's collation.
/// Counted in rows and index entries read, not in time.
#[tokio::test]
async fn the_claim_reads_one_stored_response_however_many_the_key_has() {
    let app = TestApp::spawn().await;
    let key_id: i64 = sqlx::query_scalar("SELECT id FROM api_keys WHERE organization_id = $1 LIMIT 1")
        .bind(app.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, status_code, response_body)
         SELECT $1, 'stored-' || i, '\\x00', 201, '\\x7b7d' FROM generate_series(1, 5000) i",
    )
    .bind(key_id)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("ANALYZE idempotency_keys").execute(&app.db).await.unwrap();

    let mut conn = app.db.acquire().await.unwrap();
    let before = stored_responses_read(&mut conn).await;
    // As the write layer sends it (a fresh key: both lookups run), seven times so that
    // PL/pgSQL's generic plan is in use too.
    for i in 0..7 {
        let claim = format!(
            "SELECT klinivo_idempotency_claim({key_id}, convert_from(decode('{}', 'hex'), 'UTF8'), {}, 24)",
            hex::encode(format!("fresh-{i}")),
            1_000_000 + i
        );
        sqlx::query(&claim).execute(&mut *conn).await.unwrap();
    }
    let after = stored_responses_read(&mut conn).await;
    assert!(after - before <= 14, "14 lookups by primary key read {} rows and index entries", after - before);
}

/// Rows of `idempotency_keys` read so far (by any scan), this connection's included.
async fn stored_responses_read(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query("SELECT pg_stat_force_next_flush()").execute(&mut *conn).await.unwrap();
    sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await.unwrap();
    sqlx::query_scalar(
        "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) + (SELECT sum(idx_tup_read) FROM pg_stat_user_indexes
                                                            WHERE relname = 'idempotency_keys')::bigint
         FROM pg_stat_user_tables WHERE relname = 'idempotency_keys'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}
