//! Bulk Data export end to end: kick-off, polling, the manifest, NDJSON files, `_since`
//! increments, cancel, permissions, and a job that outlives its runner.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use super::*;
use crate::helpers::*;
use klinivo::auth::Permission;

async fn kick_off(app: &TestApp, key: &str, path: &str) -> Response {
    app.client
        .get(app.url(&format!("/fhir/R4{path}")))
        .header("X-API-Key", key)
        .header("Prefer", "respond-async")
        .send()
        .await
        .unwrap()
}

/// Local path of an absolute URL the server made.
fn local(app: &TestApp, url: &str) -> String {
    app.url(&url[url.find("/fhir/R4").unwrap()..])
}

/// Polls a status URL until the manifest; asserts the `202`s carry `X-Progress`.
async fn manifest(app: &TestApp, key: &str, status_url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = app.client.get(local(app, status_url)).header("X-API-Key", key).send().await.unwrap();
        match r.status().as_u16() {
            202 => assert!(r.headers().get("x-progress").is_some()),
            200 => return r.json().await.unwrap(),
            s => panic!("status {s}: {}", r.text().await.unwrap()),
        }
        assert!(Instant::now() < deadline, "the export never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_export(app: &TestApp, key: &str, path: &str) -> Value {
    let r = kick_off(app, key, path).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let status_url = r.headers()["content-location"].to_str().unwrap().to_string();
    manifest(app, key, &status_url).await
}

/// Every resource of one type in a manifest's files.
async fn resources(app: &TestApp, key: &str, manifest: &Value, resource_type: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for f in manifest["output"].as_array().unwrap().iter().filter(|f| f["type"] == resource_type) {
        let r = app.client.get(local(app, f["url"].as_str().unwrap())).header("X-API-Key", key).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/fhir+ndjson");
        let text = r.text().await.unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len() as i64, f["count"].as_i64().unwrap());
        out.extend(lines);
    }
    out
}

#[tokio::test]
async fn a_system_export_holds_every_record_and_an_increment_holds_what_changed_since() {
    let app = demo_app().await;
    let first = run_export(&app, &app.key, "/$export?_outputFormat=application/fhir%2Bndjson").await;
    assert_eq!(first["requiresAccessToken"], true);
    let types: Vec<&str> = first["output"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
    for t in [
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Location",
        "Organization",
        "Appointment",
        "Schedule",
        "Encounter",
        "DocumentReference",
        "MedicationRequest",
        "QuestionnaireResponse",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    for (t, table) in [
        ("Patient", "patients"),
        ("Appointment", "appointments"),
        ("Encounter", "consultations"),
        ("MedicationRequest", "prescriptions"),
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE organization_id = $1"))
            .bind(app.org_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(resources(&app, &app.key, &first, t).await.len() as i64, n, "{t}");
    }
    // The downloads are audited as reads of the records they show.
    assert!(
        eventually(Duration::from_secs(5), || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT coalesce(sum(cardinality(resource_ids)), 0)::bigint FROM audit_events
                 WHERE resource_type = 'patient' AND route = 'GET /fhir/R4/$export-file/{id}/{resource_type}/{part}'",
            )
            .fetch_one(&app.db)
            .await
            .unwrap()
                >= 50
        })
        .await
    );

    // After the first export: one patient changed, one new. An export since its transactionTime
    // holds exactly those two patients.
    let since = first["transactionTime"].as_str().unwrap().to_string();
    let changed: i64 = sqlx::query_scalar("SELECT min(id) FROM patients WHERE organization_id = $1")
        .bind(app.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    expect_json(app.patch(&format!("/patients/{changed}"), &json!({"phone": "+14155550999"})).await, 200).await;
    let new = expect_json(app.post("/patients", &json!({"firstName": "New", "lastName": "Patient"})).await, 201).await;
    let increment =
        run_export(&app, &app.key, &format!("/Patient/$export?_type=Patient&_since={}", since.replace('+', "%2B")))
            .await;
    let mut ids: Vec<String> = resources(&app, &app.key, &increment, "Patient")
        .await
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut expected = vec![changed.to_string(), new["id"].as_i64().unwrap().to_string()];
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn exports_are_the_keys_own_checked_and_cancellable() {
    let app = demo_app().await;
    let r = app.client.get(app.url("/fhir/R4/$export")).header("X-API-Key", &app.key).send().await.unwrap();
    assert_eq!(fhir_json(r, 400).await["issue"][0]["expression"][0], "Prefer");
    fhir_json(kick_off(&app, &app.key, "/$export?_type=Slot").await, 400).await;
    fhir_json(kick_off(&app, &app.key, "/$export?_outputFormat=text/csv").await, 400).await;
    fhir_json(kick_off(&app, &app.key, "/Patient/$export?_type=Location").await, 400).await;
    let patients_only = app.key_with(&[Permission::ReadPatients]).await;
    fhir_json(kick_off(&app, &patients_only, "/$export?_type=DocumentReference").await, 403).await;
    // Without `_type`, the types the key may read.
    let m = run_export(&app, &patients_only, "/$export").await;
    let mut types: Vec<&str> = m["output"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
    types.dedup();
    assert_eq!(types, ["Patient", "QuestionnaireResponse"]);

    // Another key of the organization, or another organization, sees no such job.
    let r = kick_off(&app, &app.key, "/$export?_type=Patient").await;
    let status_url = r.headers()["content-location"].to_str().unwrap().to_string();
    // One export under way per key: a second kick-off meanwhile is 429 (unless the first is
    // already done, which a fast machine may manage).
    let again = kick_off(&app, &app.key, "/$export?_type=Patient&_type=").await;
    assert!(matches!(again.status().as_u16(), 202 | 429), "{}", again.status());
    if again.status() == 429 {
        assert!(again.headers().get("retry-after").is_some());
    }
    let (_, other_org_key) = app.other_org().await;
    for key in [&patients_only, &other_org_key] {
        let r = app.client.get(local(&app, &status_url)).header("X-API-Key", key).send().await.unwrap();
        fhir_json(r, 404).await;
    }
    let done = manifest(&app, &app.key, &status_url).await;
    let file_url = local(&app, done["output"][0]["url"].as_str().unwrap());
    let r = app.client.get(&file_url).header("X-API-Key", &other_org_key).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // DELETE cancels: the status and the files are gone.
    let r = app
        .client
        .request(Method::DELETE, local(&app, &status_url))
        .header("X-API-Key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = app.client.get(local(&app, &status_url)).header("X-API-Key", &app.key).send().await.unwrap();
    fhir_json(r, 404).await;
    assert_eq!(app.client.get(&file_url).header("X-API-Key", &app.key).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn an_organization_keeps_a_bounded_number_of_exports() {
    let app = demo_app().await;
    let mut refused = None;
    for i in 0..12 {
        let key = app.key_with(&[Permission::ReadProviders]).await;
        let r = kick_off(&app, &key, "/$export?_type=Organization").await;
        if r.status() == 429 {
            refused = Some(i);
            break;
        }
        assert_eq!(r.status(), 202);
    }
    assert_eq!(refused, Some(10), "the eleventh export of the organization is refused");
}

#[tokio::test]
async fn a_job_whose_runner_died_is_taken_over() {
    let app = demo_app().await;
    let key_id: i64 = sqlx::query_scalar("SELECT id FROM api_keys WHERE key_prefix = $1")
        .bind(&app.key[..11])
        .fetch_one(&app.db)
        .await
        .unwrap();
    // As a crashed process leaves it: running, with a lease that lapsed, and a stray part.
    let job: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO fhir_export_jobs (organization_id, api_key_id, kind, types, request, status, transaction_time,
                                       lease_until, expires_at)
         VALUES ($1, $2, 'system', '{Patient}', 'http://localhost/fhir/R4/$export', 'running', now(),
                 now() - interval '1 second', now() + interval '1 hour') RETURNING id",
    )
    .bind(app.org_id)
    .bind(key_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query("INSERT INTO fhir_export_files (job_id, resource_type, part, resources, ndjson) VALUES ($1, 'Patient', 7, 1, '{}')")
        .bind(job)
        .execute(&app.db)
        .await
        .unwrap();
    let m = manifest(&app, &app.key, &format!("http://x/fhir/R4/$export-status/{job}")).await;
    let patients = resources(&app, &app.key, &m, "Patient").await;
    assert_eq!(patients.len(), 50);
    assert!(m["output"].as_array().unwrap().iter().all(|f| !f["url"].as_str().unwrap().ends_with("/7")));
}
