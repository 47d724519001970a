//! Slot holds: a live hold keeps its slot from bookings, other holds and availability, decided
//! by the database; an expired one keeps nothing, with no sweeper; booking by hold.

mod booking;
mod rules;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

/// A Monday, 09:00 in the clinic's New York, far enough ahead.
pub const T0: &str = "2030-03-04T14:00:00Z";
pub const T0_PLUS_15: &str = "2030-03-04T14:15:00Z";
pub const T0_PLUS_30: &str = "2030-03-04T14:30:00Z";

pub struct Setup {
    pub app: TestApp,
    pub clinic: SeededClinic,
    pub patient: i64,
}

pub async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let patient = seed_patient(&app.db, app.org_id).await;
    Setup { app, clinic, patient }
}

impl Setup {
    /// A hold that must succeed; returns its body.
    pub async fn hold(&self, starts_at: &str, minutes: i64) -> Value {
        expect_json(hold_slot(&self.app, &self.clinic, starts_at, minutes).await, 201).await
    }

    pub async fn booking(&self, starts_at: &str, minutes: i64) -> reqwest::Response {
        let body = json!({"patientId": self.patient, "providerId": self.clinic.provider_id,
                          "locationId": self.clinic.location_id, "startsAt": starts_at, "durationMinutes": minutes});
        self.app.post("/appointments", &body).await
    }

    pub async fn hold_status(&self, id: i64) -> String {
        let hold = expect_json(self.app.get(&format!("/appointment-holds/{id}")).await, 200).await;
        hold["status"].as_str().unwrap().to_string()
    }

    /// The start times of the free 30-minute slots on T0's day.
    pub async fn free_starts(&self) -> Vec<String> {
        let p = self.clinic.provider_id;
        let page = expect_json(
            self.app
                .get(&format!("/providers/{p}/availability?from=2030-03-04&to=2030-03-04&durationMinutes=30"))
                .await,
            200,
        )
        .await;
        page["data"].as_array().unwrap().iter().map(|s| s["startsAt"].as_str().unwrap().to_string()).collect()
    }

    /// How many claims (live or lapsed) the hold has in `slot_claims`.
    pub async fn claims_of(&self, hold_id: i64) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM slot_claims WHERE hold_id = $1")
            .bind(hold_id)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

fn starts(s: &str) -> String {
    s.parse::<chrono::DateTime<chrono::Utc>>().unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn sixteen_widgets_racing_for_one_slot_get_exactly_one_hold() {
    let s = setup().await;
    let responses = join_all((0..16).map(|_| hold_slot(&s.app, &s.clinic, T0, 30))).await;
    let mut created = 0;
    for r in responses {
        match r.status().as_u16() {
            201 => created += 1,
            _ => {
                expect_error(r, 409, "slot_unavailable").await;
            }
        }
    }
    assert_eq!(created, 1);
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM appointment_holds").fetch_one(&s.app.db).await.unwrap();
    assert_eq!(held, 1, "the losers' holds rolled back");
}

#[tokio::test]
async fn a_live_hold_blocks_bookings_and_holds_and_leaves_availability_until_released() {
    let s = setup().await;
    assert!(s.free_starts().await.contains(&starts(T0)));
    let hold = s.hold(T0, 30).await;
    assert_eq!(hold["status"], "held");
    assert_eq!(hold["appointmentId"], Value::Null);
    for field in ["id", "providerId", "locationId", "startsAt", "endsAt", "expiresAt", "createdAt"] {
        assert!(!hold[field].is_null(), "{field} missing: {hold}");
    }

    // Overlapping, not equal: still the same slot for the provider.
    expect_error(s.booking(T0_PLUS_15, 30).await, 409, "slot_unavailable").await;
    expect_error(hold_slot(&s.app, &s.clinic, T0_PLUS_15, 30).await, 409, "slot_unavailable").await;
    let free = s.free_starts().await;
    assert!(!free.contains(&starts(T0)) && !free.contains(&starts(T0_PLUS_15)), "{free:?}");
    assert!(free.contains(&starts(T0_PLUS_30)), "the next slot stays free: {free:?}");

    // Released: free at once, for a booking without a hold.
    let r = s.app.delete(&format!("/appointment-holds/{}", id(&hold))).await;
    assert_eq!(r.status(), 204);
    assert_eq!(s.hold_status(id(&hold)).await, "released");
    assert!(s.free_starts().await.contains(&starts(T0)));
    expect_json(s.booking(T0, 30).await, 201).await;
    // And now the booking blocks holds.
    expect_error(hold_slot(&s.app, &s.clinic, T0, 30).await, 409, "slot_unavailable").await;
}

#[tokio::test]
async fn an_expired_hold_blocks_nothing_and_no_sweeper_ran() {
    let s = setup().await;
    let first = s.hold(T0, 30).await;
    let second = s.hold(T0_PLUS_30, 30).await;
    expire_hold(&s.app.db, id(&first)).await;
    expire_hold(&s.app.db, id(&second)).await;

    // Its claim is still there (nothing swept it), yet it reads expired and blocks nothing.
    assert_eq!(s.claims_of(id(&first)).await, 1);
    assert_eq!(s.hold_status(id(&first)).await, "expired");
    let free = s.free_starts().await;
    assert!(free.contains(&starts(T0)) && free.contains(&starts(T0_PLUS_30)), "{free:?}");

    // Another hold takes the first slot, a plain booking the second; each clears the claim.
    s.hold(T0, 30).await;
    assert_eq!(s.claims_of(id(&first)).await, 0);
    expect_json(s.booking(T0_PLUS_30, 30).await, 201).await;
    assert_eq!(s.claims_of(id(&second)).await, 0);
    assert_eq!(s.hold_status(id(&second)).await, "expired");
    // An expired hold has nothing to release; it stays expired.
    let r = s.app.delete(&format!("/appointment-holds/{}", id(&second))).await;
    assert_eq!(r.status(), 204);
    assert_eq!(s.hold_status(id(&second)).await, "expired");
}

#[tokio::test]
async fn every_writer_of_appointments_keeps_the_claims_in_step() {
    let s = setup().await;
    // Written straight to the table, as the demo seed and the benchmark's generator do.
    let t0 = T0.parse().unwrap();
    let seeded = seed_appointment(&s.app.db, s.app.org_id, &s.clinic, s.patient, t0, 30, "confirmed").await;
    expect_error(hold_slot(&s.app, &s.clinic, T0, 30).await, 409, "slot_unavailable").await;
    // Cancelled: the slot is free for a hold.
    let r = s.app.post(&format!("/appointments/{seeded}/cancel"), &json!({})).await;
    expect_json(r, 200).await;
    s.hold(T0, 30).await;

    // A reschedule cannot land on a live hold, and changes nothing when refused.
    let booked = id(&expect_json(s.booking(T0_PLUS_30, 30).await, 201).await);
    let reschedule = format!("/appointments/{booked}/reschedule");
    let r = s.app.post(&reschedule, &json!({"startsAt": T0_PLUS_15, "durationMinutes": 30})).await;
    expect_error(r, 409, "slot_unavailable").await;
    let after = expect_json(s.app.get(&format!("/appointments/{booked}")).await, 200).await;
    assert_eq!(after["startsAt"], starts(T0_PLUS_30));
    // Moved elsewhere, it gives its old slot back and claims the new one.
    let later = "2030-03-04T16:00:00Z";
    expect_json(s.app.post(&reschedule, &json!({"startsAt": later, "durationMinutes": 30})).await, 200).await;
    s.hold(T0_PLUS_30, 30).await;
    expect_error(hold_slot(&s.app, &s.clinic, later, 30).await, 409, "slot_unavailable").await;
}

/// Bookings and holds racing for one slot that a lapsed hold still claims, round after round:
/// one wins each round and every loser is `409 slot_unavailable`, never a `503` from two inserts
/// that wait for each other while checking the exclusion constraint (a deadlock PostgreSQL
/// breaks after a second). Timing decides whether a round meets that case; 24 rounds did often.
#[tokio::test]
async fn every_loser_of_a_race_is_409_never_503() {
    let s = setup().await;
    // Every quarter hour from 09:00 New York time on T0's day: 24 rounds.
    let nine = chrono::DateTime::parse_from_rfc3339(T0).unwrap().to_utc();
    let starts: Vec<String> = (0..24)
        .map(|i| (nine + chrono::Duration::minutes(15 * i)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .collect();
    for starts_at in starts.iter().map(String::as_str) {
        // A lapsed hold in the way, as a widget leaves behind: every writer first deletes its
        // claim, which widens the window in which two inserts can meet.
        let lapsed = s.hold(starts_at, 15).await;
        expire_hold(&s.app.db, lapsed["id"].as_i64().unwrap()).await;
        let bookings = (0..8).map(|_| s.booking(starts_at, 15));
        let holds = (0..8).map(|_| hold_slot(&s.app, &s.clinic, starts_at, 15));
        let (bookings, holds) = tokio::join!(join_all(bookings), join_all(holds));
        let statuses: Vec<u16> = bookings.iter().chain(holds.iter()).map(|r| r.status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|&&c| c == 201).count(), 1, "{starts_at}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|&&c| c == 409).count(), 15, "{starts_at}: {statuses:?}");
    }
}
