//! Appointments: booking, every lifecycle transition (legal and illegal), overlap and the
//! booking race, filters, pagination, permissions, events.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use klinivo::auth::Permission;
use klinivo::domain::appointments::transitions;
use klinivo::domain::Error as DomainError;
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::patients::{error_fields, events_of, ts, Params};

// ---------------------------------------------------------------------------------------------
// What an integrator does

/// A Monday, far enough ahead.
const T0: &str = "2030-03-04T14:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

struct Setup {
    app: TestApp,
    clinic: SeededClinic,
    patient: i64,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let patient = seed_patient(&app.db, app.org_id).await;
    Setup { app, clinic, patient }
}

impl Setup {
    fn booking(&self, starts_at: &str, minutes: i64) -> Value {
        json!({
            "patientId": self.patient,
            "providerId": self.clinic.provider_id,
            "locationId": self.clinic.location_id,
            "startsAt": starts_at,
            "durationMinutes": minutes,
        })
    }

    async fn seed(&self, starts_at: DateTime<Utc>, status: &str) -> i64 {
        seed_appointment(&self.app.db, self.app.org_id, &self.clinic, self.patient, starts_at, 30, status).await
    }

    async fn get(&self, id: i64) -> Value {
        expect_json(self.app.get(&format!("/appointments/{id}")).await, 200).await
    }

    async fn event_count(&self) -> usize {
        events_of(&self.app, self.app.org_id).await.len()
    }
}

pub async fn book(app: &TestApp, body: &Value) -> Response {
    app.post("/appointments", body).await
}

async fn list(app: &TestApp, params: &[(&str, &str)]) -> Response {
    app.request(Method::GET, "/appointments").query(params).send().await.unwrap()
}

async fn list_ids(app: &TestApp, params: &[(&str, &str)]) -> Vec<i64> {
    let mut params = params.to_vec();
    params.push(("limit", "200"));
    let body = expect_json(list(app, &params).await, 200).await;
    body["data"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect()
}

async fn appointment_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM appointments").fetch_one(&app.db).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Booking

#[tokio::test]
async fn booking_returns_201_with_location_and_records_appointment_scheduled() {
    let s = setup().await;
    let mut body = s.booking(T0, 30);
    body["reason"] = json!("  Annual check-up ");
    let r = book(&s.app, &body).await;
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let a = expect_json(r, 201).await;
    let id = a["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/appointments/{id}"));
    assert_eq!(a["patientId"], s.patient);
    assert_eq!(a["providerId"], s.clinic.provider_id);
    assert_eq!(a["locationId"], s.clinic.location_id);
    assert_eq!(ts(&a["startsAt"]), at(T0));
    assert_eq!(ts(&a["endsAt"]), at(T0) + Duration::minutes(30));
    assert_eq!(a["status"], "scheduled");
    assert_eq!(a["reason"], "Annual check-up");
    assert_eq!(a["cancellationReason"], Value::Null);
    let mut keys: Vec<&String> = a.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "cancellationReason",
            "createdAt",
            "endsAt",
            "id",
            "locationId",
            "patientId",
            "providerId",
            "reason",
            "startsAt",
            "status",
            "updatedAt"
        ]
    );
    assert_eq!(s.get(id).await, a);
    assert_eq!(events_of(&s.app, s.app.org_id).await, vec![("appointment.scheduled".to_string(), a)]);
}

#[tokio::test]
async fn booking_with_ends_at_and_offsets_is_stored_in_utc() {
    let s = setup().await;
    let mut body = s.booking("2030-03-04T09:00:00-05:00", 0);
    body.as_object_mut().unwrap().remove("durationMinutes");
    body["endsAt"] = json!("2030-03-04T09:45:00-05:00");
    let a = expect_json(book(&s.app, &body).await, 201).await;
    assert_eq!(a["startsAt"], "2030-03-04T14:00:00Z");
    assert_eq!(a["endsAt"], "2030-03-04T14:45:00Z");
    assert_eq!(a["reason"], Value::Null);
}

#[tokio::test]
async fn every_booking_validation_rule_is_a_400_naming_the_field_and_books_nothing() {
    let s = setup().await;
    let base = s.booking(T0, 30);
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let with = |pairs: Value| {
        let mut b = base.clone();
        for (k, v) in pairs.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let mut ends = without("durationMinutes");
    ends["endsAt"] = json!("2030-03-04T14:00:00Z");
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (without("patientId"), vec!["patientId"]),
        (without("providerId"), vec!["providerId"]),
        (without("locationId"), vec!["locationId"]),
        (without("startsAt"), vec!["startsAt"]),
        (without("durationMinutes"), vec!["endsAt"]),
        (with(json!({"endsAt": "2030-03-04T14:30:00Z"})), vec!["durationMinutes"]),
        (with(json!({"durationMinutes": 4})), vec!["durationMinutes"]),
        (with(json!({"durationMinutes": 481})), vec!["durationMinutes"]),
        (with(json!({"durationMinutes": -30})), vec!["durationMinutes"]),
        (with(json!({"startsAt": "next monday"})), vec!["startsAt"]),
        (with(json!({"startsAt": "2030-03-04"})), vec!["startsAt"]),
        (with(json!({"startsAt": "2030-03-04T14:00:00"})), vec!["startsAt"]),
        (ends.clone(), vec!["endsAt"]),
        (
            {
                let mut b = ends.clone();
                b["endsAt"] = json!("2030-03-04T13:00:00Z");
                b
            },
            vec!["endsAt"],
        ),
        (
            {
                let mut b = ends.clone();
                b["endsAt"] = json!("2030-03-04T14:04:59Z");
                b
            },
            vec!["endsAt"],
        ),
        (
            {
                let mut b = ends.clone();
                b["endsAt"] = json!("2030-03-04T22:00:01Z");
                b
            },
            vec!["endsAt"],
        ),
        (
            {
                let mut b = ends.clone();
                b["endsAt"] = json!("soon");
                b
            },
            vec!["endsAt"],
        ),
        (with(json!({"reason": "x".repeat(1001)})), vec!["reason"]),
        (with(json!({"status": "confirmed"})), vec!["status"]),
        (with(json!({"patientId": "one"})), vec!["patientId"]),
        (json!({}), vec!["patientId", "providerId", "locationId", "startsAt", "endsAt"]),
    ];
    for (body, fields) in cases {
        let err = expect_error(book(&s.app, &body).await, 400, "validation_error").await;
        assert_eq!(error_fields(&err), fields, "{body}");
    }
    let r = s.app.request(Method::POST, "/appointments").body("{").send().await.unwrap();
    expect_error(r, 400, "invalid_json").await;
    assert_eq!(appointment_count(&s.app).await, 0);
    assert_eq!(s.event_count().await, 0);

    // The boundaries are fine: 5 minutes, 8 hours.
    expect_json(book(&s.app, &s.booking(T0, 5)).await, 201).await;
    let mut b = without("durationMinutes");
    b["startsAt"] = json!("2030-03-05T09:00:00Z");
    b["endsAt"] = json!("2030-03-05T17:00:00Z");
    expect_json(book(&s.app, &b).await, 201).await;
}

#[tokio::test]
async fn patient_provider_and_location_must_exist_in_the_organization_and_fit_together() {
    let s = setup().await;
    let app = &s.app;
    let (other_org, _) = app.other_org().await;
    let foreign_clinic = seed_clinic(&app.db, other_org).await;
    let foreign_patient = seed_patient(&app.db, other_org).await;

    let cases: Vec<(&str, i64, i64)> = vec![
        ("patientId", 987_654, foreign_patient),
        ("providerId", 987_654, foreign_clinic.provider_id),
        ("locationId", 987_654, foreign_clinic.location_id),
    ];
    for (field, missing, foreign) in cases {
        let mut body = s.booking(T0, 30);
        body[field] = json!(missing);
        let unknown = expect_error(book(app, &body).await, 400, "validation_error").await;
        assert_eq!(error_fields(&unknown), [field], "{unknown}");
        // Another organization's id is indistinguishable from one that does not exist.
        body[field] = json!(foreign);
        let err = expect_error(book(app, &body).await, 400, "validation_error").await;
        assert_eq!(err, unknown);
    }

    // A location of ours where the provider does not work.
    let second = seed_clinic(&app.db, app.org_id).await;
    let mut body = s.booking(T0, 30);
    body["locationId"] = json!(second.location_id);
    let err = expect_error(book(app, &body).await, 400, "validation_error").await;
    assert_eq!(error_fields(&err), ["locationId"]);
    assert!(err["details"][0]["message"].as_str().unwrap().contains("does not work"));

    // An inactive provider.
    sqlx::query("UPDATE providers SET active = false WHERE id = $1")
        .bind(second.provider_id)
        .execute(&app.db)
        .await
        .unwrap();
    let mut body = s.booking(T0, 30);
    body["providerId"] = json!(second.provider_id);
    body["locationId"] = json!(second.location_id);
    let err = expect_error(book(app, &body).await, 400, "validation_error").await;
    assert_eq!(error_fields(&err), ["providerId"]);
    assert!(err["details"][0]["message"].as_str().unwrap().contains("not active"));

    // All three wrong at once: all three named.
    let body = json!({"patientId": 0, "providerId": 0, "locationId": 0, "startsAt": T0, "durationMinutes": 30});
    let err = expect_error(book(app, &body).await, 400, "validation_error").await;
    assert_eq!(error_fields(&err), ["patientId", "providerId", "locationId"]);

    assert_eq!(appointment_count(app).await, 0);
    assert_eq!(events_of(app, app.org_id).await.len(), 0);
}

#[tokio::test]
async fn overlapping_active_appointments_of_a_provider_are_409_slot_unavailable() {
    let s = setup().await;
    let first = expect_json(book(&s.app, &s.booking(T0, 30)).await, 201).await;
    for (starts, minutes) in
        [(T0, 30), ("2030-03-04T14:15:00Z", 30), ("2030-03-04T13:45:00Z", 30), ("2030-03-04T13:00:00Z", 120)]
    {
        let err = expect_error(book(&s.app, &s.booking(starts, minutes)).await, 409, "slot_unavailable").await;
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(appointment_count(&s.app).await, 1);
    assert_eq!(s.event_count().await, 1);
    // Back to back is fine.
    expect_json(book(&s.app, &s.booking("2030-03-04T14:30:00Z", 30)).await, 201).await;
    expect_json(book(&s.app, &s.booking("2030-03-04T13:30:00Z", 30)).await, 201).await;
    // Another provider at the same time is fine.
    let other = seed_clinic(&s.app.db, s.app.org_id).await;
    let mut body = s.booking(T0, 30);
    body["providerId"] = json!(other.provider_id);
    body["locationId"] = json!(other.location_id);
    expect_json(book(&s.app, &body).await, 201).await;
    // Cancelled, completed and no-show appointments do not hold their slot.
    let cancel = s.app.post(&format!("/appointments/{}/cancel", first["id"]), &json!({})).await;
    expect_json(cancel, 200).await;
    expect_json(book(&s.app, &s.booking(T0, 30)).await, 201).await;
    let later = at(T0) + Duration::days(1);
    s.seed(later, "completed").await;
    s.seed(later + Duration::hours(1), "no_show").await;
    expect_json(book(&s.app, &s.booking(&iso(later), 90)).await, 201).await;
}

#[tokio::test]
async fn sixteen_concurrent_bookings_of_one_slot_give_one_201_and_fifteen_409s() {
    let s = setup().await;
    for round in 0..3 {
        let starts = iso(at(T0) + Duration::days(round));
        let body = s.booking(&starts, 30);
        let responses = join_all((0..16).map(|_| book(&s.app, &body))).await;
        let mut created = 0;
        let mut unavailable = 0;
        for r in responses {
            match r.status().as_u16() {
                201 => created += 1,
                409 => {
                    expect_error(r, 409, "slot_unavailable").await;
                    unavailable += 1;
                }
                other => panic!("unexpected {other}: {}", r.text().await.unwrap()),
            }
        }
        assert_eq!((created, unavailable), (1, 15), "round {round}");
    }
    assert_eq!(appointment_count(&s.app).await, 3);
    assert_eq!(s.event_count().await, 3);
}

// ---------------------------------------------------------------------------------------------
// Transitions

const STATUSES: [&str; 5] = ["scheduled", "confirmed", "cancelled", "completed", "no_show"];

/// The contract's legal transitions, written out independently of the server's state machine:
/// (endpoint, from) → to.
fn expected_target(endpoint: &str, from: &str) -> Option<&'static str> {
    match (endpoint, from) {
        ("confirm", "scheduled") => Some("confirmed"),
        ("cancel", "scheduled" | "confirmed") => Some("cancelled"),
        ("reschedule", "scheduled" | "confirmed") => Some("scheduled"),
        ("no-show", "scheduled" | "confirmed") => Some("no_show"),
        _ => None,
    }
}

#[tokio::test]
async fn every_transition_from_every_status_is_legal_or_409_and_changes_nothing() {
    let s = setup().await;
    let mut slot = 0;
    for endpoint in ["confirm", "cancel", "reschedule", "no-show"] {
        for from in STATUSES {
            slot += 1;
            let starts = at(T0) + Duration::hours(slot);
            let id = s.seed(starts, from).await;
            let before = s.get(id).await;
            let events_before = events_of(&s.app, s.app.org_id).await;
            let new_start = starts + Duration::days(100);
            let body = match endpoint {
                "cancel" => json!({"reason": "Patient is travelling"}),
                "reschedule" => json!({"startsAt": iso(new_start), "durationMinutes": 45}),
                _ => json!({}),
            };
            let r = s.app.post(&format!("/appointments/{id}/{endpoint}"), &body).await;
            let case = format!("{endpoint} from {from}");
            match expected_target(endpoint, from) {
                Some(to) => {
                    let a = expect_json(r, 200).await;
                    assert_eq!(a["status"], to, "{case}");
                    assert_eq!(s.get(id).await, a, "{case}");
                    let events = events_of(&s.app, s.app.org_id).await;
                    assert_eq!(events.len(), events_before.len() + 1, "{case}");
                    let event_type = match endpoint {
                        "confirm" => "appointment.confirmed",
                        "cancel" => "appointment.cancelled",
                        "reschedule" => "appointment.rescheduled",
                        _ => "appointment.no_show",
                    };
                    assert_eq!(events.last().unwrap(), &(event_type.to_string(), a.clone()), "{case}");
                    match endpoint {
                        "cancel" => assert_eq!(a["cancellationReason"], "Patient is travelling"),
                        "reschedule" => {
                            assert_eq!(ts(&a["startsAt"]), new_start);
                            assert_eq!(ts(&a["endsAt"]), new_start + Duration::minutes(45));
                        }
                        _ => assert_eq!(a["startsAt"], before["startsAt"]),
                    }
                }
                None => {
                    let err = expect_error(r, 409, "invalid_state_transition").await;
                    assert!(err["message"].as_str().unwrap().contains(from), "{case}: {err}");
                    assert_eq!(s.get(id).await, before, "{case}");
                    assert_eq!(events_of(&s.app, s.app.org_id).await, events_before, "{case}");
                }
            }
        }
    }
}

#[tokio::test]
async fn completing_is_legal_only_from_scheduled_or_confirmed() {
    let s = setup().await;
    let org = s.app.org_id;
    for (i, from) in STATUSES.iter().enumerate() {
        let id = s.seed(at(T0) + Duration::hours(i as i64), from).await;
        let before = s.get(id).await;
        let mut tx = s.app.db.begin().await.unwrap();
        let result = transitions::complete(&mut tx, org, id).await;
        match *from {
            "scheduled" | "confirmed" => {
                let a = result.unwrap();
                tx.commit().await.unwrap();
                let a = serde_json::to_value(a).unwrap();
                assert_eq!(a["status"], "completed");
                assert_eq!(s.get(id).await, a);
                let events = events_of(&s.app, org).await;
                assert_eq!(events.last().unwrap(), &("appointment.completed".to_string(), a));
            }
            _ => {
                assert!(matches!(result, Err(DomainError::InvalidStateTransition(_))), "{from}: {result:?}");
                drop(tx);
                assert_eq!(s.get(id).await, before);
            }
        }
    }
    // Unknown, and another organization's, appointments are not found.
    let (other_org, _) = s.app.other_org().await;
    let foreign_clinic = seed_clinic(&s.app.db, other_org).await;
    let foreign_patient = seed_patient(&s.app.db, other_org).await;
    let foreign =
        seed_appointment(&s.app.db, other_org, &foreign_clinic, foreign_patient, at(T0), 30, "scheduled").await;
    for id in [foreign, 987_654] {
        let mut tx = s.app.db.begin().await.unwrap();
        let result = transitions::complete(&mut tx, org, id).await;
        assert!(matches!(result, Err(DomainError::NotFound(_))), "{result:?}");
    }
    assert_eq!(events_of(&s.app, org).await.len(), 2);
}

#[tokio::test]
async fn the_lifecycle_records_its_events_in_order() {
    let s = setup().await;
    let app = &s.app;
    let booked = expect_json(book(app, &s.booking(T0, 30)).await, 201).await;
    let path = format!("/appointments/{}", booked["id"]);
    let confirmed = expect_json(app.post(&format!("{path}/confirm"), &json!({})).await, 200).await;
    let moved = json!({"startsAt": "2030-03-05T10:00:00Z", "endsAt": "2030-03-05T10:20:00Z"});
    let rescheduled = expect_json(app.post(&format!("{path}/reschedule"), &moved).await, 200).await;
    assert_eq!(rescheduled["status"], "scheduled", "a confirmation was for the old time");
    let reconfirmed = expect_json(app.post(&format!("{path}/confirm"), &json!({})).await, 200).await;
    let cancelled = expect_json(app.post(&format!("{path}/cancel"), &json!({"reason": "Better"})).await, 200).await;
    assert_eq!(cancelled["cancellationReason"], "Better");
    assert_eq!(cancelled["startsAt"], "2030-03-05T10:00:00Z");
    for (a, b) in [(&booked, &confirmed), (&confirmed, &rescheduled), (&rescheduled, &reconfirmed)] {
        assert!(ts(&b["updatedAt"]) > ts(&a["updatedAt"]));
        assert_eq!(a["createdAt"], b["createdAt"]);
    }

    // Nothing is legal any more.
    for endpoint in ["confirm", "cancel", "no-show"] {
        expect_error(app.post(&format!("{path}/{endpoint}"), &json!({})).await, 409, "invalid_state_transition").await;
    }
    expect_error(app.post(&format!("{path}/reschedule"), &moved).await, 409, "invalid_state_transition").await;

    let events = events_of(app, app.org_id).await;
    let expected: Vec<(String, Value)> = [
        ("appointment.scheduled", booked),
        ("appointment.confirmed", confirmed),
        ("appointment.rescheduled", rescheduled),
        ("appointment.confirmed", reconfirmed),
        ("appointment.cancelled", cancelled),
    ]
    .into_iter()
    .map(|(t, v)| (t.to_string(), v))
    .collect();
    assert_eq!(events, expected);
}

#[tokio::test]
async fn cancel_takes_an_optional_reason_and_bodies_are_checked() {
    let s = setup().await;
    let app = &s.app;
    let a = s.seed(at(T0), "scheduled").await;
    let b = s.seed(at(T0) + Duration::hours(1), "confirmed").await;
    let c = s.seed(at(T0) + Duration::hours(2), "scheduled").await;

    // No body at all.
    let r = app.request(Method::POST, &format!("/appointments/{a}/cancel")).send().await.unwrap();
    let cancelled = expect_json(r, 200).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancellationReason"], Value::Null);
    // A blank reason is no reason; a reason is trimmed.
    let cancelled =
        expect_json(app.post(&format!("/appointments/{b}/cancel"), &json!({"reason": " "})).await, 200).await;
    assert_eq!(cancelled["cancellationReason"], Value::Null);

    let before = s.get(c).await;
    let path = format!("/appointments/{c}/cancel");
    let err = expect_error(app.post(&path, &json!({"reason": "x".repeat(1001)})).await, 400, "validation_error").await;
    assert_eq!(error_fields(&err), ["reason"]);
    let err = expect_error(app.post(&path, &json!({"why": "x"})).await, 400, "validation_error").await;
    assert_eq!(error_fields(&err), ["why"]);
    let r = app.request(Method::POST, &path).body("{\"reason\": ").send().await.unwrap();
    expect_error(r, 400, "invalid_json").await;
    // Confirm and no-show take no input.
    for endpoint in ["confirm", "no-show"] {
        let r = app.post(&format!("/appointments/{c}/{endpoint}"), &json!({"note": "x"})).await;
        assert_eq!(error_fields(&expect_error(r, 400, "validation_error").await), ["note"]);
    }
    assert_eq!(s.get(c).await, before);
    let cancelled = expect_json(app.post(&path, &json!({"reason": "  Feeling better  "})).await, 200).await;
    assert_eq!(cancelled["cancellationReason"], "Feeling better");
    assert_eq!(s.event_count().await, 3);

    // Without a body, confirm works too.
    let d = s.seed(at(T0) + Duration::hours(3), "scheduled").await;
    let r = app.request(Method::POST, &format!("/appointments/{d}/confirm")).send().await.unwrap();
    assert_eq!(expect_json(r, 200).await["status"], "confirmed");
}

#[tokio::test]
async fn reschedule_checks_times_and_overlap_and_changes_nothing_when_refused() {
    let s = setup().await;
    let app = &s.app;
    let a = s.seed(at(T0), "confirmed").await;
    let blocker = at(T0) + Duration::hours(2);
    s.seed(blocker, "scheduled").await;
    s.seed(blocker + Duration::hours(1), "cancelled").await;
    let path = format!("/appointments/{a}/reschedule");
    let before = s.get(a).await;

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["startsAt", "endsAt"]),
        (json!({"startsAt": T0}), vec!["endsAt"]),
        (json!({"startsAt": T0, "durationMinutes": 30, "endsAt": "2030-03-04T15:00:00Z"}), vec!["durationMinutes"]),
        (json!({"startsAt": T0, "durationMinutes": 500}), vec!["durationMinutes"]),
        (json!({"startsAt": T0, "endsAt": "2030-03-04T13:00:00Z"}), vec!["endsAt"]),
        (json!({"startsAt": "later", "durationMinutes": 30}), vec!["startsAt"]),
        (json!({"startsAt": T0, "durationMinutes": 30, "providerId": 1}), vec!["providerId"]),
    ];
    for (body, fields) in cases {
        let err = expect_error(app.post(&path, &body).await, 400, "validation_error").await;
        assert_eq!(error_fields(&err), fields, "{body}");
    }
    // Onto another active appointment: the slot is taken.
    let body = json!({"startsAt": iso(blocker + Duration::minutes(15)), "durationMinutes": 30});
    expect_error(app.post(&path, &body).await, 409, "slot_unavailable").await;
    assert_eq!(s.get(a).await, before);
    assert_eq!(s.event_count().await, 0);

    // Overlapping its own old time is fine; so is a cancelled appointment's slot.
    let body = json!({"startsAt": iso(at(T0) + Duration::minutes(15)), "durationMinutes": 30});
    let moved = expect_json(app.post(&path, &body).await, 200).await;
    assert_eq!(moved["status"], "scheduled");
    assert_eq!(ts(&moved["endsAt"]), at(T0) + Duration::minutes(45));
    let body = json!({"startsAt": iso(blocker + Duration::hours(1)), "endsAt": iso(blocker + Duration::minutes(90))});
    let moved = expect_json(app.post(&path, &body).await, 200).await;
    assert_eq!(ts(&moved["startsAt"]), blocker + Duration::hours(1));
    assert_eq!(moved["providerId"], before["providerId"]);
    assert_eq!(moved["reason"], before["reason"]);
    assert_eq!(s.event_count().await, 2);
}

#[tokio::test]
async fn unknown_appointments_are_404_everywhere() {
    let s = setup().await;
    let app = &s.app;
    expect_error(app.get("/appointments/987654").await, 404, "not_found").await;
    expect_error(app.get("/appointments/nope").await, 404, "not_found").await;
    let body = json!({"startsAt": T0, "durationMinutes": 30});
    for endpoint in ["confirm", "cancel", "no-show"] {
        expect_error(app.post(&format!("/appointments/987654/{endpoint}"), &json!({})).await, 404, "not_found").await;
    }
    expect_error(app.post("/appointments/987654/reschedule", &body).await, 404, "not_found").await;
    assert_eq!(s.event_count().await, 0);
}

// ---------------------------------------------------------------------------------------------
// Filters and pagination

#[tokio::test]
async fn list_filters_by_patient_provider_location_status_and_time() {
    let s = setup().await;
    let app = &s.app;
    let other_clinic = seed_clinic(&app.db, app.org_id).await;
    let other_patient = seed_patient(&app.db, app.org_id).await;
    let day = at(T0);
    let a1 = s.seed(day, "scheduled").await; // 14:00 day 0
    let a2 = s.seed(day + Duration::hours(1), "confirmed").await; // 15:00 day 0
    let a3 = s.seed(day + Duration::days(1), "cancelled").await; // 14:00 day 1
    let a4 =
        seed_appointment(&app.db, app.org_id, &other_clinic, other_patient, day + Duration::days(1), 30, "no_show")
            .await;
    let a5 =
        seed_appointment(&app.db, app.org_id, &other_clinic, s.patient, day + Duration::days(2), 30, "completed").await;

    let p = s.patient.to_string();
    let op = other_patient.to_string();
    let prov = s.clinic.provider_id.to_string();
    let oprov = other_clinic.provider_id.to_string();
    let loc = s.clinic.location_id.to_string();
    let oloc = other_clinic.location_id.to_string();
    let cases: Vec<(Params, Vec<i64>)> = vec![
        (vec![], vec![a1, a2, a3, a4, a5]),
        (vec![("patientId", &p)], vec![a1, a2, a3, a5]),
        (vec![("patientId", &op)], vec![a4]),
        (vec![("patientId", "987654")], vec![]),
        (vec![("providerId", &prov)], vec![a1, a2, a3]),
        (vec![("providerId", &oprov)], vec![a4, a5]),
        (vec![("locationId", &loc)], vec![a1, a2, a3]),
        (vec![("locationId", &oloc), ("patientId", &p)], vec![a5]),
        (vec![("status", "scheduled")], vec![a1]),
        (vec![("status", "scheduled,confirmed")], vec![a1, a2]),
        (vec![("status", " cancelled , no_show ,")], vec![a3, a4]),
        (vec![("status", "completed"), ("providerId", &prov)], vec![]),
        (vec![("from", "2030-03-04T15:00:00Z")], vec![a2, a3, a4, a5]),
        (vec![("to", "2030-03-04T15:00:00Z")], vec![a1]),
        (vec![("from", "2030-03-04T14:00:00Z"), ("to", "2030-03-05T14:00:00Z")], vec![a1, a2]),
        (vec![("from", "2030-03-04T14:00:01Z")], vec![a2, a3, a4, a5]),
        // Plain dates are whole UTC days: `to=D` includes day D.
        (vec![("from", "2030-03-04"), ("to", "2030-03-04")], vec![a1, a2]),
        (vec![("from", "2030-03-05"), ("to", "2030-03-06")], vec![a3, a4, a5]),
        (vec![("from", "2030-03-05")], vec![a3, a4, a5]),
        (vec![("to", "2030-03-03")], vec![]),
        // Offsets are honoured (15:00+01:00 is 14:00Z).
        (vec![("from", "2030-03-04T15:00:00+01:00"), ("to", "2030-03-04T15:00:00Z")], vec![a1]),
        (
            vec![("from", "2030-03-04"), ("to", "2030-03-05"), ("status", "cancelled,scheduled"), ("patientId", &p)],
            vec![a1, a3],
        ),
    ];
    for (params, expected) in cases {
        assert_eq!(list_ids(app, &params).await, expected, "{params:?}");
    }

    let bad: Vec<(Params, &str)> = vec![
        (vec![("status", "scheduled,done")], "status"),
        (vec![("status", "Scheduled")], "status"),
        (vec![("from", "tomorrow")], "from"),
        (vec![("to", "2030-02-30")], "to"),
        (vec![("from", "2030-03-05"), ("to", "2030-03-04")], "to"),
        (vec![("from", "2030-03-04T14:00:00Z"), ("to", "2030-03-04T14:00:00Z")], "to"),
        (vec![("patientId", "me")], "patientId"),
        (vec![("provider", "1")], "provider"),
        (vec![("updatedSince", "2030-03-04")], "updatedSince"),
        (vec![("limit", "500")], "limit"),
    ];
    for (params, field) in bad {
        let err = expect_error(list(app, &params).await, 400, "validation_error").await;
        assert_eq!(error_fields(&err), [field], "{params:?}");
    }
    expect_error(list(app, &[("cursor", "???")]).await, 400, "invalid_cursor").await;
}

#[tokio::test]
async fn list_updated_since_returns_changes_in_update_order() {
    let s = setup().await;
    let app = &s.app;
    let a = expect_json(book(app, &s.booking(T0, 30)).await, 201).await;
    let b = expect_json(book(app, &s.booking("2030-03-04T15:00:00Z", 30)).await, 201).await;
    let since = b["updatedAt"].as_str().unwrap().to_string();
    assert_eq!(list_ids(app, &[("updatedSince", &since)]).await, [b["id"].as_i64().unwrap()]);
    expect_json(app.post(&format!("/appointments/{}/confirm", a["id"]), &json!({})).await, 200).await;
    let ids = list_ids(app, &[("updatedSince", &since)]).await;
    assert_eq!(ids, [b["id"].as_i64().unwrap(), a["id"].as_i64().unwrap()]);
    let confirmed = list_ids(app, &[("updatedSince", &since), ("status", "confirmed")]).await;
    assert_eq!(confirmed, [a["id"].as_i64().unwrap()]);
}

async fn seed_many_appointments(s: &Setup, n: i64) -> Vec<i64> {
    sqlx::query_scalar(
        "INSERT INTO appointments (organization_id, patient_id, provider_id, location_id, starts_at, ends_at)
         SELECT $1, $2, $3, $4, $5 + i * interval '1 hour', $5 + i * interval '1 hour' + interval '30 minutes'
         FROM generate_series(1, $6) AS i
         RETURNING id",
    )
    .bind(s.app.org_id)
    .bind(s.patient)
    .bind(s.clinic.provider_id)
    .bind(s.clinic.location_id)
    .bind(at(T0))
    .bind(n)
    .fetch_all(&s.app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn pagination_by_id_visits_every_appointment_once_in_order() {
    let s = setup().await;
    let all = seed_many_appointments(&s, 300).await;
    for params in [vec![("limit", "41")], vec![("limit", "41"), ("providerId", &*s.clinic.provider_id.to_string())]] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut p = params.clone();
            if let Some(c) = &cursor {
                p.push(("cursor", c));
            }
            let body = expect_json(list(&s.app, &p).await, 200).await;
            let page = body["data"].as_array().unwrap();
            assert!(page.len() <= 41);
            seen.extend(page.iter().map(|a| a["id"].as_i64().unwrap()));
            match body["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, all);
    }
    let body = expect_json(list(&s.app, &[]).await, 200).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn pagination_by_updated_since_skips_nothing_while_appointments_change() {
    let s = setup().await;
    let all = seed_many_appointments(&s, 300).await;
    let plan: Vec<[i64; 2]> = (0..6).map(|i| [all[i * 4], all[all.len() - 1 - i * 7]]).collect();
    let mut expected: HashMap<i64, usize> = all.iter().map(|id| (*id, 1)).collect();
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        assert!(page < 100, "pagination does not end");
        let mut params = vec![("limit", "41"), ("updatedSince", "2000-01-01T00:00:00Z")];
        if let Some(c) = &cursor {
            params.push(("cursor", c));
        }
        let body = expect_json(list(&s.app, &params).await, 200).await;
        seen.extend(body["data"].as_array().unwrap().iter().cloned());
        let Some(next) = body["nextCursor"].as_str() else { break };
        cursor = Some(next.to_string());
        // Between pages, confirm one appointment already returned and one not yet returned.
        if let Some(ids) = plan.get(page) {
            for id in ids {
                if seen.iter().any(|a| a["id"] == *id) {
                    expected.insert(*id, 2);
                }
                expect_json(s.app.post(&format!("/appointments/{id}/confirm"), &json!({})).await, 200).await;
            }
        }
    }
    let keys: Vec<_> = seen.iter().map(|a| (ts(&a["updatedAt"]), a["id"].as_i64().unwrap())).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "not in (updatedAt, id) order");
    let mut count: HashMap<i64, usize> = HashMap::new();
    for (_, id) in &keys {
        *count.entry(*id).or_default() += 1;
    }
    assert_eq!(count, expected);
    for id in plan.iter().flatten() {
        let last = seen.iter().rev().find(|a| a["id"] == *id).unwrap();
        assert_eq!(last["status"], "confirmed", "{last}");
    }
}

// ---------------------------------------------------------------------------------------------
// Permissions

#[tokio::test]
async fn each_endpoint_requires_its_permission() {
    let s = setup().await;
    let app = &s.app;
    let read_only = app.key_with(&[Permission::ReadAppointments]).await;
    let write_only = app.key_with(&[Permission::WriteAppointments]).await;
    let neither = app.key_with(&[Permission::ReadPatients, Permission::WritePatients]).await;
    let mut slot = 0;
    let mut next_id = || {
        slot += 1;
        slot
    };
    for key in [&read_only, &write_only, &neither] {
        let calls: Vec<(Method, String, Option<Value>, &str)> = vec![
            (Method::GET, "/appointments".into(), None, "READ_APPOINTMENTS"),
            (Method::GET, "/appointments/{id}".into(), None, "READ_APPOINTMENTS"),
            (Method::POST, "/appointments".into(), Some(json!("booking")), "WRITE_APPOINTMENTS"),
            (Method::POST, "/appointments/{id}/confirm".into(), Some(json!({})), "WRITE_APPOINTMENTS"),
            (Method::POST, "/appointments/{id}/cancel".into(), Some(json!({})), "WRITE_APPOINTMENTS"),
            (Method::POST, "/appointments/{id}/no-show".into(), Some(json!({})), "WRITE_APPOINTMENTS"),
            (
                Method::POST,
                "/appointments/{id}/reschedule".into(),
                Some(json!({"startsAt": "2031-01-01T10:00:00Z", "durationMinutes": 30})),
                "WRITE_APPOINTMENTS",
            ),
        ];
        for (method, path, body, permission) in calls {
            let n = next_id();
            let id = s.seed(at(T0) + Duration::hours(n), "scheduled").await;
            let path = path.replace("{id}", &id.to_string());
            let body = match body {
                Some(Value::String(_)) => Some(s.booking(&iso(at(T0) + Duration::days(400 + n)), 30)),
                other => other,
            };
            let mut req = app.request_as(key, method.clone(), &path);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let r = req.send().await.unwrap();
            let allowed = (key == &read_only && permission == "READ_APPOINTMENTS")
                || (key == &write_only && permission == "WRITE_APPOINTMENTS");
            if allowed {
                assert!(r.status().is_success(), "{method} {path}: {}", r.status());
            } else {
                let err = expect_error(r, 403, "insufficient_permission").await;
                assert!(err["message"].as_str().unwrap().contains(permission), "{err}");
            }
        }
    }
}
