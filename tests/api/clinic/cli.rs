//! The real binary: `klinivo demo` and `klinivo clinic import`.

use std::process::Output;

use klinivo::auth::store;
use serde_json::Value;

use crate::helpers::{expect_json, fresh_database, TestApp};

async fn klinivo(db_url: &str, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_klinivo"));
    command
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("KLINIVO_LOG_FORMAT", "pretty")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command.output().await.expect("run klinivo")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn demo_prints_only_a_working_key() {
    let db_url = fresh_database().await;
    let out = klinivo(&db_url, &["demo"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is exactly the key: {stdout:?}");
    let key = lines[0];
    assert!(key.starts_with("kv_") && key.len() > 40 && !key.contains(' '), "{key}");
    assert!(!stderr.contains(&key[11..]), "the secret is not repeated on stderr");

    let app = TestApp::spawn_on(db_url, |_| {}).await;
    let health = expect_json(app.request_as(key, reqwest::Method::GET, "/health").send().await.unwrap(), 200).await;
    assert_eq!(health["permissions"].as_array().unwrap().len(), 9, "every permission");
    let providers =
        expect_json(app.request_as(key, reqwest::Method::GET, "/providers").send().await.unwrap(), 200).await;
    assert_eq!(providers["data"].as_array().unwrap().len(), 5);
    let org: uuid::Uuid = health["organizationId"].as_str().unwrap().parse().unwrap();
    let patients: i64 = sqlx::query_scalar("SELECT count(*) FROM patients WHERE organization_id = $1")
        .bind(org)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(patients, 50);
}

#[tokio::test]
async fn clinic_import_twice_then_demo_into_the_same_organization() {
    let db_url = fresh_database().await;
    let pool = klinivo::db::connect(&db_url, 2).await.unwrap();
    let org = store::create_organization(&pool, "CLI Clinic", "UTC").await.unwrap().to_string();

    let first = klinivo(&db_url, &["clinic", "import", "--org", &org, "examples/clinic.json"]).await;
    assert!(first.status.success(), "stderr: {}", text(&first.stderr));
    let summary: Value = serde_json::from_slice(&first.stdout).expect("stdout is one JSON summary");
    assert_eq!(summary["organizationId"], org.as_str());
    assert_eq!(summary["locations"]["created"], 2);
    assert_eq!(summary["providers"]["created"], 5);
    assert!(summary["locationIds"]["midtown"].as_i64().is_some());
    assert!(text(&first.stderr).contains("imported"));

    let second = klinivo(&db_url, &["clinic", "import", "--org", &org, "examples/clinic.json"]).await;
    assert!(second.status.success(), "stderr: {}", text(&second.stderr));
    let again: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(again["locations"], serde_json::json!({"created": 0, "updated": 0, "unchanged": 2}));
    assert_eq!(again["providers"], serde_json::json!({"created": 0, "updated": 0, "unchanged": 5}));
    assert_eq!(again["providerIds"], summary["providerIds"]);
    assert!(text(&second.stderr).contains("already up to date"));

    // demo --org: seeds into it (reusing the imported providers); nothing on stdout.
    let demo = klinivo(&db_url, &["demo", "--org", &org]).await;
    assert!(demo.status.success(), "stderr: {}", text(&demo.stderr));
    assert!(demo.stdout.is_empty());
    let providers: i64 = sqlx::query_scalar("SELECT count(*) FROM providers").fetch_one(&pool).await.unwrap();
    assert_eq!(providers, 5);

    // Errors: a bad file names the problem; an unknown organization is refused.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), br#"{"locations": [{"key": "x", "name": "X", "timezone": "Moon/Base"}]}"#).unwrap();
    let out = klinivo(&db_url, &["clinic", "import", "--org", &org, bad.path().to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("locations[0].timezone"), "{}", text(&out.stderr));
    let stranger = uuid::Uuid::new_v4().to_string();
    let out = klinivo(&db_url, &["clinic", "import", "--org", &stranger, "examples/clinic.json"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not found"), "{}", text(&out.stderr));
}
