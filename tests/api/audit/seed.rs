//! The records the route sweep looks for: one of every kind, written through the API with
//! sentinel PHI, each write kept as a call to check like any other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::routes::PathValues;
use crate::helpers::*;
use crate::webhooks::receiver::Receiver;
use crate::webhooks::{deliveries, status_is, wait_deliveries, CONTRACT_TYPES};

/// Text that can only come from one seeded record.
pub const SENTINELS: &[(&str, &str)] = &[
    ("Quillonia", "patient"),
    ("Vexmarrow", "patient"),
    ("quillonia.vexmarrow@sentinel.test", "patient"),
    ("41 Sentinel Lane", "patient"),
    ("sentinel reason alpha", "appointment"),
    ("sentinel cancellation", "appointment"),
    ("sentinel subjective one", "soap_note"),
    ("sentinel subjective two", "soap_note"),
    ("Sentinelmycin", "prescription"),
    ("sentinel intake answer", "intake_form"),
];

/// One request made by the test, as sent and as answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub template: String,
    pub path: String,
    pub request_id: String,
    pub status: u16,
    pub content_length: Option<String>,
    pub body: String,
}

/// Sends requests with the full-permission key and a request id of their own, and keeps them.
pub struct Caller<'a> {
    pub app: &'a TestApp,
    pub calls: Vec<Call>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Caller<'_> {
    /// `path` is the full path (`/api/v1/...`); `template` the route it is expected to match.
    pub async fn send(&mut self, method: Method, template: &str, path: &str, body: Option<Value>) -> Call {
        let request_id = format!("sweep-{}", NEXT.fetch_add(1, Ordering::SeqCst));
        let mut request = self
            .app
            .client
            .request(method.clone(), self.app.url(path))
            .header("X-API-Key", &self.app.key)
            .header("X-Request-Id", &request_id);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let content_length = r.headers().get("content-length").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = r.text().await.unwrap();
        let call = Call {
            method,
            template: template.to_string(),
            path: path.to_string(),
            request_id,
            status,
            content_length,
            body,
        };
        self.calls.push(call.clone());
        call
    }

    /// A write that must succeed; returns its JSON body.
    pub async fn write(&mut self, method: Method, template: &str, path: &str, body: Value) -> Value {
        let call = self.send(method.clone(), template, path, Some(body)).await;
        assert!((200..300).contains(&call.status), "{method} {path}: {} {}", call.status, call.body);
        serde_json::from_str(&call.body).unwrap_or(Value::Null)
    }
}

/// The seeded records' ids, by audit resource type.
pub type Records = BTreeMap<&'static str, Vec<i64>>;

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Writes one of everything through every write route, and returns the seeded records and the
/// values for every path parameter.
pub async fn seed(caller: &mut Caller<'_>, receiver: &Receiver) -> (Records, PathValues) {
    let app = caller.app;
    // Distinct id ranges per table: an id found in a body names one record of one type.
    for (table, start) in [
        ("patients", 1000),
        ("appointments", 2000),
        ("consultations", 3000),
        ("soap_notes", 4000),
        ("prescriptions", 5000),
        ("intake_forms", 6000),
        ("appointment_holds", 7000),
    ] {
        sqlx::query(&format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), {start})"))
            .execute(&app.db)
            .await
            .unwrap();
    }
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let v1 = |p: &str| format!("/api/v1{p}");

    let hook = json!({"url": receiver.url(), "events": CONTRACT_TYPES, "description": "audit sweep"});
    let webhook = id(&caller.write(Method::POST, "/api/v1/webhooks", &v1("/webhooks"), hook).await);

    let patient = json!({"firstName": "Quillonia", "lastName": "Vexmarrow", "dateOfBirth": "1979-03-14",
                         "email": "quillonia.vexmarrow@sentinel.test", "phone": "+14155550199"});
    let patient = id(&caller.write(Method::POST, "/api/v1/patients", &v1("/patients"), patient).await);
    let address = json!({"address": {"line1": "41 Sentinel Lane", "city": "Springfield"}});
    caller.write(Method::PATCH, "/api/v1/patients/{id}", &v1(&format!("/patients/{patient}")), address).await;

    let book = |starts: &str| {
        json!({"patientId": patient, "providerId": clinic.provider_id, "locationId": clinic.location_id,
               "startsAt": starts, "durationMinutes": 30, "reason": "sentinel reason alpha"})
    };
    let mut appointments = Vec::new();
    for starts in ["2030-01-07T15:00:00Z", "2030-01-08T15:00:00Z", "2030-01-09T15:00:00Z"] {
        appointments
            .push(id(&caller.write(Method::POST, "/api/v1/appointments", &v1("/appointments"), book(starts)).await));
    }
    let [visit, cancelled, missed] = appointments[..] else { unreachable!() };
    let on = |a: i64, action: &str| {
        (format!("/api/v1/appointments/{{id}}/{action}"), v1(&format!("/appointments/{a}/{action}")))
    };
    let (t, p) = on(visit, "confirm");
    caller.write(Method::POST, &t, &p, json!({})).await;
    let (t, p) = on(visit, "reschedule");
    caller.write(Method::POST, &t, &p, json!({"startsAt": "2030-01-07T16:00:00Z", "durationMinutes": 30})).await;
    let (t, p) = on(cancelled, "cancel");
    caller.write(Method::POST, &t, &p, json!({"reason": "sentinel cancellation"})).await;
    let (t, p) = on(missed, "no-show");
    caller.write(Method::POST, &t, &p, json!({})).await;

    // Slot holds: one kept, one released.
    let hold = |starts: &str| {
        json!({"providerId": clinic.provider_id, "locationId": clinic.location_id, "startsAt": starts,
               "durationMinutes": 30})
    };
    let holds_path = v1("/appointment-holds");
    let kept =
        id(&caller.write(Method::POST, "/api/v1/appointment-holds", &holds_path, hold("2030-01-10T15:00:00Z")).await);
    let spare_hold =
        id(&caller.write(Method::POST, "/api/v1/appointment-holds", &holds_path, hold("2030-01-11T15:00:00Z")).await);
    let t = "/api/v1/appointment-holds/{id}";
    let call = caller.send(Method::DELETE, t, &v1(&format!("/appointment-holds/{spare_hold}")), None).await;
    assert_eq!(call.status, 204, "DELETE hold: {}", call.body);

    let (t, p) = on(visit, "consultation");
    let consultation = id(&caller.write(Method::POST, &t, &p, json!({})).await);
    let c = |rest: &str| v1(&format!("/consultations/{consultation}{rest}"));
    let mut notes = Vec::new();
    for subjective in ["sentinel subjective one", "sentinel subjective two"] {
        let note = json!({"subjective": subjective, "plan": "rest"});
        notes.push(id(&caller
            .write(Method::POST, "/api/v1/consultations/{id}/soap-notes", &c("/soap-notes"), note)
            .await));
    }
    // The first note goes through its lifecycle: changed as a draft, signed, amended.
    let n = |rest: &str| c(&format!("/soap-notes/{}{rest}", notes[0]));
    let t = "/api/v1/consultations/{id}/soap-notes/{noteId}";
    caller.write(Method::PATCH, t, &n(""), json!({"plan": "rest and fluids"})).await;
    let sign = json!({"providerId": clinic.provider_id});
    caller.write(Method::POST, &format!("{t}/sign"), &n("/sign"), sign).await;
    let amend = json!({"reason": "plan extended", "providerId": clinic.provider_id, "plan": "rest, fluids, recheck"});
    caller.write(Method::POST, &format!("{t}/amendments"), &n("/amendments"), amend).await;
    let rx = json!({"medicationName": "Sentinelmycin", "dosage": "5 mg", "frequency": "daily"});
    let prescription =
        id(&caller.write(Method::POST, "/api/v1/consultations/{id}/prescriptions", &c("/prescriptions"), rx).await);
    caller.write(Method::POST, "/api/v1/consultations/{id}/end", &c("/end"), json!({})).await;

    let form = json!({"patientId": patient, "appointmentId": visit, "formType": "new_patient_history"});
    let form = id(&caller.write(Method::POST, "/api/v1/intake-forms", &v1("/intake-forms"), form).await);
    let f = |rest: &str| v1(&format!("/intake-forms/{form}{rest}"));
    caller.write(Method::POST, "/api/v1/intake-forms/{id}/start", &f("/start"), json!({})).await;
    let answers = json!({"answers": {"allergies": "sentinel intake answer"}});
    caller.write(Method::POST, "/api/v1/intake-forms/{id}/complete", &f("/complete"), answers).await;

    // The webhook's routes, once its deliveries of all those events have arrived.
    let w = |rest: &str| v1(&format!("/webhooks/{webhook}{rest}"));
    let delivered = wait_deliveries(app, webhook, 17, Duration::from_secs(20), status_is("succeeded")).await;
    let delivery = id(&delivered[0]);
    let t = "/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver";
    caller.write(Method::POST, t, &w(&format!("/deliveries/{delivery}/redeliver")), json!({})).await;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    caller.write(Method::POST, "/api/v1/webhooks/{id}/recover", &w("/recover"), json!({"since": since})).await;
    caller.write(Method::POST, "/api/v1/webhooks/{id}/test", &w("/test"), json!({})).await;
    caller.write(Method::POST, "/api/v1/webhooks/{id}/rotate-secret", &w("/rotate-secret"), json!({})).await;
    caller.write(Method::PATCH, "/api/v1/webhooks/{id}", &w(""), json!({"description": "audit sweep, renamed"})).await;
    let spare = json!({"url": receiver.url(), "events": ["patient.created"]});
    let spare = id(&caller.write(Method::POST, "/api/v1/webhooks", &v1("/webhooks"), spare).await);
    let call = caller.send(Method::DELETE, "/api/v1/webhooks/{id}", &v1(&format!("/webhooks/{spare}")), None).await;
    assert_eq!(call.status, 204, "DELETE webhook: {}", call.body);

    let events: Vec<String> =
        sqlx::query_scalar("SELECT 'evt_' || id::text FROM events ORDER BY seq").fetch_all(&app.db).await.unwrap();
    assert!(deliveries(app, webhook).await.len() >= 17);

    let records: Records = BTreeMap::from([
        ("patient", vec![patient]),
        ("appointment", appointments.clone()),
        ("consultation", vec![consultation]),
        ("soap_note", notes.clone()),
        ("prescription", vec![prescription]),
        ("intake_form", vec![form]),
        ("appointment_hold", vec![kept, spare_hold]),
    ]);
    let one = |v: i64| vec![v.to_string()];
    let values: PathValues = BTreeMap::from([
        ("patients", one(patient)),
        ("appointments", one(visit)),
        ("consultations", one(consultation)),
        ("soap-notes", one(notes[0])),
        ("prescriptions", one(prescription)),
        ("intake-forms", one(form)),
        ("appointment-holds", one(kept)),
        ("providers", one(clinic.provider_id)),
        ("locations", one(clinic.location_id)),
        ("webhooks", one(webhook)),
        ("deliveries", one(delivery)),
        // Every event: each type's `data` is a different record.
        ("events", events),
    ]);
    (records, values)
}
