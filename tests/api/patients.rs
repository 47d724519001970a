//! Patients: create, view, partial update, search and filters, pagination, validation,
//! permissions, events, idempotent creation under concurrency.

use std::collections::HashMap;

use futures_util::future::join_all;
use klinivo::auth::Permission;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

mod folding;

// ---------------------------------------------------------------------------------------------
// What an integrator does

pub fn grace() -> Value {
    json!({
        "externalId": "EHR-1001",
        "firstName": "Grace",
        "lastName": "Hopper",
        "dateOfBirth": "1985-12-09",
        "sex": "female",
        "email": "grace@example.test",
        "phone": "+14155550123",
        "address": {"line1": "1 Main St", "line2": null, "city": "Arlington", "region": "VA",
                    "postalCode": "22201", "country": "US"}
    })
}

pub async fn create_patient(app: &TestApp, body: &Value) -> Value {
    expect_json(app.post("/patients", body).await, 201).await
}

/// Query parameters of a list call.
pub type Params<'a> = Vec<(&'a str, &'a str)>;

pub async fn list_patients(app: &TestApp, params: &[(&str, &str)]) -> Response {
    app.request(Method::GET, "/patients").query(params).send().await.unwrap()
}

/// The ids a filtered list returns (one page of up to 200).
async fn ids(app: &TestApp, params: &[(&str, &str)]) -> Vec<i64> {
    let mut params = params.to_vec();
    params.push(("limit", "200"));
    let body = expect_json(list_patients(app, &params).await, 200).await;
    body["data"].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect()
}

/// The organization's events in the order they were recorded: `(type, data)`.
pub async fn events_of(app: &TestApp, org: Uuid) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT type, data FROM events WHERE organization_id = $1 ORDER BY seq")
        .bind(org)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn patient_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM patients").fetch_one(&app.db).await.unwrap()
}

pub fn ts(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a timestamp: {v}"))
}

pub fn error_fields(body: &Value) -> Vec<String> {
    body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap().to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Create and view

#[tokio::test]
async fn create_returns_201_with_location_and_records_patient_created() {
    let app = TestApp::spawn().await;
    let r = app.post("/patients", &grace()).await;
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let created = expect_json(r, 201).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/patients/{id}"));

    let mut expected = grace();
    for k in ["id", "createdAt", "updatedAt"] {
        expected[k] = created[k].clone();
    }
    assert_eq!(created, expected);
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z'));

    let fetched = expect_json(app.get(&format!("/patients/{id}")).await, 200).await;
    assert_eq!(fetched, created);
    assert_eq!(events_of(&app, app.org_id).await, vec![("patient.created".to_string(), created)]);
}

#[tokio::test]
async fn create_with_only_names_fills_in_nulls_and_unknown_sex() {
    let app = TestApp::spawn().await;
    let p = create_patient(&app, &json!({"firstName": "  Ada ", "lastName": "Lovelace"})).await;
    assert_eq!(p["firstName"], "Ada");
    assert_eq!(p["sex"], "unknown");
    for k in ["externalId", "dateOfBirth", "email", "phone"] {
        assert_eq!(p[k], Value::Null, "{k}");
    }
    assert_eq!(
        p["address"],
        json!({"line1": null, "line2": null, "city": null, "region": null, "postalCode": null, "country": null})
    );
    // Empty optional strings are stored as null; the country code is upper-cased.
    let p = create_patient(
        &app,
        &json!({"firstName": "B", "lastName": "C", "email": "", "externalId": " ", "address": {"country": "de"}}),
    )
    .await;
    assert_eq!(p["email"], Value::Null);
    assert_eq!(p["externalId"], Value::Null);
    assert_eq!(p["address"]["country"], "DE");
}

#[tokio::test]
async fn unknown_patients_are_404() {
    let app = TestApp::spawn().await;
    expect_error(app.get("/patients/999999").await, 404, "not_found").await;
    expect_error(app.get("/patients/abc").await, 404, "not_found").await;
    expect_error(app.patch("/patients/999999", &json!({"firstName": "X"})).await, 404, "not_found").await;
}

// ---------------------------------------------------------------------------------------------
// Validation: every rule, and a rejected request changes nothing

#[tokio::test]
async fn every_validation_rule_is_a_400_naming_the_field_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let long = |n: usize| "x".repeat(n);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive().to_string();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"firstName": null}), "firstName"),
        (json!({"firstName": "   "}), "firstName"),
        (json!({"firstName": long(101)}), "firstName"),
        (json!({"firstName": "A\u{7}"}), "firstName"),
        (json!({"lastName": ""}), "lastName"),
        (json!({"lastName": long(101)}), "lastName"),
        (json!({"dateOfBirth": tomorrow}), "dateOfBirth"),
        (json!({"dateOfBirth": "1899-12-31"}), "dateOfBirth"),
        (json!({"dateOfBirth": "2023-02-30"}), "dateOfBirth"),
        (json!({"dateOfBirth": "09/12/1985"}), "dateOfBirth"),
        (json!({"sex": "F"}), "sex"),
        (json!({"sex": "woman"}), "sex"),
        (json!({"email": "grace"}), "email"),
        (json!({"email": "grace@example"}), "email"),
        (json!({"email": "grace@@example.test"}), "email"),
        (json!({"email": "gr ace@example.test"}), "email"),
        (json!({"email": format!("{}@example.test", long(250))}), "email"),
        (json!({"phone": "4155550123"}), "phone"),
        (json!({"phone": "+1 415 555 0123"}), "phone"),
        (json!({"phone": "+1234567"}), "phone"),
        (json!({"phone": "+1234567890123456"}), "phone"),
        (json!({"phone": "+0123456789"}), "phone"),
        (json!({"externalId": long(101)}), "externalId"),
        (json!({"address": {"line1": long(201)}}), "address.line1"),
        (json!({"address": {"line2": long(201)}}), "address.line2"),
        (json!({"address": {"city": long(201)}}), "address.city"),
        (json!({"address": {"region": long(201)}}), "address.region"),
        (json!({"address": {"postalCode": long(201)}}), "address.postalCode"),
        (json!({"address": {"country": "USA"}}), "address.country"),
        (json!({"address": {"country": "1A"}}), "address.country"),
        (json!({"address": {"planet": "Earth"}}), "address.planet"),
        (json!({"nickname": "Amazing Grace"}), "nickname"),
        (json!({"firstName": 42}), "firstName"),
    ];
    for (overrides, field) in cases {
        let mut body = json!({"firstName": "Grace", "lastName": "Hopper"});
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        let err = expect_error(app.post("/patients", &body).await, 400, "validation_error").await;
        assert_eq!(error_fields(&err), [field], "{body}: {err}");
        assert!(err["details"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A missing name, and several problems at once, all reported together.
    let err = expect_error(app.post("/patients", &json!({})).await, 400, "validation_error").await;
    assert_eq!(error_fields(&err), ["firstName", "lastName"]);
    let body = json!({"firstName": "", "lastName": "H", "email": "x", "phone": "1", "sex": "?"});
    let err = expect_error(app.post("/patients", &body).await, 400, "validation_error").await;
    assert_eq!(error_fields(&err), ["firstName", "sex", "email", "phone"]);

    let r = app.request(Method::POST, "/patients").body("{\"firstName\": ").send().await.unwrap();
    expect_error(r, 400, "invalid_json").await;

    // Boundaries that are fine.
    let ok = json!({"firstName": long(100), "lastName": "H", "dateOfBirth": "1900-01-01", "phone": "+123456789012345",
                    "address": {"line1": long(200)}});
    create_patient(&app, &ok).await;
    assert_eq!(patient_count(&app).await, 1);
    assert_eq!(events_of(&app, app.org_id).await.len(), 1);
}

#[tokio::test]
async fn a_duplicate_external_id_is_a_409_conflict_within_one_organization_only() {
    let app = TestApp::spawn().await;
    create_patient(&app, &grace()).await;
    let err = expect_error(app.post("/patients", &grace()).await, 409, "conflict").await;
    assert!(err["message"].as_str().unwrap().contains("externalId"));

    let (other_org, other_key) = app.other_org().await;
    let r = app.request_as(&other_key, Method::POST, "/patients").json(&grace()).send().await.unwrap();
    expect_json(r, 201).await;

    // PATCHing another patient onto a taken externalId is a conflict too, and changes nothing.
    let ada = create_patient(&app, &json!({"firstName": "Ada", "lastName": "Lovelace", "externalId": "EHR-2"})).await;
    let r = app.patch(&format!("/patients/{}", ada["id"]), &json!({"externalId": "EHR-1001", "firstName": "A"})).await;
    expect_error(r, 409, "conflict").await;
    assert_eq!(expect_json(app.get(&format!("/patients/{}", ada["id"])).await, 200).await, ada);
    assert_eq!(events_of(&app, app.org_id).await.len(), 2);
    assert_eq!(events_of(&app, other_org).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// PATCH

#[tokio::test]
async fn patch_changes_only_the_fields_sent_and_null_clears() {
    let app = TestApp::spawn().await;
    let created = create_patient(&app, &grace()).await;
    let path = format!("/patients/{}", created["id"]);

    let patched = expect_json(app.patch(&path, &json!({"lastName": "Murray Hopper", "email": null})).await, 200).await;
    let mut expected = created.clone();
    expected["lastName"] = json!("Murray Hopper");
    expected["email"] = Value::Null;
    expected["updatedAt"] = patched["updatedAt"].clone();
    assert_eq!(patched, expected);
    assert!(ts(&patched["updatedAt"]) > ts(&created["updatedAt"]));
    assert_eq!(patched["createdAt"], created["createdAt"]);

    // The address is merged field by field; `null` inside clears one field.
    let patched =
        expect_json(app.patch(&path, &json!({"address": {"city": "Boston", "line1": null}})).await, 200).await;
    assert_eq!(
        patched["address"],
        json!({"line1": null, "line2": null, "city": "Boston", "region": "VA", "postalCode": "22201", "country": "US"})
    );
    // `"address": null` clears all of it; other optional fields clear with null too.
    let body = json!({"address": null, "phone": null, "dateOfBirth": null, "externalId": null, "sex": "other"});
    let patched = expect_json(app.patch(&path, &body).await, 200).await;
    assert!(patched["address"].as_object().unwrap().values().all(Value::is_null));
    for k in ["phone", "dateOfBirth", "externalId"] {
        assert_eq!(patched[k], Value::Null, "{k}");
    }
    assert_eq!(patched["sex"], "other");
    assert_eq!(expect_json(app.get(&path).await, 200).await, patched);

    let events = events_of(&app, app.org_id).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["patient.created", "patient.updated", "patient.updated", "patient.updated"]);
    assert_eq!(events[3].1, patched);
}

#[tokio::test]
async fn patch_refuses_nulling_required_fields_and_invalid_values_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let created = create_patient(&app, &grace()).await;
    let path = format!("/patients/{}", created["id"]);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"firstName": null}), vec!["firstName"]),
        (json!({"lastName": null}), vec!["lastName"]),
        (json!({"lastName": " "}), vec!["lastName"]),
        (json!({"sex": null}), vec!["sex"]),
        (json!({"sex": "x"}), vec!["sex"]),
        (json!({"email": "nope", "phone": "123"}), vec!["email", "phone"]),
        (json!({"dateOfBirth": "1850-01-01"}), vec!["dateOfBirth"]),
        (json!({"address": {"country": "Germany"}}), vec!["address.country"]),
        (json!({"id": 5}), vec!["id"]),
        (json!({"createdAt": "2020-01-01T00:00:00Z"}), vec!["createdAt"]),
        // Valid fields next to an invalid one are not applied either.
        (json!({"firstName": "Amazing", "email": "bad"}), vec!["email"]),
    ];
    for (body, fields) in cases {
        let err = expect_error(app.patch(&path, &body).await, 400, "validation_error").await;
        assert_eq!(error_fields(&err), fields, "{body}");
    }
    assert_eq!(expect_json(app.get(&path).await, 200).await, created);
    assert_eq!(events_of(&app, app.org_id).await.len(), 1);
}

#[tokio::test]
async fn a_patch_that_changes_nothing_returns_200_without_event_or_new_updated_at() {
    let app = TestApp::spawn().await;
    let created = create_patient(&app, &grace()).await;
    let path = format!("/patients/{}", created["id"]);
    for body in
        [json!({}), json!({"firstName": "Grace", "email": "grace@example.test"}), json!({"firstName": " Grace "})]
    {
        let same = expect_json(app.patch(&path, &body).await, 200).await;
        assert_eq!(same, created, "{body}");
    }
    assert_eq!(events_of(&app, app.org_id).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Search and filters

struct Fixture {
    grace: i64,
    ada: i64,
    john: i64,
    bjorn: i64,
    under: i64,
    underx: i64,
    percent: i64,
    percentx: i64,
    backslash: i64,
    elodie: i64,
}

async fn search_fixture(app: &TestApp) -> Fixture {
    let id = |v: Value| async move { create_patient(app, &v).await["id"].as_i64().unwrap() };
    Fixture {
        grace: id(grace()).await,
        ada: id(json!({"firstName": "Ada", "lastName": "Lovelace", "email": "Ada@Math.test", "phone": "+442071234567",
                       "dateOfBirth": "1915-12-10", "externalId": "EHR-2"}))
        .await,
        john: id(json!({"firstName": "John", "lastName": "Smith", "email": "js@example.test"})).await,
        bjorn: id(json!({"firstName": "Bjorn", "lastName": "Berg"})).await,
        under: id(json!({"firstName": "Ann", "lastName": "Ab_cd"})).await,
        underx: id(json!({"firstName": "Ann", "lastName": "Abxcd"})).await,
        percent: id(json!({"firstName": "Ann", "lastName": "10%Off"})).await,
        percentx: id(json!({"firstName": "Ann", "lastName": "10xOff"})).await,
        backslash: id(json!({"firstName": "Ann", "lastName": "Back\\slash"})).await,
        elodie: id(json!({"firstName": "Élodie", "lastName": "Durand"})).await,
    }
}

#[tokio::test]
async fn q_searches_name_email_and_phone_case_insensitively() {
    let app = TestApp::spawn().await;
    let f = search_fixture(&app).await;
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("race", vec![f.grace]),
        ("GRACE HOPPER", vec![f.grace]),
        ("  grace   hopper ", vec![f.grace]),
        ("hopper ada", vec![]),
        ("math.TEST", vec![f.ada]),
        ("ada@math", vec![f.ada]),
        ("5550123", vec![f.grace]),
        ("+44207", vec![f.ada]),
        ("lovelace", vec![f.ada]),
        ("nobody-at-all", vec![]),
        // %, _ and \ are literal characters, not wildcards.
        ("b_c", vec![f.under]),
        ("0%o", vec![f.percent]),
        ("k\\s", vec![f.backslash]),
        ("xof", vec![f.percentx]),
        // Letters outside ASCII: the term is folded like the stored text (more in `folding`).
        ("Élodie DURAND", vec![f.elodie]),
        // One or two characters match the start of a word: a name, the email, the phone.
        ("jo", vec![f.john]),
        ("JS", vec![f.john]),
        ("gr", vec![f.grace]),
        ("+4", vec![f.ada]),
        ("b", vec![f.bjorn, f.backslash]),
        ("%", vec![]),
        ("_", vec![]),
        ("", vec![f.grace, f.ada, f.john, f.bjorn, f.under, f.underx, f.percent, f.percentx, f.backslash, f.elodie]),
    ];
    for (q, expected) in cases {
        assert_eq!(ids(&app, &[("q", q)]).await, expected, "q={q:?}");
    }
    let err = expect_error(list_patients(&app, &[("q", &"x".repeat(201))]).await, 400, "validation_error").await;
    assert_eq!(error_fields(&err), ["q"]);
}

#[tokio::test]
async fn filters_by_email_phone_date_of_birth_external_id_and_combined() {
    let app = TestApp::spawn().await;
    let f = search_fixture(&app).await;
    let cases: Vec<(Params, Vec<i64>)> = vec![
        (vec![("email", "GRACE@example.TEST")], vec![f.grace]),
        (vec![("email", "ada@math.test")], vec![f.ada]),
        (vec![("email", "grace@example")], vec![]),
        (vec![("phone", "+14155550123")], vec![f.grace]),
        (vec![("phone", "+442071234567")], vec![f.ada]),
        (vec![("phone", "+14155550124")], vec![]),
        (vec![("dateOfBirth", "1985-12-09")], vec![f.grace]),
        (vec![("dateOfBirth", "1915-12-10")], vec![f.ada]),
        (vec![("dateOfBirth", "2000-01-01")], vec![]),
        (vec![("externalId", "EHR-1001")], vec![f.grace]),
        (vec![("externalId", "ehr-1001")], vec![]),
        (vec![("q", "hopper"), ("email", "grace@example.test"), ("dateOfBirth", "1985-12-09")], vec![f.grace]),
        (vec![("q", "hopper"), ("dateOfBirth", "1915-12-10")], vec![]),
    ];
    for (params, expected) in cases {
        assert_eq!(ids(&app, &params).await, expected, "{params:?}");
    }
    // An unencoded `+` (which decodes to a space) is tolerated in the phone filter.
    let r = app.get("/patients?phone=+14155550123").await;
    let body = expect_json(r, 200).await;
    assert_eq!(body["data"][0]["id"], f.grace);

    for (k, v) in [
        ("lastName", "Hopper"),
        ("phone", "555-0123"),
        ("dateOfBirth", "1985-13-01"),
        ("dateOfBirth", "yesterday"),
        ("limit", "0"),
        ("limit", "201"),
        ("limit", "ten"),
    ] {
        let err = expect_error(list_patients(&app, &[(k, v)]).await, 400, "validation_error").await;
        assert_eq!(error_fields(&err), [k], "{k}={v}");
    }
    expect_error(list_patients(&app, &[("cursor", "garbage!")]).await, 400, "invalid_cursor").await;
    expect_error(list_patients(&app, &[("updatedSince", "last week")]).await, 400, "validation_error").await;
}

#[tokio::test]
async fn updated_since_returns_changes_at_or_after_the_instant_in_update_order() {
    let app = TestApp::spawn().await;
    let a = create_patient(&app, &json!({"firstName": "A", "lastName": "One"})).await;
    let b = create_patient(&app, &json!({"firstName": "B", "lastName": "Two"})).await;
    let c = create_patient(&app, &json!({"firstName": "C", "lastName": "Three"})).await;
    let since = b["updatedAt"].as_str().unwrap().to_string();
    assert_eq!(ids(&app, &[("updatedSince", &since)]).await, [b["id"].as_i64().unwrap(), c["id"].as_i64().unwrap()]);

    // Updating `a` moves it to the end of the (updatedAt, id) order.
    expect_json(app.patch(&format!("/patients/{}", a["id"]), &json!({"firstName": "Alpha"})).await, 200).await;
    let got = ids(&app, &[("updatedSince", &since)]).await;
    assert_eq!(got, [b["id"].as_i64().unwrap(), c["id"].as_i64().unwrap(), a["id"].as_i64().unwrap()]);
    let body = expect_json(list_patients(&app, &[("updatedSince", &since), ("limit", "200")]).await, 200).await;
    assert_eq!(body["data"][2]["firstName"], "Alpha");
    assert_eq!(body["nextCursor"], Value::Null);

    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(ids(&app, &[("updatedSince", &future)]).await.is_empty());
    // Filters combine with updatedSince.
    assert_eq!(ids(&app, &[("updatedSince", &since), ("q", "three")]).await, [c["id"].as_i64().unwrap()]);
}

// ---------------------------------------------------------------------------------------------
// Pagination

async fn seed_many_patients(app: &TestApp, n: i64) -> Vec<i64> {
    sqlx::query_scalar(
        "INSERT INTO patients (organization_id, first_name, last_name, email)
         SELECT $1, 'Page', 'Patient ' || i, 'page' || i || '@example.test' FROM generate_series(1, $2) AS i
         RETURNING id",
    )
    .bind(app.org_id)
    .bind(n)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Pages through `/patients` with `params`; returns every row seen, in order.
async fn page_through(app: &TestApp, params: &[(&str, &str)]) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        assert!(page < 100, "pagination does not end");
        let mut p = params.to_vec();
        if let Some(c) = &cursor {
            p.push(("cursor", c));
        }
        let body = expect_json(list_patients(app, &p).await, 200).await;
        seen.extend(body["data"].as_array().unwrap().iter().cloned());
        match body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    seen
}

#[tokio::test]
async fn pagination_by_id_visits_every_patient_once_in_order() {
    let app = TestApp::spawn().await;
    let all = seed_many_patients(&app, 300).await;
    let seen = page_through(&app, &[("limit", "37")]).await;
    let seen: Vec<i64> = seen.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, all);
    // Filters page the same way.
    let seen = page_through(&app, &[("limit", "37"), ("q", "patient 1")]).await;
    let expected: Vec<i64> =
        all.iter().enumerate().filter(|(i, _)| (i + 1).to_string().starts_with('1')).map(|(_, id)| *id).collect();
    assert_eq!(seen.iter().map(|p| p["id"].as_i64().unwrap()).collect::<Vec<_>>(), expected);
    // The default page is 50.
    let body = expect_json(list_patients(&app, &[]).await, 200).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn pagination_by_updated_since_skips_nothing_while_rows_change_between_pages() {
    let app = TestApp::spawn().await;
    let all = seed_many_patients(&app, 300).await;
    // Between pages, touch one row already returned and one not yet returned.
    let plan: Vec<[i64; 2]> = (0..6).map(|i| [all[i * 3], all[all.len() - 1 - i * 5]]).collect();
    let mut expected: HashMap<i64, usize> = all.iter().map(|id| (*id, 1)).collect();
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        assert!(page < 100, "pagination does not end");
        let mut params = vec![("limit", "37"), ("updatedSince", "2000-01-01T00:00:00Z")];
        if let Some(c) = &cursor {
            params.push(("cursor", c));
        }
        let body = expect_json(list_patients(&app, &params).await, 200).await;
        seen.extend(body["data"].as_array().unwrap().iter().cloned());
        let Some(next) = body["nextCursor"].as_str() else { break };
        cursor = Some(next.to_string());
        if let Some(ids) = plan.get(page) {
            for id in ids {
                // A row changed after it was returned must come again; one changed before, once.
                if seen.iter().any(|p| p["id"] == *id) {
                    expected.insert(*id, 2);
                }
            }
            sqlx::query("UPDATE patients SET last_name = last_name || '!' WHERE id = ANY($1)")
                .bind(&ids[..])
                .execute(&app.db)
                .await
                .unwrap();
        }
    }
    let keys: Vec<_> = seen.iter().map(|p| (ts(&p["updatedAt"]), p["id"].as_i64().unwrap())).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "not in (updatedAt, id) order");
    let mut count: HashMap<i64, usize> = HashMap::new();
    for (_, id) in &keys {
        *count.entry(*id).or_default() += 1;
    }
    assert_eq!(count, expected);
    assert!(expected.values().any(|n| *n == 2) && plan.iter().flatten().any(|id| expected[id] == 1));
    // The last version of every changed row carries its change.
    for id in plan.iter().flatten() {
        let last = seen.iter().rev().find(|p| p["id"] == *id).unwrap();
        assert!(last["lastName"].as_str().unwrap().ends_with('!'), "{last}");
    }
}

#[tokio::test]
async fn a_cursor_from_one_ordering_is_refused_by_the_other() {
    let app = TestApp::spawn().await;
    seed_many_patients(&app, 5).await;
    let body = expect_json(list_patients(&app, &[("limit", "2")]).await, 200).await;
    let cursor = body["nextCursor"].as_str().unwrap();
    let r = list_patients(&app, &[("limit", "2"), ("cursor", cursor), ("updatedSince", "2000-01-01T00:00:00Z")]).await;
    expect_error(r, 400, "invalid_cursor").await;
}

// ---------------------------------------------------------------------------------------------
// Permissions

#[tokio::test]
async fn each_endpoint_requires_its_permission() {
    let app = TestApp::spawn().await;
    let p = create_patient(&app, &grace()).await;
    let path = format!("/patients/{}", p["id"]);
    let read_only = app.key_with(&[Permission::ReadPatients]).await;
    let write_only = app.key_with(&[Permission::WritePatients]).await;
    let neither = app.key_with(&[Permission::ReadAppointments, Permission::WriteAppointments]).await;
    let body = json!({"firstName": "Mallory", "lastName": "M"});
    let calls: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, "/patients".into(), None, "READ_PATIENTS"),
        (Method::GET, path.clone(), None, "READ_PATIENTS"),
        (Method::POST, "/patients".into(), Some(body.clone()), "WRITE_PATIENTS"),
        (Method::PATCH, path.clone(), Some(body.clone()), "WRITE_PATIENTS"),
    ];
    for (method, path, body, permission) in calls {
        for key in [&read_only, &write_only, &neither] {
            let mut req = app.request_as(key, method.clone(), &path);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let r = req.send().await.unwrap();
            let allowed = (key == &read_only && permission == "READ_PATIENTS")
                || (key == &write_only && permission == "WRITE_PATIENTS");
            if allowed {
                assert!(r.status().is_success(), "{method} {path}: {}", r.status());
            } else {
                let err = expect_error(r, 403, "insufficient_permission").await;
                assert!(err["message"].as_str().unwrap().contains(permission), "{err}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Idempotency under concurrency

#[tokio::test]
async fn fifty_concurrent_creates_with_one_idempotency_key_make_one_patient() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let key = format!("create-grace-{round}-{}", Uuid::new_v4());
        let body =
            json!({"firstName": "Grace", "lastName": format!("Hopper {round}"), "externalId": format!("R{round}")});
        let requests =
            (0..50).map(|_| app.request(Method::POST, "/patients").header("Idempotency-Key", &key).json(&body).send());
        let responses = join_all(requests).await;
        let mut originals = Vec::new();
        let mut replays = Vec::new();
        let mut in_use = 0;
        for r in responses {
            let r = r.unwrap();
            let status = r.status().as_u16();
            let replayed = r.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_string());
            let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
            let json: Value = r.json().await.unwrap();
            match status {
                201 if replayed.as_deref() == Some("true") => replays.push((json, location)),
                201 => originals.push((json, location)),
                409 => {
                    assert_eq!(json["error"], "idempotency_key_in_use", "{json}");
                    in_use += 1;
                }
                other => panic!("unexpected {other}: {json}"),
            }
        }
        assert_eq!(originals.len(), 1, "round {round}: exactly one request ran");
        let (original, location) = &originals[0];
        assert_eq!(location.as_deref(), Some(format!("/api/v1/patients/{}", original["id"]).as_str()));
        for (json, loc) in &replays {
            assert_eq!(json, original);
            assert_eq!(loc, location);
        }
        assert_eq!(1 + replays.len() + in_use, 50);
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM patients WHERE organization_id = $1 AND last_name = $2")
            .bind(app.org_id)
            .bind(format!("Hopper {round}"))
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(n, 1, "round {round}");

        // A later retry replays the same response.
        let r =
            app.request(Method::POST, "/patients").header("Idempotency-Key", &key).json(&body).send().await.unwrap();
        assert_eq!(r.headers()["idempotent-replayed"], "true");
        assert_eq!(&expect_json(r, 201).await, original);
    }
    let created = events_of(&app, app.org_id).await;
    assert_eq!(created.len(), 5);
}

#[tokio::test]
async fn search_pages_are_right_for_common_and_rare_terms_in_a_large_table() {
    let app = TestApp::spawn().await;
    // 6,000 patients: every third is a "Commonname"; one "Rarename" sits past the first 5,000;
    // of the rest, every 40th is a "Midname".
    sqlx::query(
        "INSERT INTO patients (organization_id, first_name, last_name)
         SELECT $1, 'P' || g, CASE WHEN g % 3 = 0 THEN 'Commonname' WHEN g = 5900 THEN 'Rarename'
                                   WHEN g % 40 = 1 THEN 'Midname' ELSE 'Other' END
         FROM generate_series(1, 6000) AS g",
    )
    .bind(app.org_id)
    .execute(&app.db)
    .await
    .unwrap();
    let named = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT id FROM patients WHERE organization_id = $1 AND last_name = $2 ORDER BY id",
        )
        .bind(app.org_id)
        .bind(name)
        .fetch_all(&app.db)
    };
    let pages = |q: &'static str, limit| crate::clinic::all_pages(&app, &app.key, q, limit);
    assert_eq!(crate::clinic::ids(&pages("/patients?q=commonname", 200).await), named("Commonname").await.unwrap());
    // One in 40: dense enough to walk on past the first rows (step 2), paged by 50.
    let midnames = named("Midname").await.unwrap();
    assert!(midnames.len() > 60, "{}", midnames.len());
    assert_eq!(crate::clinic::ids(&pages("/patients?q=midname", 50).await), midnames);
    // Two letters match the start of a word, through the same steps.
    assert_eq!(crate::clinic::ids(&pages("/patients?q=mi", 50).await), midnames);
    let body = expect_json(app.get("/patients?q=rarename").await, 200).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["lastName"], "Rarename");
    // Another filter with a common term: the walk applies it too, then the index finds the one.
    let last_common = *named("Commonname").await.unwrap().last().unwrap();
    sqlx::query("UPDATE patients SET email = 'last.common@example.com' WHERE id = $1")
        .bind(last_common)
        .execute(&app.db)
        .await
        .unwrap();
    let body = expect_json(app.get("/patients?q=commonname&email=Last.Common@example.com").await, 200).await;
    assert_eq!(crate::clinic::ids(body["data"].as_array().unwrap()), vec![last_common]);
}
