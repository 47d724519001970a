//! A real PostgreSQL stopped and started under a running server: every request meanwhile is a
//! clean `503 service_unavailable` with `Retry-After`, and afterwards requests and webhook
//! delivery resume by themselves, with no delivery lost.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use klinivo::db::embedded::{EmbeddedPostgres, Options};
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::process::free_port;
use crate::webhooks::create_webhook;
use crate::webhooks::receiver::{Receiver, Reply};

async fn start_postgres(dir: &std::path::Path, port: u16) -> EmbeddedPostgres {
    EmbeddedPostgres::start(dir, Options { ephemeral: true, port: Some(port), ..Options::default() })
        .await
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"))
}

/// The statuses of a burst of reads, writes and idempotent writes.
async fn burst(app: &TestApp, n: usize) -> Vec<(u16, Option<String>, String)> {
    let mut seen = Vec::new();
    for i in 0..n {
        let r = match i % 3 {
            0 => app.get("/patients?limit=5").await,
            1 => app.post("/patients", &json!({"firstName": "Outage", "lastName": format!("P{i}")})).await,
            _ => {
                let body = json!({"firstName": "Outage", "lastName": "Idem"});
                app.request(Method::POST, "/patients")
                    .header("Idempotency-Key", format!("o-{i}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        seen.push((status, retry, r.text().await.unwrap()));
    }
    seen
}

#[tokio::test]
async fn postgres_stopped_and_started_under_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut pg = start_postgres(dir.path(), port).await;
    let db_url = pg.url().to_string();
    klinivo::db::migrate(&sqlx::PgPool::connect(&db_url).await.unwrap()).await.unwrap();
    // Retries one second apart: the deliveries that fail before the outage are still pending
    // (far from the dead-letter table) while PostgreSQL is down.
    let app = TestApp::spawn_on(db_url, |c| c.webhook_retry_unit = Duration::from_secs(1)).await;

    let receiver = Receiver::answering(Reply::Status(503)).await;
    create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    let mut created = BTreeSet::new();
    for i in 0..10 {
        let r = app.post("/patients", &json!({"firstName": "Before", "lastName": format!("P{i}")})).await;
        created.insert(expect_json(r, 201).await["id"].as_i64().unwrap());
    }
    receiver.wait_for(10, Duration::from_secs(10)).await;
    // Reads by id hold connections of their own pool (`db::direct`), which the outage breaks.
    let some_patient = *created.first().unwrap();
    for _ in 0..4 {
        expect_json(app.get(&format!("/patients/{some_patient}")).await, 200).await;
    }

    pg.stop();
    let during = burst(&app, 12).await;
    for (status, retry, body) in &during {
        assert_eq!(*status, 503, "during the outage: {body}");
        assert!(retry.as_deref().is_some_and(|s| s.parse::<u32>().is_ok()), "503 without Retry-After: {body}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"], "service_unavailable");
    }
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));

    let _pg = start_postgres(dir.path(), port).await;
    receiver.set_reply(Reply::Status(200));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = app.get("/patients?limit=1").await;
        let by_id = app.get(&format!("/patients/{some_patient}")).await;
        if r.status() == 200 && by_id.status() == 200 {
            break;
        }
        // A connection the restart broke answers its request 503 (retryable) and is replaced.
        for r in [r, by_id] {
            assert!(matches!(r.status().as_u16(), 200 | 503), "while reconnecting: {}", r.text().await.unwrap());
        }
        assert!(Instant::now() < deadline, "the server did not recover without a restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.client.get(app.url("/readyz")).send().await.unwrap().status(), 200);
    for _ in 0..10 {
        expect_json(app.get(&format!("/patients/{some_patient}")).await, 200).await;
    }
    for i in 0..5 {
        let r = app.post("/patients", &json!({"firstName": "After", "lastName": format!("P{i}")})).await;
        created.insert(expect_json(r, 201).await["id"].as_i64().unwrap());
    }

    // Every patient's event arrives with a 2xx answer: the ones pending through the outage and
    // the ones written after it.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        // The receiver records a request before it answers, and a delivery is marked succeeded
        // only after the answer: read the count first, so every delivery it counts is recorded.
        let ok: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")
            .fetch_one(&app.db)
            .await
            .unwrap_or(0);
        if ok as usize == created.len() {
            let delivered: BTreeSet<i64> = receiver
                .requests()
                .iter()
                .filter(|r| r.json()["type"] == "patient.created")
                .map(|r| r.json()["data"]["id"].as_i64().unwrap())
                .collect();
            assert!(created.is_subset(&delivered));
            break;
        }
        assert!(Instant::now() < deadline, "deliveries were lost: {ok} of {} succeeded", created.len());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(dead, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_database_that_refuses_connections_is_a_503_too() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/patients?limit=1").await.status(), 200);
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&app.db).await.unwrap();
    let mut admin =
        <sqlx::PgConnection as sqlx::Connection>::connect(&app.db_url.replace(&name, "postgres")).await.unwrap();
    let refuse = format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false");
    sqlx::query(&refuse).execute(&mut admin).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&mut admin)
    .await
    .unwrap();
    for (status, retry, body) in burst(&app, 6).await {
        assert_eq!(status, 503, "while the database refuses connections: {body}");
        assert!(retry.is_some(), "503 without Retry-After: {body}");
    }
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).execute(&mut admin).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.get("/patients?limit=1").await.status() != 200 {
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
