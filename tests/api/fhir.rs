//! The FHIR R4 facade as a FHIR client sees it: the CapabilityStatement first, then reads and
//! searches as it advertises, errors as OperationOutcome, tenancy, permissions, the audit log,
//! and Bulk Data export end to end. The resources' conformance is checked by independent
//! validators in CI (`fhir-check/`).

mod export;
mod search;

use reqwest::{Method, Response};
use serde_json::Value;

use crate::helpers::*;

pub async fn fhir(app: &TestApp, key: &str, path: &str) -> Response {
    app.client.get(app.url(&format!("/fhir/R4{path}"))).header("X-API-Key", key).send().await.unwrap()
}

/// A FHIR JSON body, its status and content type checked.
pub async fn fhir_json(response: Response, status: u16) -> Value {
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or(""),
        "application/fhir+json; fhirVersion=4.0; charset=utf-8"
    );
    expect_json(response, status).await
}

/// The resources of a searchset Bundle, following `next` links to the end.
pub async fn search_all(app: &TestApp, key: &str, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = app.url(&format!("/fhir/R4{path}"));
    loop {
        let bundle = fhir_json(app.client.get(&url).header("X-API-Key", key).send().await.unwrap(), 200).await;
        assert_eq!(bundle["type"], "searchset");
        // An empty page has no `entry` (FHIR JSON has no empty arrays).
        assert_ne!(bundle.get("entry"), Some(&Value::Array(vec![])));
        for e in bundle["entry"].as_array().into_iter().flatten() {
            if e["search"]["mode"] == "match" {
                out.push(e["resource"].clone());
            }
        }
        let next = bundle["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_string());
        match next {
            // Links are absolute, made from the public origin: follow them on the test server.
            Some(next) => url = app.url(&next[next.find("/fhir/R4").unwrap()..]),
            None => return out,
        }
    }
}

/// An app with the demo clinic in its organization.
pub async fn demo_app() -> TestApp {
    let app = TestApp::spawn().await;
    klinivo::clinic::demo::seed(&app.db, app.org_id).await.unwrap();
    app
}

#[tokio::test]
async fn the_capability_statement_says_what_is_served_and_needs_no_key() {
    let app = TestApp::spawn().await;
    let cs = fhir_json(app.client.get(app.url("/fhir/R4/metadata")).send().await.unwrap(), 200).await;
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    assert_eq!(cs["kind"], "instance");
    let types: Vec<&str> =
        cs["rest"][0]["resource"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "Patient",
            "Practitioner",
            "PractitionerRole",
            "Location",
            "Organization",
            "Appointment",
            "Schedule",
            "Slot",
            "Encounter",
            "DocumentReference",
            "MedicationRequest",
            "QuestionnaireResponse"
        ]
    );
    assert_eq!(cs["rest"][0]["operation"][0]["name"], "export");
    // Everything it lists answers: a search of each type with the demo's full key.
    let demo = demo_app().await;
    for t in types.iter().filter(|t| **t != "Slot") {
        let bundle = fhir_json(fhir(&demo, &demo.key, &format!("/{t}?_count=1")).await, 200).await;
        assert_eq!(bundle["entry"][0]["resource"]["resourceType"], *t, "{t}");
    }
    // Anything else under the base is an OperationOutcome.
    let outcome = fhir_json(fhir(&app, &app.key, "/Medication").await, 404).await;
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "not-found");
}

#[tokio::test]
async fn errors_are_operation_outcomes_with_the_right_status() {
    let app = TestApp::spawn().await;
    let patient = seed_patient(&app.db, app.org_id).await;
    let no_key =
        fhir_json(app.client.get(app.url(&format!("/fhir/R4/Patient/{patient}"))).send().await.unwrap(), 401).await;
    assert_eq!(no_key["issue"][0]["code"], "login");
    let providers_only = app.key_with(&[klinivo::auth::Permission::ReadProviders]).await;
    let denied = fhir_json(fhir(&app, &providers_only, &format!("/Patient/{patient}")).await, 403).await;
    assert_eq!(denied["issue"][0]["code"], "forbidden");
    assert!(denied["issue"][0]["diagnostics"].as_str().unwrap().contains("READ_PATIENTS"));
    let missing = fhir_json(fhir(&app, &app.key, "/Patient/999999").await, 404).await;
    assert_eq!(missing["issue"][0]["code"], "not-found");
    fhir_json(fhir(&app, &app.key, "/Patient/abc").await, 404).await;
    let bad = fhir_json(fhir(&app, &app.key, "/Patient?_count=201").await, 400).await;
    assert_eq!(bad["issue"][0]["expression"][0], "_count");
    let post = app
        .client
        .request(Method::POST, app.url("/fhir/R4/Patient"))
        .header("X-API-Key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);

    // Another organization's records do not exist here.
    let (_, other_key) = app.other_org().await;
    fhir_json(fhir(&app, &other_key, &format!("/Patient/{patient}")).await, 404).await;
    assert!(search_all(&app, &other_key, "/Patient").await.is_empty());
}

#[tokio::test]
async fn json_is_served_as_asked_and_xml_is_not() {
    let app = TestApp::spawn().await;
    let get = |accept: &'static str| app.client.get(app.url("/fhir/R4/metadata")).header("Accept", accept).send();
    let r = get("application/json").await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    let r = get("application/fhir+json").await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/fhir+json; fhirVersion=4.0; charset=utf-8");
    let r = get("application/fhir+xml").await.unwrap();
    assert_eq!(r.status(), 406);
    let missing =
        app.client.get(app.url("/fhir/R4/Patient/1")).header("Accept", "application/json").send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["content-type"], "application/json; charset=utf-8");
    assert_eq!(missing.json::<Value>().await.unwrap()["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn what_is_not_supported_is_refused_not_widened() {
    let app = demo_app().await;
    for query in
        ["/Patient?family:exact=Garcia", "/Patient?_id=1,2", "/Appointment?patient=1,2", "/Patient?family=garc,smith"]
    {
        let outcome = fhir_json(fhir(&app, &app.key, query).await, 400).await;
        assert_eq!(outcome["issue"][0]["code"], "invalid", "{query}");
    }
    for path in ["/Patient/01", "/Patient/+1", "/Practitioner/001", "/Schedule/1-01", "/Slot/1-1-1796653800--30"] {
        fhir_json(fhir(&app, &app.key, path).await, 404).await;
    }
    let r = fhir(&app, &app.key, "/Patient/1?_format=xml").await;
    assert_eq!(r.status(), 406);
    for (method, path) in [
        (Method::POST, "/fhir/R4/Patient"),
        (Method::DELETE, "/fhir/R4/Patient/1"),
        (Method::POST, "/fhir/R4/metadata"),
    ] {
        let r = app.client.request(method, app.url(path)).header("X-API-Key", &app.key).send().await.unwrap();
        assert_eq!(fhir_json(r, 405).await["resourceType"], "OperationOutcome", "{path}");
    }
    for path in ["/fhir/R4", "/fhir/R4/"] {
        let r = app.client.get(app.url(path)).header("X-API-Key", &app.key).send().await.unwrap();
        assert_eq!(fhir_json(r, 404).await["resourceType"], "OperationOutcome", "{path}");
    }
    // A bare identifier matches the value in either system.
    let first: i64 = sqlx::query_scalar("SELECT min(id) FROM patients WHERE organization_id = $1")
        .bind(app.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let found = search_all(&app, &app.key, &format!("/Patient?identifier={first}")).await;
    assert!(found.iter().any(|p| p["id"] == first.to_string()));
}
