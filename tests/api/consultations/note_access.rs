//! The note lifecycle's endpoints: validation and idempotent replays. (Permissions and tenancy
//! of every endpoint are in `access.rs`.)

use reqwest::header::LOCATION;
use reqwest::Method;
use serde_json::{json, Value};

use super::note_lifecycle::{note_path, note_state, room};
use super::*;

#[tokio::test]
async fn bad_changes_signatures_and_amendments_are_400_and_change_nothing() {
    let app = TestApp::spawn().await;
    let r = room(&app).await;
    let cid = r.consultation_id;
    let draft =
        id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &json!({"plan": "a"})).await, 201).await);
    let body = json!({"plan": "a", "sign": {"providerId": r.provider_id}});
    let signed = id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &body).await, 201).await);
    let p = r.provider_id;
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (Method::PATCH, note_path(cid, draft, ""), json!({}), "body"),
        (Method::PATCH, note_path(cid, draft, ""), json!({"plan": null}), "body"),
        (Method::PATCH, note_path(cid, draft, ""), json!({"plan": ""}), "body"),
        (Method::PATCH, note_path(cid, draft, ""), json!({"plan": "b", "status": "signed"}), "status"),
        (Method::PATCH, note_path(cid, draft, ""), json!({"plan": "b", "authorProviderId": p}), "authorProviderId"),
        (Method::PATCH, note_path(cid, draft, ""), json!({"objective": "x".repeat(64 * 1024 + 1)}), "objective"),
        (Method::POST, note_path(cid, draft, "/sign"), json!({}), "providerId"),
        (Method::POST, note_path(cid, draft, "/sign"), json!({"providerId": p, "at": "now"}), "at"),
        (Method::POST, note_path(cid, draft, "/sign"), json!({"providerId": "one"}), "providerId"),
        (Method::POST, note_path(cid, signed, "/amendments"), json!({"providerId": p, "plan": "b"}), "reason"),
        (
            Method::POST,
            note_path(cid, signed, "/amendments"),
            json!({"reason": " ", "providerId": p, "plan": "b"}),
            "reason",
        ),
        (
            Method::POST,
            note_path(cid, signed, "/amendments"),
            json!({"reason": "x".repeat(1001), "providerId": p, "plan": "b"}),
            "reason",
        ),
        (Method::POST, note_path(cid, signed, "/amendments"), json!({"reason": "r", "plan": "b"}), "providerId"),
        (Method::POST, note_path(cid, signed, "/amendments"), json!({"reason": "r", "providerId": p}), "body"),
        (
            Method::POST,
            note_path(cid, signed, "/amendments"),
            json!({"reason": "r", "providerId": p, "plan": "b", "version": 3}),
            "version",
        ),
        (
            Method::POST,
            note_path(cid, signed, "/amendments"),
            json!({"reason": "r", "providerId": p, "plan": ""}),
            "body",
        ),
    ];
    let before = note_state(&app).await;
    for (method, path, body, field) in cases {
        let response = app.request(method.clone(), &path).json(&body).send().await.unwrap();
        let error = expect_error(response, 400, "validation_error").await;
        let fields: Vec<&str> =
            error["details"].as_array().unwrap().iter().filter_map(|d| d["field"].as_str()).collect();
        assert!(fields.contains(&field), "{method} {path} {body}: {error}");
    }
    assert_eq!(note_state(&app).await, before);
    // At the limits: a reason of exactly 1000 characters.
    let ok = json!({"reason": "é".repeat(1000), "providerId": p, "plan": "b"});
    expect_json(app.post(&note_path(cid, signed, "/amendments"), &ok).await, 201).await;
}

#[tokio::test]
async fn replaying_a_signature_or_an_amendment_does_it_once() {
    let app = TestApp::spawn().await;
    let r = room(&app).await;
    let cid = r.consultation_id;
    let note =
        id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &json!({"plan": "a"})).await, 201).await);
    let send = |path: String, key: &'static str, body: Value| {
        let request = app.request(Method::POST, &path).header("Idempotency-Key", key).json(&body);
        async move { request.send().await.unwrap() }
    };

    let sign = json!({"providerId": r.provider_id});
    let first = expect_json(send(note_path(cid, note, "/sign"), "sign-1", sign.clone()).await, 200).await;
    let again = send(note_path(cid, note, "/sign"), "sign-1", sign.clone()).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_json(again, 200).await, first, "the replay is the first answer, not a 409");

    let amend = json!({"reason": "Corrected", "providerId": r.provider_id, "plan": "b"});
    let first = send(note_path(cid, note, "/amendments"), "amend-1", amend.clone()).await;
    let location = first.headers()[LOCATION].clone();
    let first = expect_json(first, 201).await;
    let again = send(note_path(cid, note, "/amendments"), "amend-1", amend.clone()).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()[LOCATION], location);
    assert_eq!(expect_json(again, 201).await, first);
    let view = expect_json(app.get(&note_path(cid, note, "")).await, 200).await;
    assert_eq!(view["version"], 2, "one amendment, not two");
    assert_eq!(types(&events(&app).await), ["soap_note.created", "soap_note.signed", "soap_note.amended"]);

    // The same key with another body is another request.
    let other = json!({"reason": "Corrected again", "providerId": r.provider_id, "plan": "c"});
    let r = send(note_path(cid, note, "/amendments"), "amend-1", other).await;
    expect_error(r, 422, "idempotency_key_mismatch").await;

    // A change to a draft replays too.
    let draft =
        id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &json!({"plan": "d"})).await, 201).await);
    let patch = |body: Value| {
        app.request(Method::PATCH, &note_path(cid, draft, "")).header("Idempotency-Key", "patch-1").json(&body).send()
    };
    let first = expect_json(patch(json!({"plan": "e"})).await.unwrap(), 200).await;
    let again = patch(json!({"plan": "e"})).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_json(again, 200).await, first);
}
