//! The OpenAPI document: generated from the code, committed, served, and complete.

use serde_json::Value;

use crate::helpers::*;

mod fuzz;

/// Every operation of the contract (API.md), as (method, path).
pub const CONTRACT: &[(&str, &str)] = &[
    ("get", "/api/v1/health"),
    ("get", "/api/v1/patients"),
    ("post", "/api/v1/patients"),
    ("get", "/api/v1/patients/{id}"),
    ("patch", "/api/v1/patients/{id}"),
    ("get", "/api/v1/locations"),
    ("get", "/api/v1/locations/{id}"),
    ("get", "/api/v1/providers"),
    ("get", "/api/v1/providers/{id}"),
    ("get", "/api/v1/providers/{id}/schedule"),
    ("get", "/api/v1/providers/{id}/availability"),
    ("get", "/api/v1/appointments"),
    ("post", "/api/v1/appointments"),
    ("get", "/api/v1/appointments/{id}"),
    ("post", "/api/v1/appointments/{id}/confirm"),
    ("post", "/api/v1/appointments/{id}/cancel"),
    ("post", "/api/v1/appointments/{id}/reschedule"),
    ("post", "/api/v1/appointments/{id}/no-show"),
    ("post", "/api/v1/appointments/{id}/consultation"),
    ("get", "/api/v1/consultations"),
    ("get", "/api/v1/consultations/{id}"),
    ("post", "/api/v1/consultations/{id}/end"),
    ("get", "/api/v1/consultations/{id}/soap-notes"),
    ("post", "/api/v1/consultations/{id}/soap-notes"),
    ("get", "/api/v1/consultations/{id}/soap-notes/{noteId}"),
    ("patch", "/api/v1/consultations/{id}/soap-notes/{noteId}"),
    ("post", "/api/v1/consultations/{id}/soap-notes/{noteId}/sign"),
    ("post", "/api/v1/consultations/{id}/soap-notes/{noteId}/amendments"),
    ("post", "/api/v1/consultations/{id}/prescriptions"),
    ("get", "/api/v1/prescriptions"),
    ("get", "/api/v1/prescriptions/{id}"),
    ("get", "/api/v1/intake-forms"),
    ("post", "/api/v1/intake-forms"),
    ("get", "/api/v1/intake-forms/{id}"),
    ("post", "/api/v1/intake-forms/{id}/start"),
    ("post", "/api/v1/intake-forms/{id}/complete"),
    ("get", "/api/v1/webhooks"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{id}"),
    ("patch", "/api/v1/webhooks/{id}"),
    ("delete", "/api/v1/webhooks/{id}"),
    ("post", "/api/v1/webhooks/{id}/rotate-secret"),
    ("post", "/api/v1/webhooks/{id}/test"),
    ("get", "/api/v1/webhooks/{id}/deliveries"),
    ("get", "/api/v1/webhooks/{id}/deliveries/{deliveryId}"),
    ("post", "/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver"),
    ("post", "/api/v1/webhooks/{id}/recover"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/events/{id}"),
    ("get", "/api/v1/audit-events"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/docs"),
];

#[test]
fn the_committed_document_matches_the_code() {
    let generated = klinivo::cli::openapi_json();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap_or_default();
    assert!(committed == generated, "openapi.json is out of date: run `cargo run -- openapi` and commit the result");
}

#[tokio::test]
async fn the_served_document_is_the_generated_one_and_needs_no_key() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let served: Value = r.json().await.unwrap();
    assert_eq!(served, klinivo::api::openapi_document());
    assert_eq!(served["openapi"], "3.1.0");
}

#[test]
fn every_contract_operation_is_documented_with_its_permission() {
    let doc = klinivo::api::openapi_document();
    let mut missing = Vec::new();
    for (method, path) in CONTRACT {
        let op = &doc["paths"][path][method];
        if op.is_null() {
            missing.push(format!("{method} {path}"));
            continue;
        }
        if path.starts_with("/api/v1/") && *path != "/api/v1/openapi.json" {
            assert!(op.get("x-permission").is_some(), "{method} {path} has no x-permission");
            assert!(op["security"].as_array().is_some_and(|s| !s.is_empty()), "{method} {path} has no security");
        }
    }
    assert!(missing.is_empty(), "undocumented operations: {missing:?}");
    for event in klinivo::events::EventType::ALL {
        assert!(doc["webhooks"][event.as_str()].is_object(), "webhook {} undocumented", event.as_str());
    }
}

#[tokio::test]
async fn the_docs_page_is_served_without_a_cdn() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("/api/v1/openapi.json"));
    for external in ["http://", "https://", "//cdn", "unpkg", "jsdelivr"] {
        assert!(!html.contains(external), "the docs page references {external}");
    }
}

#[test]
fn operations_are_tagged_in_order_named_alike_and_linked() {
    let doc = klinivo::api::openapi_document();
    let tags: Vec<&str> = doc["tags"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let tag = op["tags"][0].as_str().unwrap_or("");
            assert!(tags.contains(&tag), "{method} {path}: tag {tag:?} is not in the document's tags");
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(!id.contains('_') && ids.insert(id.to_string()), "{method} {path}: operationId {id}");
        }
    }
    // A created resource links to what can be done with it, so clients (and the fuzzer's
    // stateful phase) can follow it.
    let links = &doc["paths"]["/api/v1/appointments"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["confirmAppointment"]["parameters"]["id"], "$response.body#/id");
    let links = &doc["paths"]["/api/v1/consultations/{id}/soap-notes"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["getSoapNote"]["parameters"]["id"], "$response.body#/consultationId");
    let links = &doc["paths"]["/api/v1/providers"]["get"]["responses"]["200"]["links"];
    assert_eq!(links["getAvailability"]["parameters"]["id"], "$response.body#/data/0/id");
    // An optional body may be left out, but is never `null`.
    let cancel =
        &doc["paths"]["/api/v1/appointments/{id}/cancel"]["post"]["requestBody"]["content"]["application/json"];
    assert_eq!(cancel["schema"]["$ref"], "#/components/schemas/CancelRequest");
}
