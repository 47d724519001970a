//! The SOAP note lifecycle: draft, changes to the draft, signature, amendments that keep every
//! version; illegal transitions; who may sign; the database's refusal to change a signed
//! version; concurrent signatures and amendments. Their delivery to webhooks is in
//! `note_delivery.rs`.

use klinivo::auth::Permission;
use reqwest::Method;
use serde_json::{json, Value};

use super::*;

/// A consultation (its provider is the seeded clinic's) and a second provider of the clinic.
pub struct Room {
    pub consultation_id: i64,
    pub provider_id: i64,
    pub colleague_id: i64,
}

pub async fn room(app: &TestApp) -> Room {
    let visit = book(app, "confirmed").await;
    let consultation_id = id(&start_consultation(app, visit.appointment_id).await);
    let colleague_id = seed_clinic(&app.db, app.org_id).await.provider_id;
    Room { consultation_id, provider_id: visit.clinic.provider_id, colleague_id }
}

pub fn note_path(cid: i64, note: i64, rest: &str) -> String {
    format!("/consultations/{cid}/soap-notes/{note}{rest}")
}

pub async fn send_as(app: &TestApp, key: &str, method: Method, path: &str, body: &Value) -> reqwest::Response {
    app.request_as(key, method, path).json(body).send().await.unwrap()
}

/// A key of our organization that reads and writes consultations, and its display prefix.
async fn clinical_key(app: &TestApp) -> (String, String) {
    let key = app.key_with(&[Permission::ReadConsultations, Permission::WriteConsultations]).await;
    let prefix = key[..11].to_string();
    (key, prefix)
}

/// The rows a refused transition must leave as they were.
pub async fn note_state(app: &TestApp) -> Value {
    let mut out = serde_json::Map::new();
    for t in ["soap_notes", "soap_note_versions", "events"] {
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

/// A response of a note's single view as an earlier version shows it (without `versions`).
fn as_version(mut detail: Value) -> Value {
    detail.as_object_mut().unwrap().remove("versions");
    detail
}

#[tokio::test]
async fn a_draft_is_changed_signed_and_amended_twice_and_every_version_is_kept_as_signed() {
    let app = TestApp::spawn().await;
    let r = room(&app).await;
    let cid = r.consultation_id;
    let (scribe, scribe_prefix) = clinical_key(&app).await;
    let (clinician, clinician_prefix) = clinical_key(&app).await;

    // The scribe writes a draft, authored by the colleague, and corrects it.
    let body = json!({"subjective": "Cough 3 days", "objective": "Temp 38.1", "authorProviderId": r.colleague_id});
    let draft = expect_json(
        send_as(&app, &scribe, Method::POST, &format!("/consultations/{cid}/soap-notes"), &body).await,
        201,
    )
    .await;
    let note = id(&draft);
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["version"], 1);
    assert_eq!(draft["signedByProviderId"], Value::Null);
    assert_eq!(draft["signedAt"], Value::Null);
    assert_eq!(draft["amendmentReason"], Value::Null);
    assert_eq!(draft["createdByKeyPrefix"], scribe_prefix.as_str());
    assert_eq!(draft["versions"], json!([]));
    let changes = json!({"subjective": "Cough 4 days", "assessment": "Viral URI", "objective": null});
    let changed =
        expect_json(send_as(&app, &scribe, Method::PATCH, &note_path(cid, note, ""), &changes).await, 200).await;
    assert_eq!((changed["status"].as_str(), changed["version"].as_i64()), (Some("draft"), Some(1)));
    assert_eq!(changed["subjective"], "Cough 4 days");
    assert_eq!(changed["objective"], "Temp 38.1", "a section sent as null is kept");
    assert_eq!(changed["assessment"], "Viral URI");

    // The clinician signs it as the consultation's provider.
    let sign = json!({"providerId": r.provider_id});
    let signed =
        expect_json(send_as(&app, &clinician, Method::POST, &note_path(cid, note, "/sign"), &sign).await, 200).await;
    assert_eq!(signed["status"], "signed");
    assert_eq!(signed["version"], 1);
    assert_eq!(signed["signedByProviderId"], r.provider_id);
    assert!(signed["signedAt"].is_string());
    assert_eq!(signed["createdByKeyPrefix"], scribe_prefix.as_str(), "the scribe wrote the text");
    assert_eq!(signed["signedByKeyPrefix"], clinician_prefix.as_str());
    assert_eq!(signed["subjective"], "Cough 4 days");

    // Two amendments: by the clinician for the consultation's provider, by the scribe's key for
    // the author. Sections not sent are kept; a blank one is cleared.
    let first = json!({"reason": "Temperature re-measured", "providerId": r.provider_id, "objective": "Temp 37.9"});
    let v2 = send_as(&app, &clinician, Method::POST, &note_path(cid, note, "/amendments"), &first).await;
    let v2 = expect_json(v2, 201).await;
    assert_eq!((v2["version"].as_i64(), v2["status"].as_str()), (Some(2), Some("signed")));
    assert_eq!(v2["amendmentReason"], "Temperature re-measured");
    assert_eq!(v2["objective"], "Temp 37.9");
    assert_eq!(v2["subjective"], "Cough 4 days");
    assert_eq!(v2["createdByKeyPrefix"], clinician_prefix.as_str());
    assert_eq!(v2["versions"], json!([as_version(signed.clone())]));
    let second = json!({"reason": "  Plan added  ", "providerId": r.colleague_id, "plan": "Fluids", "assessment": ""});
    let v3 = send_as(&app, &scribe, Method::POST, &note_path(cid, note, "/amendments"), &second).await;
    let v3 = expect_json(v3, 201).await;
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["amendmentReason"], "Plan added");
    assert_eq!(v3["signedByProviderId"], r.colleague_id);
    assert_eq!(v3["createdByKeyPrefix"], scribe_prefix.as_str());
    assert_eq!((v3["plan"].as_str(), v3["assessment"].as_str()), (Some("Fluids"), None));
    assert_eq!(v3["objective"], "Temp 37.9");

    // The single view: the current version and the earlier ones, oldest first, as signed.
    let view = expect_json(app.get(&note_path(cid, note, "")).await, 200).await;
    assert_eq!(view, v3);
    assert_eq!(view["versions"], json!([as_version(signed.clone()), as_version(v2.clone())]));
    // Lists show the current version; the consultation embeds the note as its view shows it.
    let list = expect_json(app.get(&format!("/consultations/{cid}/soap-notes")).await, 200).await;
    assert_eq!(list["data"], json!([as_version(v3.clone())]));
    let consultation = expect_json(app.get(&format!("/consultations/{cid}")).await, 200).await;
    assert_eq!(consultation["soapNotes"], json!([v3.clone()]));

    // Events: created (the draft), signed, amended twice; each with the note as it was then.
    let log = events(&app).await;
    assert_eq!(types(&log), ["soap_note.created", "soap_note.signed", "soap_note.amended", "soap_note.amended"]);
    assert_eq!(log[0].1, draft);
    assert_eq!(log[1].1, signed);
    assert_eq!(log[2].1, v2);
    assert_eq!(log[3].1, v3);
}

#[tokio::test]
async fn a_note_can_be_signed_as_it_is_written() {
    let app = TestApp::spawn().await;
    let r = room(&app).await;
    let body = json!({"plan": "Rest", "sign": {"providerId": r.provider_id}});
    let note =
        expect_json(app.post(&format!("/consultations/{}/soap-notes", r.consultation_id), &body).await, 201).await;
    assert_eq!((note["status"].as_str(), note["version"].as_i64()), (Some("signed"), Some(1)));
    assert_eq!(note["signedByProviderId"], r.provider_id);
    assert_eq!(note["signedByKeyPrefix"], &app.key[..11]);
    let log = events(&app).await;
    assert_eq!(types(&log), ["soap_note.created", "soap_note.signed"]);
    assert_eq!((&log[0].1, &log[1].1), (&note, &note));
}

#[tokio::test]
async fn illegal_transitions_are_409_and_change_nothing() {
    let app = TestApp::spawn().await;
    let r = room(&app).await;
    let cid = r.consultation_id;
    let draft =
        id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &json!({"plan": "a"})).await, 201).await);
    let amend = json!({"reason": "r", "providerId": r.provider_id, "plan": "b"});

    // Amending a draft.
    let before = note_state(&app).await;
    expect_error(app.post(&note_path(cid, draft, "/amendments"), &amend).await, 409, "invalid_state_transition").await;
    assert_eq!(note_state(&app).await, before);

    // Changing a signed note, signing it twice.
    expect_json(app.post(&note_path(cid, draft, "/sign"), &json!({"providerId": r.provider_id})).await, 200).await;
    let before = note_state(&app).await;
    let r1 = app.patch(&note_path(cid, draft, ""), &json!({"plan": "changed"})).await;
    expect_error(r1, 409, "invalid_state_transition").await;
    let r2 = app.post(&note_path(cid, draft, "/sign"), &json!({"providerId": r.colleague_id})).await;
    expect_error(r2, 409, "invalid_state_transition").await;
    let r3 = app.post(&note_path(cid, draft, "/sign"), &json!({"providerId": r.provider_id})).await;
    expect_error(r3, 409, "invalid_state_transition").await;
    assert_eq!(note_state(&app).await, before);
    let view = expect_json(app.get(&note_path(cid, draft, "")).await, 200).await;
    assert_eq!((view["plan"].as_str(), view["version"].as_i64()), (Some("a"), Some(1)));
}

#[tokio::test]
async fn only_the_consultations_provider_or_the_notes_author_signs() {
    let app = TestApp::spawn().await;
    let r = room(&app).await;
    let cid = r.consultation_id;
    let bystander = seed_clinic(&app.db, app.org_id).await.provider_id;
    let (other_org, _) = app.other_org().await;
    let foreign = seed_clinic(&app.db, other_org).await.provider_id;
    let body = json!({"plan": "a", "authorProviderId": r.colleague_id});
    let note = id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &body).await, 201).await);

    let before = note_state(&app).await;
    for (provider, message) in [
        (bystander, "must be the consultation's provider or the note's author"),
        (foreign, "no provider with this id in the organization"),
        (999_999, "no provider with this id in the organization"),
    ] {
        let e = expect_error(
            app.post(&note_path(cid, note, "/sign"), &json!({"providerId": provider})).await,
            400,
            "validation_error",
        )
        .await;
        assert_eq!(
            (e["details"][0]["field"].as_str(), e["details"][0]["message"].as_str()),
            (Some("providerId"), Some(message))
        );
        let signed_at_once = json!({"plan": "b", "sign": {"providerId": provider}});
        let e = expect_error(
            app.post(&format!("/consultations/{cid}/soap-notes"), &signed_at_once).await,
            400,
            "validation_error",
        )
        .await;
        assert_eq!(e["details"][0]["field"], "sign.providerId");
    }
    assert_eq!(note_state(&app).await, before, "refused signatures change nothing");

    // The author (not the consultation's provider) may sign, and amend.
    let signed =
        expect_json(app.post(&note_path(cid, note, "/sign"), &json!({"providerId": r.colleague_id})).await, 200).await;
    assert_eq!(signed["signedByProviderId"], r.colleague_id);
    let before = note_state(&app).await;
    for provider in [bystander, foreign] {
        let amend = json!({"reason": "r", "providerId": provider, "plan": "c"});
        let e =
            expect_error(app.post(&note_path(cid, note, "/amendments"), &amend).await, 400, "validation_error").await;
        assert_eq!(e["details"][0]["field"], "providerId");
    }
    assert_eq!(note_state(&app).await, before);
}

#[tokio::test]
async fn a_signed_version_cannot_be_changed_or_deleted_even_by_sql() {
    let app = TestApp::spawn().await;
    let r = room(&app).await;
    let cid = r.consultation_id;
    let body = json!({"plan": "a", "sign": {"providerId": r.provider_id}});
    let signed = id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &body).await, 201).await);
    let draft =
        id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &json!({"plan": "d"})).await, 201).await);
    let before = note_state(&app).await;
    for statement in [
        "UPDATE soap_note_versions SET plan = 'forged' WHERE status = 'signed'",
        "UPDATE soap_note_versions SET status = 'draft' WHERE status = 'signed'",
        "DELETE FROM soap_note_versions WHERE status = 'signed'",
        "TRUNCATE soap_note_versions CASCADE",
    ] {
        let refused = sqlx::query(statement).execute(&app.db).await;
        assert!(refused.is_err(), "{statement} must fail");
    }
    let back =
        sqlx::query("UPDATE soap_notes SET current_version = 0 WHERE id = $1").bind(signed).execute(&app.db).await;
    assert!(back.is_err(), "the current version cannot go back");
    assert_eq!(note_state(&app).await, before);
    // A draft is still a draft: it may change.
    sqlx::query("UPDATE soap_note_versions SET plan = 'e' WHERE note_id = $1")
        .bind(draft)
        .execute(&app.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_signatures_and_amendments_of_one_note_run_one_after_the_other() {
    let app = TestApp::spawn().await;
    let r = room(&app).await;
    let cid = r.consultation_id;
    let note =
        id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &json!({"plan": "a"})).await, 201).await);

    let sign = json!({"providerId": r.provider_id});
    let sign_path = note_path(cid, note, "/sign");
    let signs = (0..8).map(|_| app.post(&sign_path, &sign));
    let statuses: Vec<u16> = futures_util::future::join_all(signs).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");

    let app = &app;
    let amends = (0..8).map(|i| {
        let body =
            json!({"reason": format!("amendment {i}"), "providerId": r.provider_id, "plan": format!("plan {i}")});
        let path = note_path(cid, note, "/amendments");
        async move { app.post(&path, &body).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(amends).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let view = expect_json(app.get(&note_path(cid, note, "")).await, 200).await;
    assert_eq!(view["version"], 9);
    let versions: Vec<i64> =
        view["versions"].as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, (1..=8).collect::<Vec<i64>>());
    assert_eq!(types(&events(app).await).iter().filter(|t| **t == "soap_note.amended").count(), 8);
}
