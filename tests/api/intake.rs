//! Intake forms: create (pending), start, complete with answers; list and view; permissions
//! and tenancy.

use chrono::{TimeZone, Utc};
use klinivo::auth::Permission;
use reqwest::header::LOCATION;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

struct Patient {
    id: i64,
    appointment_id: i64,
}

/// A patient with one appointment; each call books a distinct hour with a fresh provider.
async fn patient(app: &TestApp) -> Patient {
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let id = seed_patient(&app.db, app.org_id).await;
    let at = Utc.with_ymd_and_hms(2030, 3, 4, 15, 0, 0).single().unwrap();
    let appointment_id = seed_appointment(&app.db, app.org_id, &clinic, id, at, 30, "scheduled").await;
    Patient { id, appointment_id }
}

async fn create_form(app: &TestApp, body: Value) -> Value {
    expect_json(app.post("/intake-forms", &body).await, 201).await
}

async fn start(app: &TestApp, id: i64) -> reqwest::Response {
    app.post(&format!("/intake-forms/{id}/start"), &json!({})).await
}

async fn complete(app: &TestApp, id: i64, answers: Value) -> reqwest::Response {
    app.post(&format!("/intake-forms/{id}/complete"), &json!({ "answers": answers })).await
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

async fn events(app: &TestApp) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT type, data FROM events WHERE organization_id = $1 ORDER BY seq")
        .bind(app.org_id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn form_row(app: &TestApp, id: i64) -> Value {
    sqlx::query_scalar("SELECT to_jsonb(f) FROM intake_forms f WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn form_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM intake_forms").fetch_one(&app.db).await.unwrap()
}

async fn collect_ids(app: &TestApp, path_and_query: &str, limit: usize) -> Vec<i64> {
    let sep = if path_and_query.contains('?') { '&' } else { '?' };
    let (mut ids, mut cursor) = (Vec::new(), None::<String>);
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
async fn a_form_goes_from_pending_to_started_to_completed_with_its_events() {
    let app = TestApp::spawn().await;
    let p = patient(&app).await;
    let body = json!({"patientId": p.id, "appointmentId": p.appointment_id, "formType": "  new_patient_history "});
    let r = app.post("/intake-forms", &body).await;
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    let form = expect_json(r, 201).await;
    let fid = id(&form);
    assert_eq!(location, format!("/api/v1/intake-forms/{fid}"));
    assert_eq!(form["patientId"], p.id);
    assert_eq!(form["appointmentId"], p.appointment_id);
    assert_eq!(form["formType"], "new_patient_history");
    assert_eq!(form["status"], "pending");
    for unset in ["answers", "startedAt", "completedAt"] {
        assert_eq!(form[unset], Value::Null, "{unset}");
    }
    assert!(form["createdAt"].is_string() && form["updatedAt"].is_string());
    assert_eq!(expect_json(app.get(&format!("/intake-forms/{fid}")).await, 200).await, form);
    assert!(events(&app).await.is_empty(), "creation has no event");

    let started = expect_json(start(&app, fid).await, 200).await;
    assert_eq!(started["status"], "started");
    assert!(started["startedAt"].is_string());
    assert_eq!(started["completedAt"], Value::Null);
    assert_eq!(expect_json(app.get(&format!("/intake-forms/{fid}")).await, 200).await, started);

    let answers = json!({"allergies": ["penicillin"], "smoker": false, "history": {"surgeries": [{"year": 2019}]}});
    let completed = expect_json(complete(&app, fid, answers.clone()).await, 200).await;
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["answers"], answers);
    assert_eq!(completed["startedAt"], started["startedAt"]);
    assert!(completed["completedAt"].is_string());
    assert_eq!(expect_json(app.get(&format!("/intake-forms/{fid}")).await, 200).await, completed);

    let log = events(&app).await;
    let types: Vec<&str> = log.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["intake.started", "intake.completed"]);
    assert_eq!(log[0].1, started);
    assert_eq!(log[1].1, completed);

    // Without an appointment; a start may carry no body at all.
    let form = create_form(&app, json!({"patientId": p.id, "formType": "consent"})).await;
    assert_eq!(form["appointmentId"], Value::Null);
    let r = app.request(Method::POST, &format!("/intake-forms/{}/start", id(&form))).send().await.unwrap();
    expect_json(r, 200).await;
}

#[tokio::test]
async fn illegal_transitions_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let p = patient(&app).await;
    let pending = id(&create_form(&app, json!({"patientId": p.id, "formType": "history"})).await);
    let started = id(&create_form(&app, json!({"patientId": p.id, "formType": "history"})).await);
    let completed = id(&create_form(&app, json!({"patientId": p.id, "formType": "history"})).await);
    expect_json(start(&app, started).await, 200).await;
    expect_json(start(&app, completed).await, 200).await;
    expect_json(complete(&app, completed, json!({"a": 1})).await, 200).await;
    let log = events(&app).await;

    for (fid, transition) in [(pending, "complete"), (started, "start"), (completed, "start"), (completed, "complete")]
    {
        let before = form_row(&app, fid).await;
        let r = match transition {
            "start" => start(&app, fid).await,
            _ => complete(&app, fid, json!({"b": 2})).await,
        };
        expect_error(r, 409, "invalid_state_transition").await;
        assert_eq!(form_row(&app, fid).await, before, "{transition} of form {fid}");
    }
    assert_eq!(events(&app).await, log);
    expect_error(start(&app, 999_999).await, 404, "not_found").await;
    expect_error(complete(&app, 999_999, json!({})).await, 404, "not_found").await;
    expect_error(app.post("/intake-forms/x/start", &json!({})).await, 404, "not_found").await;
    let r = app.post(&format!("/intake-forms/{pending}/start"), &json!({"force": true})).await;
    expect_error(r, 400, "validation_error").await;
    assert_eq!(form_row(&app, pending).await["status"], "pending");
}

#[tokio::test]
async fn bad_forms_are_refused() {
    let app = TestApp::spawn().await;
    let p = patient(&app).await;
    let other = patient(&app).await;
    let (other_org, _) = app.other_org().await;
    let foreign_patient = seed_patient(&app.db, other_org).await;
    let cases = [
        (json!({"formType": "history"}), "patientId"),
        (json!({"patientId": p.id}), "formType"),
        (json!({"patientId": "1", "formType": "history"}), "patientId"),
        (json!({"patientId": 999_999, "formType": "history"}), "patientId"),
        (json!({"patientId": foreign_patient, "formType": "history"}), "patientId"),
        (json!({"patientId": p.id, "formType": "   "}), "formType"),
        (json!({"patientId": p.id, "formType": "f".repeat(101)}), "formType"),
        (json!({"patientId": p.id, "formType": "a\u{0}"}), "formType"),
        (json!({"patientId": p.id, "formType": "history", "appointmentId": 999_999}), "appointmentId"),
        (json!({"patientId": p.id, "formType": "history", "appointmentId": other.appointment_id}), "appointmentId"),
        (json!({"patientId": p.id, "formType": "history", "status": "completed"}), "status"),
    ];
    for (body, field) in cases {
        let error = expect_error(app.post("/intake-forms", &body).await, 400, "validation_error").await;
        assert_eq!(error["details"][0]["field"], field, "{body}");
    }
    let r = app.post("/intake-forms", &json!({"patientId": 999_999, "formType": ""})).await;
    let error = expect_error(r, 400, "validation_error").await;
    assert_eq!(error["details"].as_array().unwrap().len(), 2, "every problem is reported: {error}");
    assert_eq!(form_count(&app).await, 0);
}

#[tokio::test]
async fn answers_must_be_a_bounded_json_object() {
    let app = TestApp::spawn().await;
    let p = patient(&app).await;
    let fid = id(&create_form(&app, json!({"patientId": p.id, "formType": "history"})).await);
    expect_json(start(&app, fid).await, 200).await;
    let before = form_row(&app, fid).await;
    let log = events(&app).await;

    let deep = (0..11).fold(json!({}), |inner, _| json!({ "a": inner }));
    let big = json!({ "notes": "x".repeat(256 * 1024) });
    for answers in [
        json!(null),
        json!([1]),
        json!("yes"),
        json!(3),
        deep,
        big,
        json!({"k": "a\u{0}"}),
        json!({"k".repeat(201): 1}),
    ] {
        let error = expect_error(complete(&app, fid, answers).await, 400, "validation_error").await;
        assert_eq!(error["details"][0]["field"], "answers");
    }
    for body in [json!({}), json!({"answers": {}, "extra": 1})] {
        let r = app.post(&format!("/intake-forms/{fid}/complete"), &body).await;
        expect_error(r, 400, "validation_error").await;
    }
    let r = app.request(Method::POST, &format!("/intake-forms/{fid}/complete")).send().await.unwrap();
    expect_error(r, 400, "invalid_json").await;
    assert_eq!(form_row(&app, fid).await, before);
    assert_eq!(events(&app).await, log);

    // Just inside the limits.
    let nested = (0..8).fold(json!({}), |inner, _| json!({ "a": inner }));
    let answers = json!({"nested": nested, "notes": "x".repeat(200 * 1024)});
    let done = expect_json(complete(&app, fid, answers.clone()).await, 200).await;
    assert_eq!(done["answers"], answers);
}

#[tokio::test]
async fn the_list_filters_and_pages() {
    let app = TestApp::spawn().await;
    let a = patient(&app).await;
    let b = patient(&app).await;
    let mut all = Vec::new();
    for (patient, appointment) in [(&a, true), (&a, false), (&b, true), (&b, false), (&a, true)] {
        let mut body = json!({"patientId": patient.id, "formType": "history"});
        if appointment {
            body["appointmentId"] = json!(patient.appointment_id);
        }
        all.push(id(&create_form(&app, body).await));
    }
    expect_json(start(&app, all[1]).await, 200).await;
    expect_json(start(&app, all[2]).await, 200).await;
    let completed = expect_json(complete(&app, all[2], json!({})).await, 200).await;

    for limit in [1, 2, 200] {
        assert_eq!(collect_ids(&app, "/intake-forms", limit).await, all);
    }
    let of = |q: String| {
        let app = &app;
        async move { collect_ids(app, &format!("/intake-forms?{q}"), 2).await }
    };
    assert_eq!(of(format!("patientId={}", a.id)).await, [all[0], all[1], all[4]]);
    assert_eq!(of(format!("appointmentId={}", a.appointment_id)).await, [all[0], all[4]]);
    assert_eq!(of("status=pending".into()).await, [all[0], all[3], all[4]]);
    assert_eq!(of("status=started,completed".into()).await, [all[1], all[2]]);
    assert_eq!(of(format!("patientId={}&status=completed", b.id)).await, [all[2]]);

    // updatedSince: the forms changed at or after the instant, in (updatedAt, id) order.
    let since = completed["updatedAt"].as_str().unwrap().to_string();
    expect_json(start(&app, all[0]).await, 200).await;
    for limit in [1, 10] {
        let got = collect_ids(&app, &format!("/intake-forms?updatedSince={since}"), limit).await;
        assert_eq!(got, [all[2], all[0]]);
    }

    for (query, field) in
        [("status=done", "status"), ("patientId=x", "patientId"), ("limit=500", "limit"), ("x=1", "x")]
    {
        let body = expect_error(app.get(&format!("/intake-forms?{query}")).await, 400, "validation_error").await;
        assert_eq!(body["details"][0]["field"], field);
    }
    expect_error(app.get("/intake-forms?cursor=%21").await, 400, "invalid_cursor").await;
    expect_error(app.get("/intake-forms/999999").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_key_without_the_permission_gets_403_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let p = patient(&app).await;
    let fid = id(&create_form(&app, json!({"patientId": p.id, "formType": "history"})).await);
    let before = form_row(&app, fid).await;
    let (read, write) = (Permission::ReadPatients, Permission::WritePatients);
    let endpoints = [
        (Method::POST, "/intake-forms".to_string(), Some(json!({"patientId": p.id, "formType": "x"})), write),
        (Method::POST, format!("/intake-forms/{fid}/start"), Some(json!({})), write),
        (Method::POST, format!("/intake-forms/{fid}/complete"), Some(json!({"answers": {}})), write),
        (Method::GET, "/intake-forms".to_string(), None, read),
        (Method::GET, format!("/intake-forms/{fid}"), None, read),
    ];
    for (method, path, body, needed) in endpoints {
        let others: Vec<Permission> = Permission::ALL.into_iter().filter(|p| *p != needed).collect();
        let key = app.key_with(&others).await;
        let mut r = app.request_as(&key, method.clone(), &path);
        if let Some(body) = &body {
            r = r.json(body);
        }
        let error = expect_error(r.send().await.unwrap(), 403, "insufficient_permission").await;
        assert!(error["message"].as_str().unwrap().contains(needed.as_str()), "{method} {path}");
    }
    assert_eq!(form_count(&app).await, 1);
    assert_eq!(form_row(&app, fid).await, before);
    assert!(events(&app).await.is_empty());
}

#[tokio::test]
async fn another_organizations_ids_are_not_found_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let p = patient(&app).await;
    let body = json!({"patientId": p.id, "appointmentId": p.appointment_id, "formType": "history"});
    let fid = id(&create_form(&app, body).await);
    let (_, other_key) = app.other_org().await;
    let before = form_row(&app, fid).await;
    for (method, path, body) in [
        (Method::POST, format!("/intake-forms/{fid}/start"), Some(json!({}))),
        (Method::POST, format!("/intake-forms/{fid}/complete"), Some(json!({"answers": {}}))),
        (Method::GET, format!("/intake-forms/{fid}"), None),
    ] {
        let mut r = app.request_as(&other_key, method, &path);
        if let Some(body) = &body {
            r = r.json(body);
        }
        expect_error(r.send().await.unwrap(), 404, "not_found").await;
    }
    // Our patient and appointment are unknown to the other organization.
    let r =
        app.request_as(&other_key, Method::POST, "/intake-forms").json(&json!({"patientId": p.id, "formType": "x"}));
    let error = expect_error(r.send().await.unwrap(), 400, "validation_error").await;
    assert_eq!(error["details"][0]["field"], "patientId");
    for q in [
        "/intake-forms".to_string(),
        format!("/intake-forms?patientId={}", p.id),
        format!("/intake-forms?appointmentId={}", p.appointment_id),
    ] {
        let page = expect_json(app.request_as(&other_key, Method::GET, &q).send().await.unwrap(), 200).await;
        assert_eq!(page["data"], json!([]), "{q}");
    }
    assert_eq!(form_row(&app, fid).await, before);
    assert_eq!(form_count(&app).await, 1);
}

#[tokio::test]
async fn replaying_a_completion_returns_the_same_response_and_records_one_event() {
    let app = TestApp::spawn().await;
    let p = patient(&app).await;
    let fid = id(&create_form(&app, json!({"patientId": p.id, "formType": "history"})).await);
    expect_json(start(&app, fid).await, 200).await;
    let send = || {
        app.request(Method::POST, &format!("/intake-forms/{fid}/complete"))
            .header("Idempotency-Key", "complete-1")
            .json(&json!({"answers": {"ok": true}}))
            .send()
    };
    let first = expect_json(send().await.unwrap(), 200).await;
    let again = send().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_json(again, 200).await, first);
    assert_eq!(events(&app).await.len(), 2);
}
