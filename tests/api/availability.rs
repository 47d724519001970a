//! `GET /providers/{id}/availability` and `GET /providers/{id}/schedule`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::America::{Los_Angeles, New_York};
use chrono_tz::Tz;
use klinivo::auth::Permission;
use klinivo::clinic::import::{ClinicFile, ImportSummary};
use reqwest::Method;
use serde_json::{json, Value};

use crate::clinic::{hours, import_file, location, provider};
use crate::helpers::{expect_error, expect_json, seed_appointment, seed_clinic, seed_patient, SeededClinic, TestApp};

type Slot = (DateTime<Utc>, DateTime<Utc>, i64);

fn local(tz: Tz, date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    tz.from_local_datetime(&date.and_hms_opt(h, m, 0).unwrap()).single().unwrap().with_timezone(&Utc)
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The first `weekday` at least `days` days from today.
fn next(weekday: Weekday, days: i64) -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(days);
    while d.weekday() != weekday {
        d += Duration::days(1);
    }
    d
}

/// The next New York change in `month` (the `nth` Sunday) that is at least 3 days away, so
/// that the Friday before it is still in the future: March (2nd Sunday) or November (1st).
fn next_change(month: u32, nth: u32) -> NaiveDate {
    let soon = Utc::now().date_naive() + Duration::days(3);
    (Utc::now().year()..)
        .map(|y| NaiveDate::from_weekday_of_month_opt(y, month, Weekday::Sun, nth as u8).unwrap())
        .find(|d| *d - Duration::days(2) >= soon)
        .unwrap()
}

async fn slots(app: &TestApp, provider_id: i64, query: &str) -> Vec<Slot> {
    let body = expect_json(app.get(&format!("/providers/{provider_id}/availability?{query}")).await, 200).await;
    assert_eq!(body["providerId"], provider_id);
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s: &Value| {
            assert!(s["startsAt"].as_str().unwrap().ends_with('Z'), "UTC: {s}");
            (
                utc(s["startsAt"].as_str().unwrap()),
                utc(s["endsAt"].as_str().unwrap()),
                s["locationId"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn starts_on(slots: &[Slot], date: NaiveDate, tz: Tz) -> Vec<DateTime<Utc>> {
    slots.iter().filter(|s| s.0.with_timezone(&tz).date_naive() == date).map(|s| s.0).collect()
}

#[tokio::test]
async fn slots_fill_working_hours_in_the_locations_time_zone() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let monday = next(Weekday::Mon, 7);
    let sunday = monday + Duration::days(6);
    let hourly = slots(&app, clinic.provider_id, &format!("from={monday}&to={sunday}&durationMinutes=60")).await;
    assert_eq!(hourly.len(), 5 * 8, "Monday to Friday, 09:00-17:00, none at the weekend");
    assert_eq!(hourly[0], (local(New_York, monday, 9, 0), local(New_York, monday, 10, 0), clinic.location_id));
    let friday = monday + Duration::days(4);
    assert_eq!(hourly.last().unwrap().1, local(New_York, friday, 17, 0));
    assert!(hourly.windows(2).all(|w| w[0].0 < w[1].0), "ordered by start");

    // The default duration is 30 minutes.
    let body = expect_json(
        app.get(&format!("/providers/{}/availability?from={monday}&to={monday}", clinic.provider_id)).await,
        200,
    )
    .await;
    assert_eq!(body["durationMinutes"], 30);
    assert_eq!(body["data"].as_array().unwrap().len(), 16);
    // Slots step by the duration from the block start and must fit: 45 minutes → 09:00 … 15:45.
    let long = slots(&app, clinic.provider_id, &format!("from={monday}&to={monday}&durationMinutes=45")).await;
    assert_eq!(long.len(), 10);
    assert_eq!(long.last().unwrap().0, local(New_York, monday, 15, 45));
    assert!(long.iter().all(|s| s.1 - s.0 == Duration::minutes(45)));
    // Both ends inclusive: one day is from = to.
    assert!(slots(&app, clinic.provider_id, &format!("from={sunday}&to={sunday}")).await.is_empty());
}

#[tokio::test]
async fn booked_appointments_are_removed_and_cancelled_ones_are_not() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let other = seed_clinic(&app.db, app.org_id).await;
    let patient = seed_patient(&app.db, app.org_id).await;
    let day = next(Weekday::Tue, 7);
    let at = |h, m| local(New_York, day, h, m);
    seed_appointment(&app.db, app.org_id, &clinic, patient, at(10, 0), 30, "scheduled").await;
    seed_appointment(&app.db, app.org_id, &clinic, patient, at(13, 15), 45, "confirmed").await;
    seed_appointment(&app.db, app.org_id, &clinic, patient, at(15, 0), 30, "cancelled").await;
    seed_appointment(&app.db, app.org_id, &clinic, patient, at(16, 0), 30, "no_show").await;
    // Another provider's appointment does not block this one.
    seed_appointment(&app.db, app.org_id, &other, patient, at(9, 0), 60, "scheduled").await;
    let free = starts_on(&slots(&app, clinic.provider_id, &format!("from={day}&to={day}")).await, day, New_York);
    let taken = [at(10, 0), at(13, 0), at(13, 30)];
    for t in taken {
        assert!(!free.contains(&t), "{t} is booked");
    }
    for t in [at(9, 0), at(9, 30), at(10, 30), at(12, 30), at(14, 0), at(15, 0), at(16, 0), at(16, 30)] {
        assert!(free.contains(&t), "{t} is free");
    }
    assert_eq!(free.len(), 16 - taken.len());
}

#[tokio::test]
async fn an_appointment_at_another_location_blocks_the_provider() {
    let app = TestApp::spawn().await;
    let clinic = two_coast_clinic(&app).await;
    let (ny, la, p) = (clinic.location_ids["east"], clinic.location_ids["west"], clinic.provider_ids["both"]);
    let patient = seed_patient(&app.db, app.org_id).await;
    let monday = next(Weekday::Mon, 7);
    // Monday: 09:00-12:00 New York and 09:00-12:00 Los Angeles (12:00-15:00 New York).
    let all = slots(&app, p, &format!("from={monday}&to={monday}&durationMinutes=60")).await;
    assert_eq!(all.len(), 6);
    assert_eq!(all.iter().filter(|s| s.2 == ny).count(), 3);
    assert_eq!(all[3], (local(Los_Angeles, monday, 9, 0), local(Los_Angeles, monday, 10, 0), la));
    // Booked in New York 11:30-12:30 ET: blocks the 11:00 ET slot and the 09:00 PT (12:00 ET) one.
    let at_ny = SeededClinic { location_id: ny, provider_id: p };
    seed_appointment(&app.db, app.org_id, &at_ny, patient, local(New_York, monday, 11, 30), 60, "confirmed").await;
    let after = slots(&app, p, &format!("from={monday}&to={monday}&durationMinutes=60")).await;
    assert_eq!(after.len(), 4);
    assert!(!after.iter().any(|s| s.0 == local(Los_Angeles, monday, 9, 0)));

    // locationId filter.
    let west = slots(&app, p, &format!("from={monday}&to={monday}&durationMinutes=60&locationId={la}")).await;
    assert_eq!(west.len(), 2);
    assert!(west.iter().all(|s| s.2 == la));
    let elsewhere = clinic.location_ids["nowhere"];
    let body = expect_error(
        app.get(&format!("/providers/{p}/availability?from={monday}&to={monday}&locationId={elsewhere}")).await,
        400,
        "validation_error",
    )
    .await;
    assert_eq!(body["details"][0]["field"], "locationId");
}

/// Provider "both" works Mondays in New York and Los Angeles; "sunday" works Sundays 00:00-04:00
/// in New York (across the changes); "idle" is inactive; "nowhere" is a location nobody uses.
async fn two_coast_clinic(app: &TestApp) -> ImportSummary {
    let mut idle = provider("idle", &["east"], vec![hours("east", &[1, 2, 3, 4, 5], "09:00", "17:00")]);
    idle.active = false;
    let file = ClinicFile {
        version: Some(1),
        locations: vec![
            location("east", "America/New_York"),
            location("west", "America/Los_Angeles"),
            location("nowhere", "UTC"),
        ],
        providers: vec![
            provider(
                "both",
                &["east", "west"],
                vec![hours("east", &[1], "09:00", "12:00"), hours("west", &[1], "09:00", "12:00")],
            ),
            provider(
                "sunday",
                &["east"],
                vec![hours("east", &[7], "00:00", "04:00"), hours("east", &[5, 1], "09:00", "17:00")],
            ),
            idle,
            provider("no-hours", &["west"], vec![]),
        ],
    };
    import_file(app, &file).await
}

#[tokio::test]
async fn march_change_in_new_york() {
    let app = TestApp::spawn().await;
    let clinic = two_coast_clinic(&app).await;
    let p = clinic.provider_ids["sunday"];
    let sunday = next_change(3, 2);
    let (friday, monday) = (sunday - Duration::days(2), sunday + Duration::days(1));
    let all = slots(&app, p, &format!("from={friday}&to={monday}&durationMinutes=60")).await;
    let ymd = |d: NaiveDate, h: u32| Utc.with_ymd_and_hms(d.year(), d.month(), d.day(), h, 0, 0).unwrap();
    // Friday 09:00 EST = 14:00Z; Monday 09:00 EDT = 13:00Z; 8 slots each day.
    let fri = starts_on(&all, friday, New_York);
    assert_eq!((fri.len(), fri[0]), (8, ymd(friday, 14)));
    let mon = starts_on(&all, monday, New_York);
    assert_eq!((mon.len(), mon[0]), (8, ymd(monday, 13)));
    assert_eq!(all.last().unwrap().1, ymd(monday, 21));
    // Sunday 00:00-04:00 local loses the skipped hour: 00:00 EST (05:00Z) to 04:00 EDT (08:00Z).
    let sun = starts_on(&all, sunday, New_York);
    assert_eq!(sun, vec![ymd(sunday, 5), ymd(sunday, 6), ymd(sunday, 7)]);
}

#[tokio::test]
async fn november_change_in_new_york() {
    let app = TestApp::spawn().await;
    let clinic = two_coast_clinic(&app).await;
    let p = clinic.provider_ids["sunday"];
    let sunday = next_change(11, 1);
    let (friday, monday) = (sunday - Duration::days(2), sunday + Duration::days(1));
    let all = slots(&app, p, &format!("from={friday}&to={monday}&durationMinutes=60")).await;
    let ymd = |d: NaiveDate, h: u32| Utc.with_ymd_and_hms(d.year(), d.month(), d.day(), h, 0, 0).unwrap();
    // Friday 09:00 EDT = 13:00Z; Monday 09:00 EST = 14:00Z.
    let fri = starts_on(&all, friday, New_York);
    assert_eq!((fri.len(), fri[0]), (8, ymd(friday, 13)));
    let mon = starts_on(&all, monday, New_York);
    assert_eq!((mon.len(), mon[0]), (8, ymd(monday, 14)));
    assert_eq!(all.last().unwrap().1, ymd(monday, 22));
    // Sunday 00:00-04:00 local gains the repeated hour: 00:00 EDT (04:00Z) to 04:00 EST (09:00Z).
    let sun: Vec<_> = all.iter().filter(|s| s.0 >= ymd(sunday, 4) && s.1 <= ymd(sunday, 9)).collect();
    assert_eq!(sun.len(), 5);
}

#[tokio::test]
async fn range_and_duration_are_validated() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let p = clinic.provider_id;
    let from = next(Weekday::Mon, 2);
    let get = |q: String| {
        let app = &app;
        async move { app.get(&format!("/providers/{p}/availability?{q}")).await }
    };
    // `to` at most 31 days after `from`.
    expect_json(get(format!("from={from}&to={}", from + Duration::days(31))).await, 200).await;
    let body =
        expect_error(get(format!("from={from}&to={}", from + Duration::days(32))).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "to");
    let body =
        expect_error(get(format!("from={from}&to={}", from - Duration::days(1))).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "to");
    // durationMinutes 5-480.
    for bad in ["4", "481", "0", "-30", "abc"] {
        let body =
            expect_error(get(format!("from={from}&to={from}&durationMinutes={bad}")).await, 400, "validation_error")
                .await;
        assert_eq!(body["details"][0]["field"], "durationMinutes", "{bad}");
    }
    assert_eq!(slots(&app, p, &format!("from={from}&to={from}&durationMinutes=5")).await.len(), 96);
    assert_eq!(slots(&app, p, &format!("from={from}&to={from}&durationMinutes=480")).await.len(), 1);
    // Dates are required and must be dates.
    let body = expect_error(get(format!("to={from}")).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "from");
    let body = expect_error(get(format!("from=2027-13-01&to={from}")).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "from");
    expect_error(get(format!("from={from}&to={from}&locationId=x")).await, 400, "validation_error").await;
    expect_error(get(format!("from={from}&to={from}&limit=5")).await, 400, "validation_error").await;
}

#[tokio::test]
async fn past_slots_and_inactive_providers_offer_nothing() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let today = Utc::now().date_naive();
    let now = Utc::now();
    let all = slots(
        &app,
        clinic.provider_id,
        &format!("from={}&to={}", today - Duration::days(10), today + Duration::days(3)),
    )
    .await;
    assert!(all.iter().all(|s| s.0 >= now - Duration::seconds(5)), "no slot in the past");
    let week_ago = today - Duration::days(8);
    assert!(slots(&app, clinic.provider_id, &format!("from={week_ago}&to={}", week_ago + Duration::days(6)))
        .await
        .is_empty());

    let summary = two_coast_clinic(&app).await;
    let monday = next(Weekday::Mon, 7);
    assert!(slots(&app, summary.provider_ids["idle"], &format!("from={monday}&to={monday}")).await.is_empty());
    assert!(slots(&app, summary.provider_ids["no-hours"], &format!("from={monday}&to={monday}")).await.is_empty());
}

#[tokio::test]
async fn schedule_lists_weekly_hours_per_location() {
    let app = TestApp::spawn().await;
    let clinic = two_coast_clinic(&app).await;
    let (east, west) = (clinic.location_ids["east"], clinic.location_ids["west"]);
    let p = clinic.provider_ids["both"];
    let body = expect_json(app.get(&format!("/providers/{p}/schedule")).await, 200).await;
    assert_eq!(
        body,
        json!({"providerId": p, "data": [
            {"locationId": east, "timezone": "America/New_York", "weekday": 1, "startTime": "09:00", "endTime": "12:00"},
            {"locationId": west, "timezone": "America/Los_Angeles", "weekday": 1, "startTime": "09:00", "endTime": "12:00"},
        ]})
    );
    let sunday =
        expect_json(app.get(&format!("/providers/{}/schedule", clinic.provider_ids["sunday"])).await, 200).await;
    let order: Vec<i64> = sunday["data"].as_array().unwrap().iter().map(|h| h["weekday"].as_i64().unwrap()).collect();
    assert_eq!(order, vec![1, 5, 7], "ordered by location, weekday, start");
    let none =
        expect_json(app.get(&format!("/providers/{}/schedule", clinic.provider_ids["no-hours"])).await, 200).await;
    assert_eq!(none["data"], json!([]));
}

#[tokio::test]
async fn schedule_and_availability_need_read_appointments() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app.db, app.org_id).await;
    let day = next(Weekday::Mon, 7);
    let paths = [
        format!("/providers/{}/schedule", clinic.provider_id),
        format!("/providers/{}/availability?from={day}&to={day}", clinic.provider_id),
    ];
    let without = app.key_with(&[Permission::ReadProviders, Permission::ReadPatients]).await;
    let with = app.key_with(&[Permission::ReadAppointments]).await;
    for path in &paths {
        let body = expect_error(
            app.request_as(&without, Method::GET, path).send().await.unwrap(),
            403,
            "insufficient_permission",
        )
        .await;
        assert!(body["message"].as_str().unwrap().contains("READ_APPOINTMENTS"));
        expect_json(app.request_as(&with, Method::GET, path).send().await.unwrap(), 200).await;
    }
}

#[tokio::test]
async fn another_organizations_provider_is_not_found() {
    let app = TestApp::spawn().await;
    let (other_org, other_key) = app.other_org().await;
    let theirs = seed_clinic(&app.db, other_org).await;
    let day = next(Weekday::Mon, 7);
    for path in [
        format!("/providers/{}/schedule", theirs.provider_id),
        format!("/providers/{}/availability?from={day}&to={day}", theirs.provider_id),
        format!("/providers/{}/availability?from={day}&to={day}", i64::MAX),
        format!("/providers/{}/schedule", 0),
    ] {
        expect_error(app.get(&path).await, 404, "not_found").await;
    }
    // Their own key sees it; our provider with their location id is a 400, not a leak.
    expect_json(
        app.request_as(&other_key, Method::GET, &format!("/providers/{}/schedule", theirs.provider_id))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let ours = seed_clinic(&app.db, app.org_id).await;
    let path =
        format!("/providers/{}/availability?from={day}&to={day}&locationId={}", ours.provider_id, theirs.location_id);
    expect_error(app.get(&path).await, 400, "validation_error").await;
}
