//! SOAP notes and prescriptions.

use reqwest::header::LOCATION;
use serde_json::{json, Value};

use super::*;

async fn consultation(app: &TestApp) -> (Visit, i64) {
    let visit = book(app, "confirmed").await;
    let cid = id(&start_consultation(app, visit.appointment_id).await);
    (visit, cid)
}

async fn write_note(app: &TestApp, cid: i64, body: Value) -> Value {
    expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &body).await, 201).await
}

async fn prescribe(app: &TestApp, cid: i64, body: Value) -> Value {
    expect_json(app.post(&format!("/consultations/{cid}/prescriptions"), &body).await, 201).await
}

fn amoxicillin() -> Value {
    json!({"medicationName": "Amoxicillin", "dosage": "500 mg", "frequency": "three times daily"})
}

#[tokio::test]
async fn a_note_is_written_by_the_consultations_provider_unless_another_is_named() {
    let app = TestApp::spawn().await;
    let (visit, cid) = consultation(&app).await;
    let r = app.post(&format!("/consultations/{cid}/soap-notes"), &json!({"assessment": "Viral URI"})).await;
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    let note = expect_json(r, 201).await;
    assert_eq!(location, format!("/api/v1/consultations/{cid}/soap-notes/{}", id(&note)));
    assert_eq!(note["consultationId"], cid);
    assert_eq!(note["authorProviderId"], visit.clinic.provider_id);
    assert_eq!(note["assessment"], "Viral URI");
    for blank in ["subjective", "objective", "plan"] {
        assert_eq!(note[blank], Value::Null);
    }
    assert!(note["createdAt"].is_string());
    assert_eq!(expect_json(app.get(&location["/api/v1".len()..]).await, 200).await, note);

    // Another provider of the organization may author; blank sections are stored as null,
    // others verbatim.
    let colleague = seed_clinic(&app.db, app.org_id).await.provider_id;
    let note = write_note(
        &app,
        cid,
        json!({"authorProviderId": colleague, "subjective": "  ", "plan": "  Rest\n", "objective": null}),
    )
    .await;
    assert_eq!(note["authorProviderId"], colleague);
    assert_eq!(note["subjective"], Value::Null);
    assert_eq!(note["plan"], "  Rest\n");
    assert_eq!(types(&events(&app).await), ["soap_note.created", "soap_note.created"]);
    assert_eq!(events(&app).await[1].1, note);
}

#[tokio::test]
async fn notes_can_be_added_after_the_consultation_ended() {
    let app = TestApp::spawn().await;
    let (_, cid) = consultation(&app).await;
    end_consultation(&app, cid).await;
    let note = write_note(&app, cid, json!({"plan": "Addendum: call back in a week"})).await;
    let view = expect_json(app.get(&format!("/consultations/{cid}")).await, 200).await;
    assert_eq!(view["soapNotes"], json!([note]));
}

#[tokio::test]
async fn bad_notes_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, cid) = consultation(&app).await;
    let (other_org, _) = app.other_org().await;
    let foreign_provider = seed_clinic(&app.db, other_org).await.provider_id;
    let huge = "x".repeat(64 * 1024 + 1);
    let cases = [
        (json!({}), "body"),
        (json!({"subjective": "", "objective": " ", "assessment": "\n", "plan": null}), "body"),
        (json!({"plan": huge}), "plan"),
        (json!({"subjective": "a\u{0}b"}), "subjective"),
        (json!({"plan": "ok", "author": 1}), "author"),
        (json!({"plan": 5}), "plan"),
        (json!({"plan": "ok", "authorProviderId": 999999}), "authorProviderId"),
        (json!({"plan": "ok", "authorProviderId": foreign_provider}), "authorProviderId"),
    ];
    for (body, field) in cases {
        let r = app.post(&format!("/consultations/{cid}/soap-notes"), &body).await;
        let error = expect_error(r, 400, "validation_error").await;
        assert_eq!(error["details"][0]["field"], field, "{body}");
    }
    // Exactly 64 KiB is fine.
    write_note(&app, cid, json!({"plan": "x".repeat(64 * 1024)})).await;
    assert_eq!(count(&app, "soap_notes").await, 1);
    assert_eq!(types(&events(&app).await), ["soap_note.created"]);
    let r = app.post("/consultations/999999/soap-notes", &json!({"plan": "ok"})).await;
    expect_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn notes_are_listed_per_consultation_page_by_page() {
    let app = TestApp::spawn().await;
    let (_, cid) = consultation(&app).await;
    let (_, other) = consultation(&app).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(id(&write_note(&app, cid, json!({"subjective": format!("note {i}")})).await));
        write_note(&app, other, json!({"subjective": "elsewhere"})).await;
    }
    for limit in [1, 2, 50] {
        assert_eq!(collect_ids(&app, &format!("/consultations/{cid}/soap-notes"), limit).await, ids);
    }
    let since = expect_json(app.get(&format!("/consultations/{cid}/soap-notes/{}", ids[3])).await, 200).await;
    let since = since["updatedAt"].as_str().unwrap();
    let q = format!("/consultations/{cid}/soap-notes?updatedSince={since}");
    assert_eq!(collect_ids(&app, &q, 1).await, ids[3..]);
    expect_error(app.get("/consultations/999999/soap-notes").await, 404, "not_found").await;
    let r = app.get(&format!("/consultations/{cid}/soap-notes?status=x")).await;
    expect_error(r, 400, "validation_error").await;
    // A note is found only under its own consultation.
    expect_error(app.get(&format!("/consultations/{other}/soap-notes/{}", ids[0])).await, 404, "not_found").await;
    expect_error(app.get(&format!("/consultations/{cid}/soap-notes/999999")).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_prescription_takes_patient_and_provider_from_the_consultation() {
    let app = TestApp::spawn().await;
    let (visit, cid) = consultation(&app).await;
    let r = app
        .post(
            &format!("/consultations/{cid}/prescriptions"),
            &json!({
                "medicationName": "  Amoxicillin ", "dosage": "500 mg", "frequency": "three times daily",
                "route": "oral", "quantity": 21, "refills": 2, "instructions": "Take with food."
            }),
        )
        .await;
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    let p = expect_json(r, 201).await;
    assert_eq!(location, format!("/api/v1/prescriptions/{}", id(&p)));
    assert_eq!(p["consultationId"], cid);
    assert_eq!(p["patientId"], visit.patient_id);
    assert_eq!(p["providerId"], visit.clinic.provider_id);
    assert_eq!(p["medicationName"], "Amoxicillin");
    assert_eq!(p["dosage"], "500 mg");
    assert_eq!(p["route"], "oral");
    assert_eq!(p["frequency"], "three times daily");
    assert_eq!(p["quantity"], 21);
    assert_eq!(p["refills"], 2);
    assert_eq!(p["instructions"], "Take with food.");
    assert_eq!(p["status"], "active");
    assert!(p["prescribedAt"].is_string());
    assert_eq!(expect_json(app.get(&format!("/prescriptions/{}", id(&p))).await, 200).await, p);

    // Optional fields: blank means absent; refills default to 0. Allowed after the end too.
    end_consultation(&app, cid).await;
    let mut body = amoxicillin();
    body["route"] = json!(" ");
    let p = prescribe(&app, cid, body).await;
    assert_eq!(p["route"], Value::Null);
    assert_eq!(p["quantity"], Value::Null);
    assert_eq!(p["instructions"], Value::Null);
    assert_eq!(p["refills"], 0);
    // No event is part of the contract for prescriptions.
    assert_eq!(types(&events(&app).await), ["consultation.ended", "appointment.completed"]);
}

#[tokio::test]
async fn bad_prescriptions_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, cid) = consultation(&app).await;
    let with = |field: &str, value: Value| {
        let mut body = amoxicillin();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = amoxicillin();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases = [
        (without("medicationName"), "medicationName"),
        (without("dosage"), "dosage"),
        (without("frequency"), "frequency"),
        (with("medicationName", json!("   ")), "medicationName"),
        (with("dosage", json!("")), "dosage"),
        (with("frequency", json!(null)), "frequency"),
        (with("medicationName", json!("m".repeat(201))), "medicationName"),
        (with("dosage", json!("d".repeat(101))), "dosage"),
        (with("route", json!("r".repeat(51))), "route"),
        (with("instructions", json!("i".repeat(2001))), "instructions"),
        (with("instructions", json!("nul\u{0}")), "instructions"),
        (with("quantity", json!(-1)), "quantity"),
        (with("quantity", json!(10_001)), "quantity"),
        (with("quantity", json!(1.5)), "quantity"),
        (with("quantity", json!("3")), "quantity"),
        (with("quantity", json!(1_u64 << 40)), "quantity"),
        (with("refills", json!(-1)), "refills"),
        (with("refills", json!(100)), "refills"),
        (with("status", json!("active")), "status"),
        (with("patientId", json!(1)), "patientId"),
    ];
    for (body, field) in cases {
        let r = app.post(&format!("/consultations/{cid}/prescriptions"), &body).await;
        let error = expect_error(r, 400, "validation_error").await;
        assert_eq!(error["details"][0]["field"], field, "{body}");
    }
    // Several problems are reported together.
    let r = app.post(&format!("/consultations/{cid}/prescriptions"), &with("refills", json!(100))).await;
    assert_eq!(expect_error(r, 400, "validation_error").await["details"].as_array().unwrap().len(), 1);
    let mut body = with("refills", json!(100));
    body["dosage"] = json!("");
    let r = app.post(&format!("/consultations/{cid}/prescriptions"), &body).await;
    assert_eq!(expect_error(r, 400, "validation_error").await["details"].as_array().unwrap().len(), 2);
    // The bounds themselves are fine.
    prescribe(&app, cid, with("quantity", json!(10_000))).await;
    prescribe(&app, cid, with("refills", json!(99))).await;
    prescribe(&app, cid, with("quantity", json!(0))).await;
    assert_eq!(count(&app, "prescriptions").await, 3);
    let r = app.post("/consultations/999999/prescriptions", &amoxicillin()).await;
    expect_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn prescriptions_are_listed_by_patient_or_consultation() {
    let app = TestApp::spawn().await;
    let (a, first) = consultation(&app).await;
    let second = id(&start_consultation(&app, book_again(&app, &a, "confirmed").await).await);
    let (_, third) = consultation(&app).await;
    let mut all = Vec::new();
    for cid in [first, second, third, first, third] {
        all.push(id(&prescribe(&app, cid, amoxicillin()).await));
    }
    for limit in [1, 2, 200] {
        assert_eq!(collect_ids(&app, "/prescriptions", limit).await, all);
    }
    let of = |q: String| {
        let app = &app;
        async move { collect_ids(app, &format!("/prescriptions?{q}"), 2).await }
    };
    assert_eq!(of(format!("patientId={}", a.patient_id)).await, [all[0], all[1], all[3]]);
    assert_eq!(of(format!("consultationId={first}")).await, [all[0], all[3]]);
    assert_eq!(of(format!("consultationId={third}&patientId={}", a.patient_id)).await, Vec::<i64>::new());
    let since = expect_json(app.get(&format!("/prescriptions/{}", all[2])).await, 200).await;
    let since = since["updatedAt"].as_str().unwrap();
    assert_eq!(of(format!("updatedSince={since}")).await, all[2..]);
    for (query, field) in [("patientId=x", "patientId"), ("consultationId=1.5", "consultationId"), ("q=a", "q")] {
        let body = expect_error(app.get(&format!("/prescriptions?{query}")).await, 400, "validation_error").await;
        assert_eq!(body["details"][0]["field"], field);
    }
    expect_error(app.get("/prescriptions?cursor=zzz").await, 400, "invalid_cursor").await;
    expect_error(app.get("/prescriptions/999999").await, 404, "not_found").await;
}
