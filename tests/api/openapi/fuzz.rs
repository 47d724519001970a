//! Regressions found by fuzzing the API against its own document (`.ci/schemathesis`): each
//! was a 500 or a contract deviation for an input the fuzzer (or a look at its findings) sent.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

/// PostgreSQL text cannot hold NUL: a query parameter with one is a 400 naming it, whichever
/// endpoint, never a 500 from the database.
#[tokio::test]
async fn nul_in_any_query_parameter_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    for (path, param) in [
        ("/patients?q=a%00b", "q"),
        ("/patients?externalId=a%00b", "externalId"),
        ("/patients?email=a%00b", "email"),
        ("/audit-events?keyPrefix=kv_%00", "keyPrefix"),
        ("/appointments?status=%00", "status"),
    ] {
        let body = expect_error(app.get(path).await, 400, "validation_error").await;
        assert_eq!(body["details"][0]["field"], param, "{path}");
    }
}

/// Free text in JSON bodies with `\u0000`: a 400, not a 500.
#[tokio::test]
async fn nul_in_appointment_reasons_and_webhook_fields_is_refused() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let patient = seed_patient(&app.db, app.org_id).await;
    let starts = (Utc::now() + Duration::days(400)).date_naive().and_hms_opt(15, 0, 0).unwrap().and_utc();
    let booking = json!({"patientId": patient, "providerId": clinic.provider_id, "locationId": clinic.location_id,
                         "startsAt": starts, "durationMinutes": 30, "reason": "a\u{0}b"});
    let body = expect_error(app.post("/appointments", &booking).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "reason");

    let id = seed_appointment(&app.db, app.org_id, &clinic, patient, starts, 30, "scheduled").await;
    let r = app.post(&format!("/appointments/{id}/cancel"), &json!({"reason": "a\u{0}b"})).await;
    expect_error(r, 400, "validation_error").await;
    let a = expect_json(app.get(&format!("/appointments/{id}")).await, 200).await;
    assert_eq!(a["status"], "scheduled", "a refused cancel changes nothing");

    let hook = json!({"url": "https://example.com/a\u{0}b", "events": ["patient.created"]});
    expect_error(app.post("/webhooks", &hook).await, 400, "invalid_webhook_url").await;
    let hook = json!({"url": "https://example.com/hooks", "events": ["patient.created"], "description": "a\u{0}b"});
    let body = expect_error(app.post("/webhooks", &hook).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "description");
}

/// chrono reads signed years of five and six digits that PostgreSQL cannot store; RFC 3339
/// has four-digit years, so such a timestamp or date is a 400 naming the parameter.
#[tokio::test]
async fn timestamps_and_dates_beyond_four_digit_years_are_a_400() {
    let app = TestApp::spawn().await;
    for (path, param) in [
        ("/patients?updatedSince=-262143-12-31T00:00:00Z", "updatedSince"),
        ("/patients?dateOfBirth=-262143-12-31", "dateOfBirth"),
        ("/appointments?from=-262143-12-31", "from"),
        ("/events?from=-262143-12-31T00:00:00Z", "from"),
        ("/audit-events?to=-262143-12-31T00:00:00Z", "to"),
        ("/providers/1/availability?from=-262143-01-01&to=-262143-01-02", "from"),
    ] {
        let body = expect_error(app.get(path).await, 400, "validation_error").await;
        assert_eq!(body["details"][0]["field"], param, "{path}");
    }
    // Four-digit years, with any offset, still work.
    expect_json(app.get("/patients?updatedSince=2026-01-01T00:00:00%2B01:00").await, 200).await;
    expect_json(app.get("/appointments?from=0001-01-01&to=9999-12-31").await, 200).await;
}

/// A cursor is opaque, but one forged to hold an instant PostgreSQL cannot store is
/// `invalid_cursor`, not a 500.
#[tokio::test]
async fn a_forged_cursor_far_outside_time_is_invalid() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("u:-6000000000000000000:1");
    let r = app.get(&format!("/patients?updatedSince=2026-01-01T00:00:00Z&cursor={forged}")).await;
    expect_error(r, 400, "invalid_cursor").await;
}

/// An `X-API-Key` that is not text is a wrong key (`invalid_api_key`), not a missing one.
#[tokio::test]
async fn a_non_text_api_key_is_invalid_not_missing() {
    let app = TestApp::spawn().await;
    let value = reqwest::header::HeaderValue::from_bytes(b"kv_\xff\xfe").unwrap();
    let r = app.client.request(Method::GET, app.url("/api/v1/health")).header("X-API-Key", value).send().await.unwrap();
    expect_error(r, 401, "invalid_api_key").await;
}
