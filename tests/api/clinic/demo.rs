//! `clinic::demo`: the demo clinic has what the contract promises.

use chrono::{DateTime, Duration, Utc};
use klinivo::clinic::demo::{self, DemoError};
use serde_json::Value;

use super::{all_pages, ids};
use crate::helpers::{expect_json, TestApp};

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).bind(app.org_id).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn the_demo_clinic_has_what_the_contract_promises() {
    let app = TestApp::spawn().await;
    let summary = demo::seed(&app.db, app.org_id).await.unwrap();
    assert_eq!(summary.organization_id, app.org_id);

    // At least 2 locations in different time zones.
    let locations = all_pages(&app, &app.key, "/locations", 50).await;
    assert!(locations.len() >= 2);
    let mut zones: Vec<&str> = locations.iter().map(|l| l["timezone"].as_str().unwrap()).collect();
    zones.sort();
    zones.dedup();
    assert!(zones.len() >= 2, "{zones:?}");

    // 5 active providers, each with weekday working hours.
    let providers = all_pages(&app, &app.key, "/providers", 50).await;
    assert_eq!(providers.len(), 5);
    for p in &providers {
        assert_eq!(p["active"], true);
        assert!(!p["locationIds"].as_array().unwrap().is_empty());
        let schedule = expect_json(app.get(&format!("/providers/{}/schedule", p["id"])).await, 200).await;
        let days: Vec<i64> =
            schedule["data"].as_array().unwrap().iter().map(|h| h["weekday"].as_i64().unwrap()).collect();
        assert!(!days.is_empty() && days.iter().all(|d| (1..=5).contains(d)), "weekdays only: {days:?}");
    }

    // ~50 patients, fictional, with contact details.
    let o = "organization_id = $1";
    assert_eq!(scalar(&app, &format!("SELECT count(*) FROM patients WHERE {o}")).await, 50);
    assert_eq!(
        scalar(&app, &format!("SELECT count(*) FROM patients WHERE {o} AND email LIKE '%@example.com'")).await,
        50
    );
    // The README's first search finds the demo's Garcías, with or without the accent; and the
    // demo's search text is folded like the API's.
    let garcias = ["Abigail García", "Ingrid García"];
    for (q, expected) in
        [("garc", &garcias[..]), ("GARCIA", &garcias), ("garcía", &garcias), ("Lucía", &["Lucia Whitaker"])]
    {
        let found = all_pages(&app, &app.key, &format!("/patients?q={q}"), 5).await;
        let names: Vec<String> = found
            .iter()
            .map(|p| format!("{} {}", p["firstName"].as_str().unwrap(), p["lastName"].as_str().unwrap()))
            .collect();
        assert_eq!(names, expected, "q={q}");
    }
    assert_eq!(scalar(&app, &format!("SELECT count(*) FROM patients WHERE {o} AND search_stale")).await, 0);

    // Upcoming appointments over the coming weeks, and past ones in every final state.
    let count = |status: &str, when: &str| {
        format!("SELECT count(*) FROM appointments WHERE {o} AND status = '{status}' AND {when}")
    };
    let future = "starts_at > now()";
    let past = "ends_at <= now()";
    assert!(scalar(&app, &count("scheduled", future)).await > 20);
    assert!(scalar(&app, &count("confirmed", future)).await > 10);
    assert!(scalar(&app, &count("cancelled", future)).await > 0);
    let completed = scalar(&app, &count("completed", past)).await;
    assert!(completed > 50);
    assert!(scalar(&app, &count("cancelled", past)).await > 0);
    assert!(scalar(&app, &count("no_show", past)).await > 0);
    assert_eq!(scalar(&app, &format!("SELECT count(*) FROM appointments WHERE {o} AND status IN ('completed', 'no_show') AND ends_at > now()")).await, 0);
    assert_eq!(scalar(&app, &format!("SELECT count(*) FROM appointments WHERE {o} AND status IN ('scheduled', 'confirmed') AND starts_at < now()")).await, 0);
    let latest =
        scalar(&app, &format!("SELECT extract(epoch FROM max(starts_at) - now())::bigint FROM appointments WHERE {o}"))
            .await;
    assert!(latest > Duration::days(14).num_seconds(), "appointments reach weeks ahead");

    // Every completed appointment has an ended consultation with a SOAP note; many have prescriptions.
    let ended = scalar(
        &app,
        &format!(
            "SELECT count(*) FROM consultations c JOIN appointments a ON a.id = c.appointment_id
         WHERE c.{o} AND c.status = 'ended' AND c.ended_at > c.started_at AND a.status = 'completed'
           AND c.patient_id = a.patient_id AND c.provider_id = a.provider_id"
        ),
    )
    .await;
    assert_eq!(ended, completed);
    assert_eq!(
        scalar(&app, &format!("SELECT count(DISTINCT consultation_id) FROM soap_notes WHERE {o}")).await,
        completed
    );
    // Notes in each state: signed, a draft awaiting signature, one amended with two versions;
    // as the API shows them.
    let states = &summary.clinical.soap_note_states;
    assert_eq!((states.get("draft"), states.get("amended")), (Some(&1), Some(&1)), "{states:?}");
    assert_eq!(states.get("signed").copied().unwrap_or(0) as i64, completed - 2);
    let versions = |status: &str, version: i32| {
        format!("SELECT count(*) FROM soap_note_versions WHERE {o} AND status = '{status}' AND version = {version}")
    };
    assert_eq!(scalar(&app, &versions("draft", 1)).await, 1);
    assert_eq!(scalar(&app, &versions("signed", 2)).await, 1);
    let amended: (i64, i64) =
        sqlx::query_as("SELECT consultation_id, id FROM soap_notes WHERE organization_id = $1 AND current_version = 2")
            .bind(app.org_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let note = expect_json(app.get(&format!("/consultations/{}/soap-notes/{}", amended.0, amended.1)).await, 200).await;
    assert_eq!((note["status"].as_str(), note["version"].as_i64()), (Some("signed"), Some(2)));
    assert!(note["amendmentReason"].is_string());
    assert_eq!(note["versions"].as_array().unwrap().len(), 1);
    assert_ne!(note["plan"], note["versions"][0]["plan"]);
    assert!(scalar(&app, &format!("SELECT count(*) FROM prescriptions WHERE {o}")).await > completed / 3);
    assert_eq!(
        scalar(&app, &format!("SELECT count(*) FROM consultations WHERE {o} AND status = 'in_progress'")).await,
        0
    );

    // Intake forms in each state, consistent with it.
    for (status, rule) in [
        ("pending", "started_at IS NULL AND completed_at IS NULL AND answers IS NULL"),
        ("started", "started_at IS NOT NULL AND completed_at IS NULL AND answers IS NULL"),
        ("completed", "started_at < completed_at AND jsonb_typeof(answers) = 'object'"),
    ] {
        let all = scalar(&app, &format!("SELECT count(*) FROM intake_forms WHERE {o} AND status = '{status}'")).await;
        let ok =
            scalar(&app, &format!("SELECT count(*) FROM intake_forms WHERE {o} AND status = '{status}' AND {rule}"))
                .await;
        assert!(all >= 2, "a few {status} intake forms");
        assert_eq!(all, ok, "{status} forms are consistent");
    }
    assert_eq!(
        summary.clinical.appointments.values().sum::<usize>() as i64,
        scalar(&app, &format!("SELECT count(*) FROM appointments WHERE {o}")).await
    );
}

#[tokio::test]
async fn demo_appointments_sit_inside_working_hours_and_block_availability() {
    let app = TestApp::spawn().await;
    demo::seed(&app.db, app.org_id).await.unwrap();
    let providers = all_pages(&app, &app.key, "/providers", 50).await;
    // Local dates: from yesterday (UTC) covers the evening of every US location's "today".
    let today = Utc::now().date_naive() - Duration::days(1);
    let to = today + Duration::days(14);
    for id in ids(&providers) {
        // The provider's appointments in the next two weeks, active ones only.
        let rows: Vec<(DateTime<Utc>, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT starts_at, ends_at, status FROM appointments WHERE provider_id = $1 AND starts_at > now()
               AND starts_at < now() + interval '12 days' ORDER BY starts_at",
        )
        .bind(id)
        .fetch_all(&app.db)
        .await
        .unwrap();
        let active: Vec<_> = rows.iter().filter(|r| r.2 == "scheduled" || r.2 == "confirmed").collect();
        assert!(!active.is_empty(), "provider {id} has upcoming appointments");
        // With the booked ones put back, every appointment is a slot of the provider's hours:
        // the 30-minute grid of free slots plus the booked ones covers them exactly.
        let free = expect_json(app.get(&format!("/providers/{id}/availability?from={today}&to={to}")).await, 200).await;
        let free: Vec<(DateTime<Utc>, DateTime<Utc>)> = free["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s: &Value| {
                (s["startsAt"].as_str().unwrap().parse().unwrap(), s["endsAt"].as_str().unwrap().parse().unwrap())
            })
            .collect();
        for (s, e, _) in &active {
            assert!(free.iter().all(|(fs, fe)| fe <= s || fs >= e), "a booked slot is not offered");
        }
        // Cancelled appointments do not block: their slot is offered again.
        for (s, _, _) in rows.iter().filter(|r| r.2 == "cancelled") {
            assert!(
                free.iter().any(|(fs, _)| fs == s) || active.iter().any(|a| a.0 == *s),
                "cancelled slot {s} offered"
            );
        }
    }
}

#[tokio::test]
async fn seeding_twice_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    demo::seed(&app.db, app.org_id).await.unwrap();
    let before: i64 = scalar(&app, "SELECT count(*) FROM appointments WHERE organization_id = $1").await;
    let err = demo::seed(&app.db, app.org_id).await.unwrap_err();
    assert!(matches!(err, DemoError::AlreadySeeded(_)), "{err}");
    assert_eq!(scalar(&app, "SELECT count(*) FROM appointments WHERE organization_id = $1").await, before);
    let err = demo::seed(&app.db, uuid::Uuid::new_v4()).await.unwrap_err();
    assert!(matches!(err, DemoError::UnknownOrganization(_)), "{err}");
}

#[tokio::test]
async fn a_new_demo_organization_gets_the_whole_clinic() {
    let app = TestApp::spawn().await;
    let summary = demo::create_organization(&app.db, "Another Demo").await.unwrap();
    assert_ne!(summary.organization_id, app.org_id);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM providers WHERE organization_id = $1")
        .bind(summary.organization_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(summary.patients, 50);
    // The server's first start uses the same seeding.
    let org = klinivo::cli::demo_org_with_key(&app.db).await.unwrap().0.organization_id;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM consultations WHERE organization_id = $1")
        .bind(org)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(n > 0);
}
