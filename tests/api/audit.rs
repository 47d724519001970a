//! The access audit log: read back after a scripted series of requests; append-only.

use std::time::Duration;

use klinivo::auth::Permission;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

mod every_route;
mod partitions;
mod routes;
mod seed;

async fn audit(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let r = app.request_as(key, Method::GET, &format!("/audit-events{query}")).send().await.unwrap();
    expect_json(r, 200).await["data"].as_array().unwrap().clone()
}

/// One audit row: action, resource type, id, ids, status.
type Row = (String, String, Option<i64>, Option<Vec<i64>>, i16);

/// The entries of one request, in order.
async fn rows_of(app: &TestApp, request_id: &str) -> Vec<Row> {
    sqlx::query_as(
        "SELECT action, resource_type, resource_id, resource_ids, status FROM audit_events
         WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Waits until the batched writer has written at least `n` entries.
async fn await_entries(app: &TestApp, n: i64) {
    let ok = eventually(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM audit_events").fetch_one(&app.db).await.unwrap() >= n
    })
    .await;
    assert!(ok, "audit entries were not written");
}

#[tokio::test]
async fn a_scripted_series_of_requests_reads_back_from_the_audit_log() {
    let app = TestApp::spawn().await;
    let auditor = app.key_with(&[Permission::ReadAuditLog]).await;
    let reader = app.key_with(&[Permission::ReadAppointments]).await;
    let clinic = seed_clinic(&app.db, app.org_id).await;

    // create, read, update, list, book, transition, denied (403 and 404).
    let r = app.post("/patients", &json!({"firstName": "Zephyrine", "lastName": "Quaxley"})).await;
    let patient = expect_json(r, 201).await["id"].as_i64().unwrap();
    expect_json(app.get(&format!("/patients/{patient}")).await, 200).await;
    expect_json(app.patch(&format!("/patients/{patient}"), &json!({"email": "zq@example.test"})).await, 200).await;
    let other = seed_patient(&app.db, app.org_id).await;
    let listed = expect_json(app.get("/patients").await, 200).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let booking = json!({"patientId": patient, "providerId": clinic.provider_id, "locationId": clinic.location_id,
                         "startsAt": "2030-01-07T15:00:00Z", "durationMinutes": 30});
    let appointment = expect_json(app.post("/appointments", &booking).await, 201).await["id"].as_i64().unwrap();
    expect_json(app.post(&format!("/appointments/{appointment}/confirm"), &json!({})).await, 200).await;
    let r = app.request_as(&reader, Method::GET, &format!("/patients/{patient}")).send().await.unwrap();
    expect_error(r, 403, "insufficient_permission").await;
    expect_error(app.get("/patients/999999").await, 404, "not_found").await;
    let r = app.client.get(app.url(&format!("/api/v1/patients/{patient}"))).send().await.unwrap();
    expect_error(r, 401, "missing_api_key").await;
    // Not PHI routes: not audited.
    expect_json(app.get("/providers").await, 200).await;

    // 1 create + 1 read + 1 update + 1 list (of both patients) + 1 create + 1 transition
    // + 2 denied (org known) + 1 denied (401).
    await_entries(&app, 9).await;
    let all = audit(&app, &auditor, "").await;
    let summary: Vec<(String, String, Option<i64>, i64)> = all
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["resourceType"].as_str().unwrap().to_string(),
                e["resourceId"].as_i64(),
                e["status"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = vec![
        ("create".to_string(), "patient".to_string(), Some(patient), 201),
        ("read".into(), "patient".into(), Some(patient), 200),
        ("update".into(), "patient".into(), Some(patient), 200),
        ("list".into(), "patient".into(), None, 200),
        ("create".into(), "appointment".into(), Some(appointment), 201),
        ("transition".into(), "appointment".into(), Some(appointment), 200),
        ("denied".into(), "patient".into(), Some(patient), 403),
        ("denied".into(), "patient".into(), Some(999999), 404),
    ];
    assert_eq!(summary, expected);
    for e in &all {
        assert!(e["requestId"].as_str().is_some_and(|r| !r.is_empty()));
        assert_eq!(e["clientAddress"], "127.0.0.1");
        assert!(e["at"].as_str().is_some());
    }
    // The list is one entry naming every patient it returned, in order; other entries name one.
    assert_eq!(all[3]["resourceIds"], json!([patient.min(other), patient.max(other)]));
    assert!(all.iter().filter(|e| e["action"] != "list").all(|e| e["resourceIds"].is_null()));
    assert_eq!(all[6]["keyPrefix"], &reader[..11]);
    assert_eq!(all[0]["keyPrefix"], &app.key[..11]);

    // Filters: "who looked at this patient's record?"
    let about = audit(&app, &auditor, &format!("?resourceType=patient&resourceId={patient}")).await;
    let actions: Vec<&str> = about.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "read", "update", "list", "denied"]);
    // The other patient was only listed: that list is the one entry about them.
    let about_other = audit(&app, &auditor, &format!("?resourceType=patient&resourceId={other}")).await;
    assert_eq!(about_other.len(), 1);
    assert_eq!(about_other[0]["action"], "list");
    let by_reader = audit(&app, &auditor, &format!("?keyPrefix={}", &reader[..11])).await;
    assert_eq!(by_reader.len(), 1);
    let page = audit(&app, &auditor, "?limit=2").await;
    assert_eq!(page.len(), 2);
    let future = audit(&app, &auditor, "?from=2100-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    let r = app.request_as(&auditor, Method::GET, "/audit-events?resourceType=spaceship").send().await.unwrap();
    expect_error(r, 400, "validation_error").await;

    // The 401 has no organization; it is kept, with the prefix that was presented (if any).
    let anonymous: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE organization_id IS NULL AND status = 401")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(anonymous, 1);

    // Never the PHI itself.
    let dump: String =
        sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM audit_events t").fetch_one(&app.db).await.unwrap();
    for phi in ["Zephyrine", "Quaxley", "zq@example.test"] {
        assert!(!dump.contains(phi), "audit log holds PHI: {phi}");
    }

    // Another organization's auditor sees none of it; a key without READ_AUDIT_LOG is refused.
    let (_, other_key) = app.other_org().await;
    assert!(audit(&app, &other_key, "").await.is_empty());
    let r = app.request_as(&reader, Method::GET, "/audit-events").send().await.unwrap();
    expect_error(r, 403, "insufficient_permission").await;
}

#[tokio::test]
async fn the_server_cannot_alter_audit_rows() {
    let app = TestApp::spawn().await;
    expect_error(app.get("/patients/424242").await, 404, "not_found").await;
    await_entries(&app, 1).await;
    for statement in ["UPDATE audit_events SET status = 200", "DELETE FROM audit_events", "TRUNCATE audit_events"] {
        let err = sqlx::query(statement).execute(&app.db).await.expect_err(statement);
        assert!(err.to_string().contains("append-only"), "{statement}: {err}");
    }
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(&app.db).await.unwrap();
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn graceful_shutdown_flushes_queued_entries() {
    let app = TestApp::spawn().await;
    let db = app.db.clone();
    for i in 0..50 {
        expect_error(app.get(&format!("/patients/{}", 900_000 + i)).await, 404, "not_found").await;
    }
    app.stop().await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(&db).await.unwrap();
    assert_eq!(kept, 50);
}

/// A replayed response is stored bytes, not built from the records: it is audited from its
/// JSON, as the first one was from the records, embedded notes and prescriptions included.
#[tokio::test]
async fn an_idempotent_replay_is_audited_like_the_first_response() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let patient = seed_patient(&app.db, app.org_id).await;
    let starts = chrono::DateTime::parse_from_rfc3339("2030-01-07T15:00:00Z").unwrap().to_utc();
    let appointment = seed_appointment(&app.db, app.org_id, &clinic, patient, starts, 30, "scheduled").await;
    let r = app.post(&format!("/appointments/{appointment}/consultation"), &json!({})).await;
    let consultation = expect_json(r, 201).await["id"].as_i64().unwrap();
    let r = app.post(&format!("/consultations/{consultation}/soap-notes"), &json!({"subjective": "Cough"})).await;
    let note = expect_json(r, 201).await["id"].as_i64().unwrap();
    let rx = json!({"medicationName": "Amoxicillin", "dosage": "500 mg", "frequency": "daily"});
    let r = app.post(&format!("/consultations/{consultation}/prescriptions"), &rx).await;
    let prescription = expect_json(r, 201).await["id"].as_i64().unwrap();

    let end = |request_id: &'static str| {
        app.request(Method::POST, &format!("/consultations/{consultation}/end"))
            .header("Idempotency-Key", "end-once")
            .header("X-Request-Id", request_id)
            .send()
    };
    expect_json(end("end-first").await.unwrap(), 200).await;
    let replay = end("end-replayed").await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    expect_json(replay, 200).await;

    let expected: Vec<Row> = vec![
        ("transition".into(), "consultation".into(), Some(consultation), None, 200),
        ("read".into(), "soap_note".into(), None, Some(vec![note]), 200),
        ("read".into(), "prescription".into(), None, Some(vec![prescription]), 200),
    ];
    let written = eventually(Duration::from_secs(10), || async {
        rows_of(&app, "end-first").await == expected && rows_of(&app, "end-replayed").await == expected
    })
    .await;
    assert!(written, "first {:?}, replay {:?}", rows_of(&app, "end-first").await, rows_of(&app, "end-replayed").await);
}
