//! Consultations: start from an appointment, end (completing the appointment), list and view.
//! SOAP notes and prescriptions are in `consultations/records.rs`; permissions, tenancy and
//! idempotency in `consultations/access.rs`.

mod access;
mod note_access;
mod note_delivery;
mod note_lifecycle;
mod records;

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::header::LOCATION;
use serde_json::{json, Value};

use crate::helpers::*;

/// A patient booked with the seeded provider.
pub struct Visit {
    pub clinic: SeededClinic,
    pub patient_id: i64,
    pub appointment_id: i64,
}

static SLOT: AtomicI64 = AtomicI64::new(0);

/// A distinct hour for every appointment, so that active appointments never overlap.
fn next_slot() -> DateTime<Utc> {
    let base = Utc.with_ymd_and_hms(2030, 1, 7, 14, 0, 0).single().expect("valid date");
    base + Duration::hours(SLOT.fetch_add(1, Ordering::SeqCst))
}

/// Seeds a clinic and a patient and books one appointment in `status`.
pub async fn book(app: &TestApp, status: &str) -> Visit {
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let patient_id = seed_patient(&app.db, app.org_id).await;
    let appointment_id = seed_appointment(&app.db, app.org_id, &clinic, patient_id, next_slot(), 30, status).await;
    Visit { clinic, patient_id, appointment_id }
}

/// Another appointment for the same patient and provider.
pub async fn book_again(app: &TestApp, visit: &Visit, status: &str) -> i64 {
    seed_appointment(&app.db, app.org_id, &visit.clinic, visit.patient_id, next_slot(), 30, status).await
}

/// There is no confirm endpoint on this branch: the appointments module owns it.
pub async fn confirm(app: &TestApp, appointment_id: i64) {
    sqlx::query("UPDATE appointments SET status = 'confirmed' WHERE id = $1 AND status = 'scheduled'")
        .bind(appointment_id)
        .execute(&app.db)
        .await
        .unwrap();
}

pub async fn start_consultation(app: &TestApp, appointment_id: i64) -> Value {
    expect_json(app.post(&format!("/appointments/{appointment_id}/consultation"), &json!({})).await, 201).await
}

pub async fn end_consultation(app: &TestApp, id: i64) -> Value {
    expect_json(app.post(&format!("/consultations/{id}/end"), &json!({})).await, 200).await
}

pub fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// The organization's events, oldest first: `(type, data)`.
pub async fn events(app: &TestApp) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT type, data FROM events WHERE organization_id = $1 ORDER BY seq")
        .bind(app.org_id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

pub fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

/// A row as the database holds it, to prove that refused requests change nothing.
pub async fn row(app: &TestApp, table: &str, id: i64) -> Value {
    sqlx::query_scalar(&format!("SELECT to_jsonb(t) FROM {table} t WHERE id = $1"))
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

pub async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&app.db).await.unwrap()
}

pub async fn appointment_status(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM appointments WHERE id = $1").bind(id).fetch_one(&app.db).await.unwrap()
}

/// Every id of a list, following `nextCursor` page by page.
pub async fn collect_ids(app: &TestApp, path_and_query: &str, limit: usize) -> Vec<i64> {
    let sep = if path_and_query.contains('?') { '&' } else { '?' };
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut url = format!("{path_and_query}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = expect_json(app.get(&url).await, 200).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit);
        ids.extend(data.iter().map(id));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn the_clinical_path_ends_with_a_completed_appointment_and_its_events_in_order() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "scheduled").await;
    confirm(&app, visit.appointment_id).await;

    let r = app.post(&format!("/appointments/{}/consultation", visit.appointment_id), &json!({})).await;
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    let started = expect_json(r, 201).await;
    let cid = id(&started);
    assert_eq!(location, format!("/api/v1/consultations/{cid}"));
    assert_eq!(started["appointmentId"], visit.appointment_id);
    assert_eq!(started["patientId"], visit.patient_id);
    assert_eq!(started["providerId"], visit.clinic.provider_id);
    assert_eq!(started["status"], "in_progress");
    assert!(started["startedAt"].is_string() && started["createdAt"].is_string() && started["updatedAt"].is_string());
    assert_eq!(started["endedAt"], Value::Null);
    assert_eq!(started["soapNotes"], json!([]));
    assert_eq!(started["prescriptions"], json!([]));
    assert_eq!(expect_json(app.get(&format!("/consultations/{cid}")).await, 200).await, started);
    // Starting records no event; the appointment is untouched.
    assert!(events(&app).await.is_empty());
    assert_eq!(appointment_status(&app, visit.appointment_id).await, "confirmed");

    let note = expect_json(
        app.post(&format!("/consultations/{cid}/soap-notes"), &json!({"subjective": "Cough", "plan": "Rest"})).await,
        201,
    )
    .await;
    let prescription = expect_json(
        app.post(
            &format!("/consultations/{cid}/prescriptions"),
            &json!({"medicationName": "Amoxicillin", "dosage": "500 mg", "frequency": "three times daily"}),
        )
        .await,
        201,
    )
    .await;

    let ended = end_consultation(&app, cid).await;
    assert_eq!(ended["status"], "ended");
    assert!(ended["endedAt"].is_string());
    assert_eq!(ended["soapNotes"], json!([note]));
    assert_eq!(ended["prescriptions"], json!([prescription]));
    assert_eq!(expect_json(app.get(&format!("/consultations/{cid}")).await, 200).await, ended);
    assert_eq!(appointment_status(&app, visit.appointment_id).await, "completed");

    let log = events(&app).await;
    assert_eq!(types(&log), ["soap_note.created", "consultation.ended", "appointment.completed"]);
    assert_eq!(log[0].1, note);
    assert_eq!(log[1].1, ended, "the event carries the consultation as GET shows it");
    let appointment = &log[2].1;
    assert_eq!(appointment["id"], visit.appointment_id);
    assert_eq!(appointment["status"], "completed");
    assert_eq!(appointment["patientId"], visit.patient_id);
    let mut conn = app.db.acquire().await.unwrap();
    let current = klinivo::domain::appointments::get(&mut conn, app.org_id, visit.appointment_id).await.unwrap();
    assert_eq!(*appointment, serde_json::to_value(current).unwrap());
}

#[tokio::test]
async fn a_scheduled_appointment_can_start_too_and_accepts_an_empty_body() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "scheduled").await;
    let r = app.request(reqwest::Method::POST, &format!("/appointments/{}/consultation", visit.appointment_id));
    let started = expect_json(r.send().await.unwrap(), 201).await;
    assert_eq!(started["status"], "in_progress");
    let r = app.request(reqwest::Method::POST, &format!("/consultations/{}/end", id(&started)));
    let ended = expect_json(r.send().await.unwrap(), 200).await;
    assert_eq!(ended["status"], "ended");
    assert_eq!(appointment_status(&app, visit.appointment_id).await, "completed");
}

#[tokio::test]
async fn only_a_scheduled_or_confirmed_appointment_starts_a_consultation() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "cancelled").await;
    for status in ["cancelled", "completed", "no_show"] {
        let appointment = book_again(&app, &visit, status).await;
        let before = row(&app, "appointments", appointment).await;
        let r = app.post(&format!("/appointments/{appointment}/consultation"), &json!({})).await;
        expect_error(r, 409, "invalid_state_transition").await;
        assert_eq!(row(&app, "appointments", appointment).await, before);
    }
    assert_eq!(count(&app, "consultations").await, 0);
    expect_error(app.post("/appointments/999999/consultation", &json!({})).await, 404, "not_found").await;
    expect_error(app.post("/appointments/abc/consultation", &json!({})).await, 404, "not_found").await;
    assert!(events(&app).await.is_empty());
}

#[tokio::test]
async fn an_appointment_has_one_consultation() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "confirmed").await;
    let first = start_consultation(&app, visit.appointment_id).await;
    let path = format!("/appointments/{}/consultation", visit.appointment_id);
    expect_error(app.post(&path, &json!({})).await, 409, "conflict").await;
    // Still a conflict once it has ended (and the appointment is completed).
    end_consultation(&app, id(&first)).await;
    expect_error(app.post(&path, &json!({})).await, 409, "conflict").await;
    assert_eq!(count(&app, "consultations").await, 1);
}

#[tokio::test]
async fn concurrent_starts_make_one_consultation() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "confirmed").await;
    let path = format!("/appointments/{}/consultation", visit.appointment_id);
    let empty = json!({});
    let responses = futures_util::future::join_all((0..6).map(|_| app.post(&path, &empty))).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
    assert_eq!(count(&app, "consultations").await, 1);
}

#[tokio::test]
async fn start_and_end_take_no_body() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "confirmed").await;
    let path = format!("/appointments/{}/consultation", visit.appointment_id);
    let body =
        expect_error(app.post(&path, &json!({"startedAt": "2030-01-01T00:00:00Z"})).await, 400, "validation_error")
            .await;
    assert_eq!(body["details"][0]["field"], "startedAt");
    let r = app.request(reqwest::Method::POST, &path).body("{").header("content-type", "application/json");
    expect_error(r.send().await.unwrap(), 400, "invalid_json").await;
    assert_eq!(count(&app, "consultations").await, 0);

    let cid = id(&start_consultation(&app, visit.appointment_id).await);
    let r = app.post(&format!("/consultations/{cid}/end"), &json!({"reason": "done"})).await;
    expect_error(r, 400, "validation_error").await;
    assert_eq!(row(&app, "consultations", cid).await["status"], "in_progress");
}

#[tokio::test]
async fn ending_twice_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "confirmed").await;
    let cid = id(&start_consultation(&app, visit.appointment_id).await);
    end_consultation(&app, cid).await;
    let consultation = row(&app, "consultations", cid).await;
    let appointment = row(&app, "appointments", visit.appointment_id).await;
    let log = events(&app).await;

    let body =
        expect_error(app.post(&format!("/consultations/{cid}/end"), &json!({})).await, 409, "invalid_state_transition")
            .await;
    assert!(body["message"].as_str().unwrap().contains("ended"));
    assert_eq!(row(&app, "consultations", cid).await, consultation);
    assert_eq!(row(&app, "appointments", visit.appointment_id).await, appointment);
    assert_eq!(events(&app).await, log);
    expect_error(app.post("/consultations/999999/end", &json!({})).await, 404, "not_found").await;
}

#[tokio::test]
async fn ending_after_the_appointment_was_cancelled_ends_the_consultation_only() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "confirmed").await;
    let cid = id(&start_consultation(&app, visit.appointment_id).await);
    sqlx::query("UPDATE appointments SET status = 'cancelled' WHERE id = $1")
        .bind(visit.appointment_id)
        .execute(&app.db)
        .await
        .unwrap();
    let ended = end_consultation(&app, cid).await;
    assert_eq!(ended["status"], "ended");
    assert_eq!(appointment_status(&app, visit.appointment_id).await, "cancelled");
    assert_eq!(types(&events(&app).await), ["consultation.ended"]);
}

#[tokio::test]
async fn the_list_filters_and_pages_without_skipping_or_repeating() {
    let app = TestApp::spawn().await;
    let a = book(&app, "confirmed").await;
    let b = book(&app, "confirmed").await;
    let mut all = Vec::new();
    for _ in 0..3 {
        let appointment = book_again(&app, &a, "confirmed").await;
        all.push(id(&start_consultation(&app, appointment).await));
    }
    for _ in 0..2 {
        let appointment = book_again(&app, &b, "scheduled").await;
        all.push(id(&start_consultation(&app, appointment).await));
    }
    end_consultation(&app, all[1]).await;
    end_consultation(&app, all[4]).await;
    // A consultation of another organization never shows.
    let (other_org, _) = app.other_org().await;
    let other = seed_clinic(&app.db, other_org).await;
    let other_patient = seed_patient(&app.db, other_org).await;
    let other_appointment =
        seed_appointment(&app.db, other_org, &other, other_patient, next_slot(), 30, "confirmed").await;
    sqlx::query(
        "INSERT INTO consultations (organization_id, appointment_id, patient_id, provider_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(other_org)
    .bind(other_appointment)
    .bind(other_patient)
    .bind(other.provider_id)
    .execute(&app.db)
    .await
    .unwrap();

    for limit in [1, 2, 5, 200] {
        assert_eq!(collect_ids(&app, "/consultations", limit).await, all);
    }
    let page = expect_json(app.get("/consultations").await, 200).await;
    assert_eq!(page["nextCursor"], Value::Null);
    assert!(page["data"][0].get("soapNotes").is_none(), "list items do not embed");

    let ids = |q: String| {
        let app = &app;
        async move { collect_ids(app, &format!("/consultations?{q}"), 2).await }
    };
    assert_eq!(ids(format!("patientId={}", a.patient_id)).await, all[..3]);
    assert_eq!(ids(format!("providerId={}", b.clinic.provider_id)).await, all[3..]);
    let appointment_of_first: i64 = row(&app, "consultations", all[0]).await["appointment_id"].as_i64().unwrap();
    assert_eq!(ids(format!("appointmentId={appointment_of_first}")).await, [all[0]]);
    assert_eq!(ids("status=ended".into()).await, [all[1], all[4]]);
    assert_eq!(ids("status=in_progress".into()).await, [all[0], all[2], all[3]]);
    assert_eq!(ids("status=in_progress,ended".into()).await, all);
    assert_eq!(ids(format!("patientId={}&status=ended", a.patient_id)).await, [all[1]]);
    assert!(ids("patientId=999999".into()).await.is_empty());

    for (query, field) in [
        ("status=done", "status"),
        ("patientId=abc", "patientId"),
        ("updatedSince=yesterday", "updatedSince"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("patient_id=1", "patient_id"),
    ] {
        let body = expect_error(app.get(&format!("/consultations?{query}")).await, 400, "validation_error").await;
        assert_eq!(body["details"][0]["field"], field, "{query}");
    }
    expect_error(app.get("/consultations?cursor=garbage!").await, 400, "invalid_cursor").await;
}

#[tokio::test]
async fn updated_since_returns_what_changed_in_update_order() {
    let app = TestApp::spawn().await;
    let visit = book(&app, "confirmed").await;
    let mut all = Vec::new();
    for _ in 0..4 {
        let appointment = book_again(&app, &visit, "confirmed").await;
        all.push(start_consultation(&app, appointment).await);
    }
    // Ending the first moves it behind the others in (updatedAt, id) order.
    let since = all[1]["updatedAt"].as_str().unwrap().to_string();
    let ended = end_consultation(&app, id(&all[0])).await;
    let expected = vec![id(&all[1]), id(&all[2]), id(&all[3]), id(&ended)];
    for limit in [1, 3, 50] {
        assert_eq!(collect_ids(&app, &format!("/consultations?updatedSince={since}"), limit).await, expected);
    }
    let since = ended["updatedAt"].as_str().unwrap();
    assert_eq!(collect_ids(&app, &format!("/consultations?updatedSince={since}"), 10).await, [id(&ended)]);
    // A cursor from the id order is no good for the updatedSince order.
    let page = expect_json(app.get("/consultations?limit=1").await, 200).await;
    let cursor = page["nextCursor"].as_str().unwrap();
    let r = app.get(&format!("/consultations?limit=1&updatedSince={since}&cursor={cursor}")).await;
    expect_error(r, 400, "invalid_cursor").await;
}
