//! `POST /appointments` with `holdId`: books exactly the held slot, once.

use futures_util::future::join_all;
use serde_json::{json, Value};

use super::{id, setup, starts, T0, T0_PLUS_30};
use crate::helpers::*;
use crate::patients::error_fields;

#[tokio::test]
async fn booking_by_hold_books_the_held_slot_and_marks_the_hold_booked() {
    let s = setup().await;
    let hold = s.hold(T0, 30).await;
    let appointment = expect_json(book_hold(&s.app, id(&hold), s.patient).await, 201).await;
    for field in ["providerId", "locationId", "startsAt", "endsAt"] {
        assert_eq!(appointment[field], hold[field], "{field}");
    }
    assert_eq!(appointment["patientId"], s.patient);
    assert_eq!(appointment["status"], "scheduled");
    let after = expect_json(s.app.get(&format!("/appointment-holds/{}", id(&hold))).await, 200).await;
    assert_eq!(after["status"], "booked");
    assert_eq!(after["appointmentId"], appointment["id"]);
    // The slot is the appointment's now: its claim, not the hold's.
    assert_eq!(s.claims_of(id(&hold)).await, 0);
    expect_error(hold_slot(&s.app, &s.clinic, T0, 30).await, 409, "slot_unavailable").await;

    // Every optional field sent, each equal to the hold's: the same booking.
    let hold = s.hold(T0_PLUS_30, 30).await;
    let body = json!({"holdId": id(&hold), "patientId": s.patient, "providerId": hold["providerId"],
                      "locationId": hold["locationId"], "startsAt": hold["startsAt"], "endsAt": hold["endsAt"],
                      "reason": "Follow-up"});
    let appointment = expect_json(s.app.post("/appointments", &body).await, 201).await;
    assert_eq!(appointment["startsAt"], hold["startsAt"]);
    assert_eq!(appointment["reason"], "Follow-up");
    // The event is the booking's, as without a hold.
    let types: Vec<String> =
        sqlx::query_scalar("SELECT type FROM events ORDER BY seq").fetch_all(&s.app.db).await.unwrap();
    assert_eq!(types, ["appointment.scheduled", "appointment.scheduled"]);
}

#[tokio::test]
async fn fields_that_differ_from_the_hold_are_400_and_change_nothing() {
    let s = setup().await;
    let hold = s.hold(T0, 30).await;
    let other = seed_clinic(&s.app.db, s.app.org_id).await;
    let body = json!({"holdId": id(&hold), "patientId": s.patient, "providerId": other.provider_id,
                      "startsAt": T0_PLUS_30, "durationMinutes": 45});
    let e = expect_error(s.app.post("/appointments", &body).await, 400, "validation_error").await;
    assert_eq!(error_fields(&e), ["providerId", "startsAt", "durationMinutes"], "{e}");
    let e = expect_error(
        s.app.post("/appointments", &json!({"holdId": id(&hold), "endsAt": "2030-03-04T14:45:00Z"})).await,
        400,
        "validation_error",
    )
    .await;
    assert_eq!(error_fields(&e), ["patientId"], "the patient is required: {e}");
    let e = expect_error(
        s.app
            .post(
                "/appointments",
                &json!({"holdId": id(&hold), "patientId": s.patient, "endsAt": "2030-03-04T14:45:00Z"}),
            )
            .await,
        400,
        "validation_error",
    )
    .await;
    assert_eq!(error_fields(&e), ["endsAt"], "{e}");
    let e = expect_error(book_hold(&s.app, id(&hold), s.patient + 1000).await, 400, "validation_error").await;
    assert_eq!(error_fields(&e), ["patientId"], "{e}");
    // Nothing booked; the hold still holds.
    assert_eq!(s.hold_status(id(&hold)).await, "held");
    assert_eq!(s.claims_of(id(&hold)).await, 1);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_hold_that_is_expired_released_or_booked_is_409_hold_expired() {
    let s = setup().await;
    let expired = s.hold(T0, 30).await;
    expire_hold(&s.app.db, id(&expired)).await;
    let released = s.hold(T0_PLUS_30, 30).await;
    assert_eq!(s.app.delete(&format!("/appointment-holds/{}", id(&released))).await.status(), 204);
    let booked = s.hold("2030-03-04T16:00:00Z", 30).await;
    expect_json(book_hold(&s.app, id(&booked), s.patient).await, 201).await;
    for hold in [&expired, &released, &booked] {
        expect_error(book_hold(&s.app, id(hold), s.patient).await, 409, "hold_expired").await;
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 1);
    // A booked hold cannot be released: its appointment is cancelled instead.
    let r = s.app.delete(&format!("/appointment-holds/{}", id(&booked))).await;
    expect_error(r, 409, "invalid_state_transition").await;
    // Releasing twice is fine: nothing left to release.
    assert_eq!(s.app.delete(&format!("/appointment-holds/{}", id(&released))).await.status(), 204);
}

#[tokio::test]
async fn sixteen_bookings_of_one_hold_give_one_appointment() {
    let s = setup().await;
    let hold = s.hold(T0, 30).await;
    let responses = join_all((0..16).map(|_| book_hold(&s.app, id(&hold), s.patient))).await;
    let mut created: Vec<Value> = Vec::new();
    for r in responses {
        if r.status() == 201 {
            created.push(r.json().await.unwrap());
        } else {
            expect_error(r, 409, "hold_expired").await;
        }
    }
    assert_eq!(created.len(), 1);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(n, 1);
    let after = expect_json(s.app.get(&format!("/appointment-holds/{}", id(&hold))).await, 200).await;
    assert_eq!(after["appointmentId"], created[0]["id"]);
    assert_eq!(after["startsAt"], starts(T0));
}
