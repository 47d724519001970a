//! Every route of the router, by every method it answers, against one seeded clinic: each
//! response that shows a clinical record (a sentinel string, or a record's JSON) has audit
//! entries with its request's `X-Request-Id` naming each record shown; a `HEAD` has the same
//! entries as its `GET`. No list of audited routes: a new route is checked as soon as the
//! router serves it, and one whose parameters the seed cannot fill fails the test.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::routes::{fill, methods_of, required_query, router_templates, Route};
use super::rows_of;
use super::seed::{seed, Call, Caller, Records, SENTINELS};
use crate::helpers::*;
use crate::webhooks::receiver::Receiver;

/// The records a body shows: each object whose `id` is a seeded record's and whose fields are
/// that kind of record's, and the owner of every sentinel in it.
fn shown(body: &str, records: &Records) -> BTreeSet<(String, i64)> {
    let mut found = BTreeSet::new();
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        walk(&value, records, &mut found);
    }
    for (sentinel, owner) in SENTINELS {
        if body.contains(sentinel) {
            // Each sentinel is unique to its type; a body holding it holds one of its records.
            let ids = &records[owner];
            assert!(
                ids.iter().any(|id| found.contains(&(owner.to_string(), *id))),
                "a body shows {sentinel:?} without a {owner} record around it: {body}"
            );
        }
    }
    found
}

fn walk(value: &Value, records: &Records, found: &mut BTreeSet<(String, i64)>) {
    match value {
        Value::Object(map) => {
            let has = |keys: &[&str]| keys.iter().all(|k| map.contains_key(*k));
            let kind = if has(&["firstName", "dateOfBirth"]) {
                Some("patient")
            } else if has(&["startsAt", "patientId", "providerId", "cancellationReason"]) {
                Some("appointment")
            } else if has(&["appointmentId", "patientId", "startedAt"]) && !map.contains_key("formType") {
                Some("consultation")
            } else if has(&["consultationId", "authorProviderId"]) {
                Some("soap_note")
            } else if has(&["medicationName"]) {
                Some("prescription")
            } else if has(&["formType", "patientId"]) {
                Some("intake_form")
            } else if has(&["expiresAt", "startsAt", "providerId"]) {
                Some("appointment_hold")
            } else {
                None
            };
            if let (Some(kind), Some(id)) = (kind, map.get("id").and_then(Value::as_i64)) {
                if records[kind].contains(&id) {
                    found.insert((kind.to_string(), id));
                }
            }
            map.values().for_each(|v| walk(v, records, found));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, records, found)),
        _ => {}
    }
}

/// What is wrong with the audit entries of one call, if anything.
async fn problems(app: &TestApp, call: &Call, expected: &BTreeSet<(String, i64)>) -> Vec<String> {
    let rows = rows_of(app, &call.request_id).await;
    let named: BTreeSet<(String, i64)> = rows
        .iter()
        .flat_map(|(_, t, id, ids, _)| id.iter().chain(ids.iter().flatten()).map(move |i| (t.clone(), *i)))
        .collect();
    let what = format!("{} {} ({})", call.method, call.path, call.request_id);
    let mut out: Vec<String> =
        expected.difference(&named).map(|(t, id)| format!("{what}: showed {t} {id}, not audited")).collect();
    let reading = matches!(call.method, Method::GET | Method::HEAD);
    for (action, t, id, ids, status) in &rows {
        if *status as u16 != call.status {
            out.push(format!("{what}: entry {action} {t} with status {status}, response {}", call.status));
        }
        let fitting = if reading { ["read", "list"].contains(&action.as_str()) } else { action != "denied" };
        if !fitting {
            out.push(format!("{what}: entry {action} {t} {id:?} {ids:?}"));
        }
    }
    if !reading
        && !expected.is_empty()
        && !rows.iter().any(|r| ["create", "update", "transition"].contains(&r.0.as_str()))
    {
        out.push(format!("{what}: a write that showed records has no create/update/transition entry: {rows:?}"));
    }
    out
}

#[tokio::test]
async fn every_route_that_shows_a_record_audits_it_by_request_id() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let mut caller = Caller { app: &app, calls: Vec::new() };
    let (records, values) = seed(&mut caller, &receiver).await;

    // The routes, from the router itself; the served OpenAPI document covers every one.
    let doc = expect_json(app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap(), 200).await;
    let mut routes = Vec::new();
    for template in router_templates(&app) {
        let path = fill(&template, &values).remove(0);
        let methods = methods_of(&app, &path).await;
        for method in &methods {
            let documented = doc["paths"][&template][method.as_str().to_lowercase()].is_object();
            assert!(
                documented || *method == Method::HEAD,
                "{method} {template} is served but not in the OpenAPI document"
            );
        }
        routes.push(Route { template, methods });
    }
    let served: BTreeSet<&str> = routes.iter().map(|r| r.template.as_str()).collect();
    for documented in doc["paths"].as_object().unwrap().keys() {
        assert!(served.contains(documented.as_str()), "{documented} is documented but not served");
    }

    // Every write route was exercised by the seed (and its calls are checked below).
    let written: BTreeSet<(String, String)> =
        caller.calls.iter().map(|c| (c.method.to_string(), c.template.clone())).collect();
    for route in &routes {
        for method in route.methods.iter().filter(|m| !matches!(**m, Method::GET | Method::HEAD)) {
            assert!(
                written.contains(&(method.to_string(), route.template.clone())),
                "{method} {} is not exercised: add it to the seed",
                route.template
            );
        }
    }

    // Every read route, with every seeded id in its path: GET, then HEAD of the same URL.
    let mut pairs = Vec::new();
    for route in routes.iter().filter(|r| r.methods.contains(&Method::GET)) {
        let query = required_query(&doc, &route.template, &Method::GET);
        let mut paths: Vec<String> = fill(&route.template, &values).into_iter().map(|p| p + &query).collect();
        if route.template == "/api/v1/patients" {
            paths.push("/api/v1/patients?email=quillonia.vexmarrow%40sentinel.test".into());
        }
        for path in paths {
            let get = caller.send(Method::GET, &route.template, &path, None).await;
            assert!((200..300).contains(&get.status), "GET {path}: {} {}", get.status, get.body);
            assert!(route.methods.contains(&Method::HEAD), "{}: GET without HEAD", route.template);
            let head = caller.send(Method::HEAD, &route.template, &path, None).await;
            assert_eq!(head.status, get.status, "HEAD {path}");
            if !shown(&get.body, &records).is_empty() {
                // The length of the body it does not send: what a HEAD discloses.
                assert_eq!(head.content_length, get.content_length, "HEAD {path}");
            }
            pairs.push((get, head));
        }
    }

    // Every call that showed a record: its entries, once the batched writer has written them.
    let mut expected: Vec<(Call, BTreeSet<(String, i64)>)> = Vec::new();
    for call in &caller.calls {
        let shows = match call.method {
            // A HEAD shows what its GET's body shows, through its Content-Length.
            Method::HEAD => {
                let (get, _) = pairs.iter().find(|(_, h)| h.request_id == call.request_id).unwrap();
                shown(&get.body, &records)
            }
            _ => shown(&call.body, &records),
        };
        if !shows.is_empty() {
            expected.push((call.clone(), shows));
        }
    }
    let reads = expected.iter().filter(|(c, _)| c.method == Method::GET).count();
    assert!(reads > 20, "only {reads} reads showed records: the sweep does not reach them");
    let all_audited = || async {
        for (call, shows) in &expected {
            if !problems(&app, call, shows).await.is_empty() {
                return false;
            }
        }
        true
    };
    if !eventually(Duration::from_secs(10), all_audited).await {
        let mut report = Vec::new();
        for (call, shows) in &expected {
            report.extend(problems(&app, call, shows).await);
        }
        panic!("unaudited disclosures:\n{}", report.join("\n"));
    }
    for (get, head) in &pairs {
        assert_eq!(rows_of(&app, &get.request_id).await, rows_of(&app, &head.request_id).await, "HEAD {}", head.path);
    }

    // The filter finds a record wherever it was shown: a note inside its consultation, a patient
    // in the event log.
    let of = |t: &str| records[t][0];
    let consultation_read = pairs.iter().find(|(g, _)| g.template == "/api/v1/consultations/{id}").unwrap();
    let events_list = pairs.iter().find(|(g, _)| g.template == "/api/v1/events").unwrap();
    for (query, request, route) in [
        (
            format!("resourceType=soap_note&resourceId={}", of("soap_note")),
            &consultation_read.0,
            "GET /api/v1/consultations/{id}",
        ),
        (
            format!("resourceType=soap_note&resourceId={}", of("soap_note")),
            &consultation_read.1,
            "HEAD /api/v1/consultations/{id}",
        ),
        (
            format!("resourceType=prescription&resourceId={}", of("prescription")),
            &consultation_read.0,
            "GET /api/v1/consultations/{id}",
        ),
        (format!("resourceType=patient&resourceId={}", of("patient")), &events_list.0, "GET /api/v1/events"),
        (format!("resourceId={}", of("soap_note")), &events_list.1, "HEAD /api/v1/events"),
    ] {
        let page = expect_json(app.get(&format!("/audit-events?{query}&limit=200")).await, 200).await;
        let hit = page["data"].as_array().unwrap().iter().find(|e| e["requestId"] == request.request_id.as_str());
        let hit = hit.unwrap_or_else(|| panic!("?{query} does not find {route} ({})", request.request_id));
        assert_eq!(hit["route"], route);
    }
}
