//! Permissions, tenancy, validation and idempotency of the hold endpoints.

use klinivo::auth::Permission;
use reqwest::Method;
use serde_json::{json, Value};

use super::{id, setup, T0};
use crate::helpers::*;
use crate::patients::error_fields;

#[tokio::test]
async fn each_endpoint_needs_its_permission() {
    let s = setup().await;
    let hold = s.hold(T0, 30).await;
    let path = format!("/appointment-holds/{}", id(&hold));
    let read_only = s.app.key_with(&[Permission::ReadAppointments]).await;
    let write_only = s.app.key_with(&[Permission::WriteAppointments]).await;
    let body = json!({"providerId": s.clinic.provider_id, "locationId": s.clinic.location_id,
                      "startsAt": "2030-03-04T16:00:00Z", "durationMinutes": 30});
    let r = s.app.request_as(&read_only, Method::POST, "/appointment-holds").json(&body).send().await.unwrap();
    let e = expect_error(r, 403, "insufficient_permission").await;
    assert!(e["message"].as_str().unwrap().contains("WRITE_APPOINTMENTS"), "{e}");
    let r = s.app.request_as(&read_only, Method::DELETE, &path).send().await.unwrap();
    expect_error(r, 403, "insufficient_permission").await;
    let r = s.app.request_as(&write_only, Method::GET, &path).send().await.unwrap();
    let e = expect_error(r, 403, "insufficient_permission").await;
    assert!(e["message"].as_str().unwrap().contains("READ_APPOINTMENTS"), "{e}");
    // Refused before any work: still held, and nothing else held.
    assert_eq!(s.hold_status(id(&hold)).await, "held");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM appointment_holds").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 1);
    // Each permission suffices for its own endpoint.
    let r = s.app.request_as(&read_only, Method::GET, &path).send().await.unwrap();
    expect_json(r, 200).await;
    let r = s.app.request_as(&write_only, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn another_organizations_hold_is_404_everywhere_and_untouched() {
    let s = setup().await;
    let hold = s.hold(T0, 30).await;
    let path = format!("/appointment-holds/{}", id(&hold));
    let (other_org, other_key) = s.app.other_org().await;
    let their_patient = seed_patient(&s.app.db, other_org).await;
    let r = s.app.request_as(&other_key, Method::GET, &path).send().await.unwrap();
    expect_error(r, 404, "not_found").await;
    let r = s.app.request_as(&other_key, Method::DELETE, &path).send().await.unwrap();
    expect_error(r, 404, "not_found").await;
    let book = json!({"holdId": id(&hold), "patientId": their_patient});
    let r = s.app.request_as(&other_key, Method::POST, "/appointments").json(&book).send().await.unwrap();
    expect_error(r, 404, "not_found").await;
    assert_eq!(s.hold_status(id(&hold)).await, "held");
    // Ids that exist nowhere, the same.
    expect_error(s.app.get("/appointment-holds/999999").await, 404, "not_found").await;
    expect_error(s.app.delete("/appointment-holds/999999").await, 404, "not_found").await;
    expect_error(book_hold(&s.app, 999_999, s.patient).await, 404, "not_found").await;
    // Their provider, our key: an unknown reference.
    let theirs = seed_clinic(&s.app.db, other_org).await;
    let e = expect_error(hold_slot(&s.app, &theirs, T0, 30).await, 400, "validation_error").await;
    assert_eq!(error_fields(&e), ["providerId", "locationId"], "{e}");
}

#[tokio::test]
async fn hold_requests_are_validated_field_by_field() {
    let s = setup().await;
    let base = json!({"providerId": s.clinic.provider_id, "locationId": s.clinic.location_id,
                      "startsAt": T0, "durationMinutes": 30});
    let with = |field: &str, value: Value| {
        let mut b = base.clone();
        b[field] = value;
        b
    };
    for (body, field) in [
        (with("ttlSeconds", json!(59)), "ttlSeconds"),
        (with("ttlSeconds", json!(901)), "ttlSeconds"),
        (with("durationMinutes", json!(4)), "durationMinutes"),
        (with("startsAt", json!("soon")), "startsAt"),
        (with("endsAt", json!("2030-03-04T14:30:00Z")), "durationMinutes"),
        (with("patientId", json!(1)), "patientId"),
    ] {
        let e = expect_error(s.app.post("/appointment-holds", &body).await, 400, "validation_error").await;
        assert_eq!(error_fields(&e), [field], "{body}: {e}");
    }
    let e = expect_error(s.app.post("/appointment-holds", &json!({})).await, 400, "validation_error").await;
    assert_eq!(error_fields(&e), ["providerId", "locationId", "startsAt", "endsAt"], "{e}");
    // A provider who does not work at the location.
    let elsewhere = seed_clinic(&s.app.db, s.app.org_id).await;
    let e = expect_error(
        s.app.post("/appointment-holds", &with("locationId", json!(elsewhere.location_id))).await,
        400,
        "validation_error",
    )
    .await;
    assert_eq!(error_fields(&e), ["locationId"], "{e}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM appointment_holds").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 0);

    // The bounds themselves are accepted; the default is five minutes.
    let hold = expect_json(s.app.post("/appointment-holds", &base).await, 201).await;
    let ttl = |h: &Value| {
        let at = |f: &str| h[f].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        (at("expiresAt") - at("createdAt")).num_seconds()
    };
    assert_eq!(ttl(&hold), 300);
    let short = with("ttlSeconds", json!(60));
    let short = with_start(&short, "2030-03-04T16:00:00Z");
    assert_eq!(ttl(&expect_json(s.app.post("/appointment-holds", &short).await, 201).await), 60);
    let long = with_start(&with("ttlSeconds", json!(900)), "2030-03-04T17:00:00Z");
    assert_eq!(ttl(&expect_json(s.app.post("/appointment-holds", &long).await, 201).await), 900);
}

fn with_start(body: &Value, starts_at: &str) -> Value {
    let mut b = body.clone();
    b["startsAt"] = json!(starts_at);
    b
}

#[tokio::test]
async fn a_repeated_hold_request_replays_the_first_response() {
    let s = setup().await;
    let body = json!({"providerId": s.clinic.provider_id, "locationId": s.clinic.location_id,
                      "startsAt": T0, "durationMinutes": 30, "ttlSeconds": 120});
    let send =
        || s.app.request(Method::POST, "/appointment-holds").header("Idempotency-Key", "widget-42").json(&body).send();
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].to_str().unwrap().to_string();
    let first: Value = first.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/appointment-holds/{}", id(&first)));
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201, "a replay, not a 409 against its own hold");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"].to_str().unwrap(), location);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM appointment_holds").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 1);
    // The same key with another slot is a mismatch.
    let other = with_start(&body, "2030-03-04T16:00:00Z");
    let r =
        s.app.request(Method::POST, "/appointment-holds").header("Idempotency-Key", "widget-42").json(&other).send();
    expect_error(r.await.unwrap(), 422, "idempotency_key_mismatch").await;
}
