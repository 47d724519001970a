//! Tenancy, once for every endpoint: organization B owns the resources, organization A's key
//! asks for them by id and gets `404 not_found` (lists: an empty page), and nothing changes in
//! the database.
//!
//! To cover a new endpoint, add a row to `ENDPOINTS`. Paths and bodies name B's resources with
//! placeholders (`{patient}`, `{appointment}`, …); a new kind of resource gets created in
//! `seed_org_b` and added to `Ids::placeholders`.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;
use Expect::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// `404 not_found`, from the resource (not from a missing route).
    NotFound,
    /// `200` with `"data": []`: B's records never show up in A's lists. A control call with B's
    /// key must return them, so the filter really points at B's data.
    EmptyList,
    /// `400 validation_error` naming these fields — for a body that refers to B's resources,
    /// which is answered exactly as if they did not exist.
    Invalid(&'static [&'static str]),
}

struct Endpoint {
    method: &'static str,
    /// Under `/api/v1`, with placeholders.
    path: &'static str,
    /// A valid JSON body (with placeholders), so that only the ids can make it fail.
    body: Option<&'static str>,
    expect: Expect,
}

const fn row(method: &'static str, path: &'static str, body: Option<&'static str>, expect: Expect) -> Endpoint {
    Endpoint { method, path, body, expect }
}

const RESCHEDULE: &str = r#"{"startsAt": "2030-06-03T10:00:00Z", "durationMinutes": 30}"#;
const BOOKING: &str = r#"{"patientId": {patient}, "providerId": {provider}, "locationId": {location},
                           "startsAt": "2030-06-03T10:00:00Z", "durationMinutes": 30}"#;

const ENDPOINTS: &[Endpoint] = &[
    // Patients
    row("GET", "/patients/{patient}", None, NotFound),
    row("PATCH", "/patients/{patient}", Some(r#"{"firstName": "Mallory"}"#), NotFound),
    row("GET", "/patients?externalId=B-TENANT-1", None, EmptyList),
    row("GET", "/patients?q=tenancy", None, EmptyList),
    row("GET", "/patients?email=tenant@b.example", None, EmptyList),
    // Appointments
    row("GET", "/appointments/{appointment}", None, NotFound),
    row("GET", "/appointments?patientId={patient}", None, EmptyList),
    row("GET", "/appointments?providerId={provider}", None, EmptyList),
    row("GET", "/appointments?locationId={location}", None, EmptyList),
    row("POST", "/appointments", Some(BOOKING), Invalid(&["patientId", "providerId", "locationId"])),
    row("POST", "/appointments/{appointment}/confirm", Some("{}"), NotFound),
    row("POST", "/appointments/{appointment}/cancel", Some(r#"{"reason": "not yours"}"#), NotFound),
    row("POST", "/appointments/{appointment}/reschedule", Some(RESCHEDULE), NotFound),
    row("POST", "/appointments/{appointment}/no-show", Some("{}"), NotFound),
    // Locations, providers, schedules, availability
    row("GET", "/locations/{location}", None, NotFound),
    row("GET", "/locations", None, EmptyList),
    row("GET", "/providers/{provider}", None, NotFound),
    row("GET", "/providers", None, EmptyList),
    row("GET", "/providers?locationId={location}", None, EmptyList),
    row("GET", "/providers/{provider}/schedule", None, NotFound),
    row("GET", "/providers/{provider}/availability?from=2030-06-03&to=2030-06-07&durationMinutes=30", None, NotFound),
    // Consultations, SOAP notes, prescriptions
    row("POST", "/appointments/{appointment}/consultation", None, NotFound),
    row("GET", "/consultations/{consultation}", None, NotFound),
    row("GET", "/consultations?patientId={patient}", None, EmptyList),
    row("GET", "/consultations?appointmentId={consulted_appointment}", None, EmptyList),
    row("POST", "/consultations/{consultation}/end", None, NotFound),
    row("GET", "/consultations/{consultation}/soap-notes", None, NotFound),
    row("GET", "/consultations/{consultation}/soap-notes/{soap_note}", None, NotFound),
    row("POST", "/consultations/{consultation}/soap-notes", Some(r#"{"subjective": "not yours"}"#), NotFound),
    row(
        "POST",
        "/consultations/{consultation}/prescriptions",
        Some(r#"{"medicationName": "Amoxicillin", "dosage": "500 mg", "frequency": "3x daily"}"#),
        NotFound,
    ),
    row("GET", "/prescriptions/{prescription}", None, NotFound),
    row("GET", "/prescriptions?patientId={patient}", None, EmptyList),
    row("GET", "/prescriptions?consultationId={consultation}", None, EmptyList),
    // Intake forms
    row("GET", "/intake-forms/{intake_form}", None, NotFound),
    row("GET", "/intake-forms?patientId={patient}", None, EmptyList),
    row("POST", "/intake-forms/{intake_form}/start", None, NotFound),
    row("POST", "/intake-forms/{intake_form}/complete", Some(r#"{"answers": {"q": "a"}}"#), NotFound),
    row("POST", "/intake-forms", Some(r#"{"patientId": {patient}, "formType": "history"}"#), Invalid(&["patientId"])),
    // Webhooks, deliveries, events
    row("GET", "/webhooks", None, EmptyList),
    row("GET", "/webhooks/{webhook}", None, NotFound),
    row("PATCH", "/webhooks/{webhook}", Some(r#"{"description": "mine now"}"#), NotFound),
    row("DELETE", "/webhooks/{webhook}", None, NotFound),
    row("POST", "/webhooks/{webhook}/rotate-secret", None, NotFound),
    row("POST", "/webhooks/{webhook}/test", None, NotFound),
    row("GET", "/webhooks/{webhook}/deliveries", None, NotFound),
    row("GET", "/webhooks/{webhook}/deliveries/{delivery}", None, NotFound),
    row("POST", "/webhooks/{webhook}/deliveries/{delivery}/redeliver", None, NotFound),
    row("POST", "/webhooks/{webhook}/recover", Some(r#"{"since": "{since}"}"#), NotFound),
    row("GET", "/events", None, EmptyList),
    row("GET", "/events/{event}", None, NotFound),
];

/// Organization B's resources, by placeholder.
struct Ids(Vec<(&'static str, String)>);

impl Ids {
    fn get(&self, placeholder: &str) -> &str {
        &self.0.iter().find(|(p, _)| *p == placeholder).expect("known placeholder").1
    }

    fn fill(&self, template: &str) -> String {
        let mut s = template.to_string();
        for (placeholder, value) in &self.0 {
            s = s.replace(placeholder, value);
        }
        let unfilled = s.split('{').skip(1).any(|rest| {
            rest.split_once('}')
                .is_some_and(|(name, _)| !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        });
        assert!(!unfilled, "unfilled placeholder in {s}");
        s
    }
}

async fn seed_org_b(app: &TestApp, org: Uuid, key: &str) -> Ids {
    let clinic = seed_clinic(&app.db, org).await;
    let post = |path: &str, body: Value| app.request_as(key, Method::POST, path).json(&body).send();
    let id =
        |v: &Value| v["id"].as_i64().map(|i| i.to_string()).or_else(|| v["id"].as_str().map(str::to_string)).unwrap();

    let patient = json!({"firstName": "Tenancy", "lastName": "Test", "externalId": "B-TENANT-1",
                         "email": "tenant@b.example"});
    let patient = id(&expect_json(post("/patients", patient).await.unwrap(), 201).await);
    let patient_id: i64 = patient.parse().unwrap();
    let starts = "2030-06-03T14:00:00Z".parse().unwrap();
    let appointment = seed_appointment(&app.db, org, &clinic, patient_id, starts, 30, "scheduled").await;
    let later = "2030-06-04T14:00:00Z".parse().unwrap();
    let consulted = seed_appointment(&app.db, org, &clinic, patient_id, later, 30, "confirmed").await;
    let consultation =
        id(&expect_json(post(&format!("/appointments/{consulted}/consultation"), json!({})).await.unwrap(), 201).await);
    let note = post(&format!("/consultations/{consultation}/soap-notes"), json!({"subjective": "B's note"}));
    let soap_note = id(&expect_json(note.await.unwrap(), 201).await);
    let rx = json!({"medicationName": "Ibuprofen", "dosage": "200 mg", "frequency": "2x daily"});
    let prescription =
        id(&expect_json(post(&format!("/consultations/{consultation}/prescriptions"), rx).await.unwrap(), 201).await);
    let intake = json!({"patientId": patient_id, "formType": "history"});
    let intake_form = id(&expect_json(post("/intake-forms", intake).await.unwrap(), 201).await);
    // A disabled subscription with one delivery: the dispatcher leaves it alone, so the
    // database stays still between snapshots.
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["patient.created"], "enabled": false});
    let webhook = id(&expect_json(post("/webhooks", hook).await.unwrap(), 201).await);
    let event: uuid::Uuid = sqlx::query_scalar("SELECT id FROM events WHERE organization_id = $1 LIMIT 1")
        .bind(org)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let delivery: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (organization_id, webhook_id, event_id) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(org)
    .bind(webhook.parse::<i64>().unwrap())
    .bind(event)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let since = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ids(vec![
        ("{patient}", patient),
        ("{provider}", clinic.provider_id.to_string()),
        ("{location}", clinic.location_id.to_string()),
        ("{appointment}", appointment.to_string()),
        ("{consulted_appointment}", consulted.to_string()),
        ("{consultation}", consultation),
        ("{soap_note}", soap_note),
        ("{prescription}", prescription),
        ("{intake_form}", intake_form),
        ("{webhook}", webhook),
        ("{delivery}", delivery.to_string()),
        ("{event}", format!("evt_{event}")),
        ("{since}", since),
    ])
}

/// Every table holding organization data, as text: what "nothing changed" compares.
/// Key bookkeeping (last use, rate-limit counters, the audit log and its monthly partitions)
/// is left out: a refused request legitimately touches it.
async fn snapshot(app: &TestApp) -> BTreeMap<String, String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
           AND table_name NOT IN ('api_keys', 'audit_events', 'audit_event_partitions', 'rate_limit_counters',
                                  'idempotency_keys', '_sqlx_migrations')
           AND table_name NOT LIKE 'audit\\_events\\_%'
         ORDER BY 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let rows: String = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]'::jsonb)::text FROM \"{table}\" t"
        ))
        .fetch_one(&app.db)
        .await
        .unwrap();
        out.insert(table, rows);
    }
    out
}

#[tokio::test]
async fn another_organizations_resources_are_404_on_every_endpoint_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (org_b, key_b) = app.other_org().await;
    let ids = seed_org_b(&app, org_b, &key_b).await;
    let key_a = app.key.clone();

    for e in ENDPOINTS {
        let path = ids.fill(e.path);
        let method = Method::from_bytes(e.method.as_bytes()).unwrap();
        let before = snapshot(&app).await;
        let mut req = app.request_as(&key_a, method.clone(), &path);
        if let Some(body) = e.body {
            let body: Value = serde_json::from_str(&ids.fill(body)).unwrap();
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let case = format!("{} {path}", e.method);

        assert!(!(status == 404 && body["message"] == "No such route"), "{case}: the route does not exist");
        match e.expect {
            NotFound => {
                assert_eq!((status, &body["error"]), (404, &json!("not_found")), "{case}: {body}");
                assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {body}");
                if method == Method::GET {
                    // The control: B itself gets its resource through the same call.
                    let r = app.request_as(&key_b, Method::GET, &path).send().await.unwrap();
                    expect_json(r, 200).await;
                }
            }
            EmptyList => {
                assert_eq!(status, 200, "{case}: {body}");
                assert_eq!(body["data"], json!([]), "{case}");
                assert_eq!(body["nextCursor"], Value::Null, "{case}");
                // The control: B itself sees its data through the same call.
                let r = app.request_as(&key_b, method.clone(), &path).send().await.unwrap();
                let control = expect_json(r, 200).await;
                assert!(!control["data"].as_array().unwrap().is_empty(), "{case}: B sees nothing either");
            }
            Invalid(fields) => {
                assert_eq!((status, &body["error"]), (400, &json!("validation_error")), "{case}: {body}");
                let got: Vec<&str> =
                    body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
                assert_eq!(got, fields, "{case}");
            }
        }
        assert_eq!(snapshot(&app).await, before, "{case} changed the database");
    }
    // B's appointment went through every transition endpoint above and is still as it was.
    let r = app
        .request_as(&key_b, Method::GET, &format!("/appointments/{}", ids.get("{appointment}")))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(r, 200).await["status"], "scheduled");
}
