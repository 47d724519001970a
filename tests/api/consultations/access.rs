//! Who may call what: permissions, tenancy, and the idempotency of starting a consultation.

use klinivo::auth::Permission;
use reqwest::header::LOCATION;
use reqwest::Method;
use serde_json::{json, Value};

use super::*;

/// Every consultation endpoint with a valid request, and the permission it needs.
struct Fixture {
    appointment_id: i64,
    consultation_id: i64,
    note_id: i64,
    prescription_id: i64,
    patient_id: i64,
    provider_id: i64,
    /// A signed note, for amendments (`note_id` stays a draft).
    signed_note_id: i64,
}

async fn fixture(app: &TestApp) -> Fixture {
    let visit = book(app, "confirmed").await;
    let consultation_id = id(&start_consultation(app, visit.appointment_id).await);
    let note = app.post(&format!("/consultations/{consultation_id}/soap-notes"), &json!({"plan": "Rest"})).await;
    let note_id = id(&expect_json(note, 201).await);
    let provider_id = visit.clinic.provider_id;
    let signed = json!({"plan": "Rest", "sign": {"providerId": provider_id}});
    let signed = app.post(&format!("/consultations/{consultation_id}/soap-notes"), &signed).await;
    let signed_note_id = id(&expect_json(signed, 201).await);
    let body = json!({"medicationName": "Ibuprofen", "dosage": "200 mg", "frequency": "as needed"});
    let p = app.post(&format!("/consultations/{consultation_id}/prescriptions"), &body).await;
    let prescription_id = id(&expect_json(p, 201).await);
    // A second, unstarted appointment for the start endpoint.
    let appointment_id = book_again(app, &visit, "confirmed").await;
    Fixture {
        appointment_id,
        consultation_id,
        note_id,
        prescription_id,
        patient_id: visit.patient_id,
        provider_id,
        signed_note_id,
    }
}

fn endpoints(f: &Fixture) -> Vec<(Method, String, Option<Value>, Permission)> {
    let (c, write, read) = (f.consultation_id, Permission::WriteConsultations, Permission::ReadConsultations);
    vec![
        (Method::POST, format!("/appointments/{}/consultation", f.appointment_id), Some(json!({})), write),
        (Method::POST, format!("/consultations/{c}/end"), Some(json!({})), write),
        (Method::POST, format!("/consultations/{c}/soap-notes"), Some(json!({"plan": "x"})), write),
        (
            Method::POST,
            format!("/consultations/{c}/prescriptions"),
            Some(json!({"medicationName": "A", "dosage": "1", "frequency": "daily"})),
            write,
        ),
        (Method::PATCH, format!("/consultations/{c}/soap-notes/{}", f.note_id), Some(json!({"plan": "y"})), write),
        (
            Method::POST,
            format!("/consultations/{c}/soap-notes/{}/sign", f.note_id),
            Some(json!({"providerId": f.provider_id})),
            write,
        ),
        (
            Method::POST,
            format!("/consultations/{c}/soap-notes/{}/amendments", f.signed_note_id),
            Some(json!({"reason": "r", "providerId": f.provider_id, "plan": "z"})),
            write,
        ),
        (Method::GET, "/consultations".into(), None, read),
        (Method::GET, format!("/consultations/{c}"), None, read),
        (Method::GET, format!("/consultations/{c}/soap-notes"), None, read),
        (Method::GET, format!("/consultations/{c}/soap-notes/{}", f.note_id), None, read),
        (Method::GET, "/prescriptions".into(), None, read),
        (Method::GET, format!("/prescriptions/{}", f.prescription_id), None, read),
    ]
}

async fn send(app: &TestApp, key: &str, method: Method, path: &str, body: &Option<Value>) -> reqwest::Response {
    let mut r = app.request_as(key, method, path);
    if let Some(body) = body {
        r = r.json(body);
    }
    r.send().await.unwrap()
}

async fn state(app: &TestApp) -> Value {
    let tables = ["consultations", "soap_notes", "soap_note_versions", "prescriptions", "appointments", "events"];
    let mut out = serde_json::Map::new();
    for t in tables {
        let rows: Value = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {t} t"
        ))
        .fetch_one(&app.db)
        .await
        .unwrap();
        out.insert(t.into(), rows);
    }
    Value::Object(out)
}

#[tokio::test]
async fn a_key_without_the_permission_gets_403_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let f = fixture(&app).await;
    let before = state(&app).await;
    for (method, path, body, needed) in endpoints(&f) {
        let others: Vec<Permission> = Permission::ALL.into_iter().filter(|p| *p != needed).collect();
        let key = app.key_with(&others).await;
        let r = send(&app, &key, method.clone(), &path, &body).await;
        let error = expect_error(r, 403, "insufficient_permission").await;
        assert!(error["message"].as_str().unwrap().contains(needed.as_str()), "{method} {path}: {error}");
    }
    assert_eq!(state(&app).await, before, "refused requests change nothing");
    // The one permission is enough.
    let reader = app.key_with(&[Permission::ReadConsultations]).await;
    let r = app.request_as(&reader, Method::GET, &format!("/consultations/{}", f.consultation_id)).send().await;
    expect_json(r.unwrap(), 200).await;
}

#[tokio::test]
async fn another_organizations_ids_are_not_found_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let f = fixture(&app).await;
    let (_, other_key) = app.other_org().await;
    let before = state(&app).await;
    for (method, path, body, _) in endpoints(&f) {
        if !path.contains(|c: char| c.is_ascii_digit()) {
            continue; // the lists: below
        }
        let r = send(&app, &other_key, method.clone(), &path, &body).await;
        expect_error(r, 404, "not_found").await;
    }
    // Lists show nothing of ours, whatever the filter.
    for q in [
        "/consultations".to_string(),
        format!("/consultations?patientId={}", f.patient_id),
        format!("/consultations?appointmentId={}", f.appointment_id),
        "/prescriptions".to_string(),
        format!("/prescriptions?consultationId={}", f.consultation_id),
        format!("/prescriptions?patientId={}", f.patient_id),
    ] {
        let page = expect_json(send(&app, &other_key, Method::GET, &q, &None).await, 200).await;
        assert_eq!(page["data"], json!([]), "{q}");
    }
    assert_eq!(state(&app).await, before);
}

#[tokio::test]
async fn replaying_a_start_returns_the_same_201_without_a_second_consultation() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "confirmed").await;
    let path = format!("/appointments/{}/consultation", visit.appointment_id);
    let start = || app.request(Method::POST, &path).header("Idempotency-Key", "start-visit-1").json(&json!({})).send();

    let first = start().await.unwrap();
    let location = first.headers()[LOCATION].clone();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = expect_json(first, 201).await;

    let again = start().await.unwrap();
    assert_eq!(again.headers()[LOCATION], location);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_json(again, 201).await, first);
    assert_eq!(count(&app, "consultations").await, 1);

    // The same key for another appointment is a different request.
    let other = book_again(&app, &visit, "confirmed").await;
    let r = app
        .request(Method::POST, &format!("/appointments/{other}/consultation"))
        .header("Idempotency-Key", "start-visit-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(r, 422, "idempotency_key_mismatch").await;
    assert_eq!(count(&app, "consultations").await, 1);
}

#[tokio::test]
async fn replaying_an_end_does_not_complete_twice() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "confirmed").await;
    let cid = id(&start_consultation(&app, visit.appointment_id).await);
    let end =
        || app.request(Method::POST, &format!("/consultations/{cid}/end")).header("Idempotency-Key", "end-1").send();
    let first = expect_json(end().await.unwrap(), 200).await;
    let again = end().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_json(again, 200).await, first);
    assert_eq!(types(&events(&app).await), ["consultation.ended", "appointment.completed"]);
}

#[tokio::test]
async fn the_openapi_document_describes_every_clinical_endpoint_with_its_permission() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    let doc = expect_json(r, 200).await;
    let (read, write) = ("READ_CONSULTATIONS", "WRITE_CONSULTATIONS");
    for (path, method, permission) in [
        ("/api/v1/appointments/{id}/consultation", "post", write),
        ("/api/v1/consultations/{id}/end", "post", write),
        ("/api/v1/consultations", "get", read),
        ("/api/v1/consultations/{id}", "get", read),
        ("/api/v1/consultations/{id}/soap-notes", "post", write),
        ("/api/v1/consultations/{id}/soap-notes", "get", read),
        ("/api/v1/consultations/{id}/soap-notes/{noteId}", "get", read),
        ("/api/v1/consultations/{id}/soap-notes/{noteId}", "patch", write),
        ("/api/v1/consultations/{id}/soap-notes/{noteId}/sign", "post", write),
        ("/api/v1/consultations/{id}/soap-notes/{noteId}/amendments", "post", write),
        ("/api/v1/consultations/{id}/prescriptions", "post", write),
        ("/api/v1/prescriptions", "get", read),
        ("/api/v1/prescriptions/{id}", "get", read),
        ("/api/v1/intake-forms", "post", "WRITE_PATIENTS"),
        ("/api/v1/intake-forms", "get", "READ_PATIENTS"),
        ("/api/v1/intake-forms/{id}", "get", "READ_PATIENTS"),
        ("/api/v1/intake-forms/{id}/start", "post", "WRITE_PATIENTS"),
        ("/api/v1/intake-forms/{id}/complete", "post", "WRITE_PATIENTS"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["x-permission"], permission, "{method} {path}");
        assert!(op["responses"]["403"].is_object(), "{method} {path}");
    }
    // Operation ids are unique across the whole document (client generators need it).
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "duplicate operationId in {ids:?}");
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Consultation",
        "ConsultationDetail",
        "SoapNote",
        "SoapNoteDetail",
        "Prescription",
        "IntakeForm",
        "ConsultationList",
    ] {
        assert!(schemas[name].is_object(), "{name}");
    }
}
