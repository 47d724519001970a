//! `clinic::import`: idempotence, updates, and every validation error.

use klinivo::clinic::import::{self, ClinicFile, Counts, ImportError};
use uuid::Uuid;

use super::{example, hours, import_file, location, provider};
use crate::helpers::{expect_json, seed_appointment, seed_patient, SeededClinic, TestApp};

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE organization_id = $1"))
        .bind(app.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Everything the API shows about the clinic, with timestamps.
async fn snapshot(app: &TestApp) -> (serde_json::Value, serde_json::Value, Vec<serde_json::Value>) {
    let locations = expect_json(app.get("/locations").await, 200).await;
    let providers = expect_json(app.get("/providers").await, 200).await;
    let mut schedules = Vec::new();
    for p in providers["data"].as_array().unwrap() {
        schedules.push(expect_json(app.get(&format!("/providers/{}/schedule", p["id"])).await, 200).await);
    }
    (locations, providers, schedules)
}

#[tokio::test]
async fn importing_the_same_file_twice_changes_nothing() {
    let app = TestApp::spawn().await;
    let first = import_file(&app, &example()).await;
    assert_eq!(first.locations, Counts { created: 2, updated: 0, unchanged: 0 });
    assert_eq!(first.providers, Counts { created: 5, updated: 0, unchanged: 0 });
    assert_eq!(first.location_ids.len(), 2);
    assert_eq!(first.provider_ids.len(), 5);
    let before = snapshot(&app).await;
    let hour_ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM working_hours ORDER BY id").fetch_all(&app.db).await.unwrap();

    let second = import_file(&app, &example()).await;
    assert!(second.changed_nothing());
    assert_eq!(second.locations, Counts { created: 0, updated: 0, unchanged: 2 });
    assert_eq!(second.providers, Counts { created: 0, updated: 0, unchanged: 5 });
    assert_eq!(second.location_ids, first.location_ids);
    assert_eq!(second.provider_ids, first.provider_ids);
    assert_eq!(snapshot(&app).await, before, "nothing moved, not even updatedAt");
    let hour_ids_after: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM working_hours ORDER BY id").fetch_all(&app.db).await.unwrap();
    assert_eq!(hour_ids_after, hour_ids, "working hours were not rewritten");
}

#[tokio::test]
async fn changes_update_only_what_changed() {
    let app = TestApp::spawn().await;
    let first = import_file(&app, &example()).await;
    let (_, providers_before, _) = snapshot(&app).await;
    let mut file = example();
    file.locations[1].name = "Klinivo Health Mission (renamed)".into();
    // New hours for one provider; a new location for another; a field change for a third.
    file.providers[0].working_hours = vec![hours("midtown", &[1, 3, 5], "10:00", "14:00")];
    file.providers[3].locations.push("midtown".into());
    file.providers[4].title = Some("MD, FAAD".into());
    let second = import_file(&app, &file).await;
    assert_eq!(second.locations, Counts { created: 0, updated: 1, unchanged: 1 });
    assert_eq!(second.providers, Counts { created: 0, updated: 3, unchanged: 2 });

    let mission = first.location_ids["mission"];
    let loc = expect_json(app.get(&format!("/locations/{mission}")).await, 200).await;
    assert_eq!(loc["name"], "Klinivo Health Mission (renamed)");
    let chen = first.provider_ids["amelia-chen"];
    let schedule = expect_json(app.get(&format!("/providers/{chen}/schedule")).await, 200).await;
    let days: Vec<i64> = schedule["data"].as_array().unwrap().iter().map(|h| h["weekday"].as_i64().unwrap()).collect();
    assert_eq!(days, vec![1, 3, 5]);
    assert_eq!(schedule["data"][0]["startTime"], "10:00");
    let alvarez = expect_json(app.get(&format!("/providers/{}", first.provider_ids["sofia-alvarez"])).await, 200).await;
    let mut expected = vec![first.location_ids["midtown"], mission];
    expected.sort();
    assert_eq!(alvarez["locationIds"], serde_json::json!(expected));

    // updatedAt moved for exactly the three changed providers (hours and locations count).
    let (_, providers_after, _) = snapshot(&app).await;
    let moved: Vec<String> = providers_before["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(providers_after["data"].as_array().unwrap())
        .filter(|(b, a)| b["updatedAt"] != a["updatedAt"])
        .map(|(_, a)| a["lastName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(moved, vec!["Chen", "Alvarez", "Whitfield"]);

    // Removing a location that has no appointments works; hours there go with it.
    let mut file = file.clone();
    file.providers[3].locations.retain(|l| l != "midtown");
    let third = import_file(&app, &file).await;
    assert_eq!(third.providers.updated, 1);
    let alvarez = expect_json(app.get(&format!("/providers/{}", first.provider_ids["sofia-alvarez"])).await, 200).await;
    assert_eq!(alvarez["locationIds"], serde_json::json!([mission]));
}

#[tokio::test]
async fn a_location_with_appointments_cannot_be_removed_from_a_provider() {
    let app = TestApp::spawn().await;
    let first = import_file(&app, &example()).await;
    let clinic =
        SeededClinic { location_id: first.location_ids["midtown"], provider_id: first.provider_ids["priya-raman"] };
    let patient = seed_patient(&app.db, app.org_id).await;
    seed_appointment(&app.db, app.org_id, &clinic, patient, "2026-06-01T14:00:00Z".parse().unwrap(), 30, "cancelled")
        .await;
    let mut file = example();
    file.providers[2].locations = vec!["mission".into()];
    file.providers[2].working_hours.retain(|h| h.location == "mission");
    file.locations[0].name = "Renamed in the same import".into();
    let err = import::import(&app.db, app.org_id, &file).await.unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    assert_eq!(problems[0].path, "providers[2].locations");
    assert!(problems[0].message.contains("appointment") && problems[0].message.contains("\"midtown\""), "{err}");
    // Nothing of that import happened.
    let loc = expect_json(app.get(&format!("/locations/{}", first.location_ids["midtown"])).await, 200).await;
    assert_eq!(loc["name"], "Klinivo Health Midtown");
    let raman = expect_json(app.get(&format!("/providers/{}", clinic.provider_id)).await, 200).await;
    assert_eq!(raman["locationIds"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_file_may_use_locations_imported_before() {
    let app = TestApp::spawn().await;
    let first = ClinicFile { locations: vec![location("north", "America/Chicago")], ..Default::default() };
    import_file(&app, &first).await;
    let second = ClinicFile {
        providers: vec![provider("p1", &["north"], vec![hours("north", &[1], "09:00", "12:00")])],
        ..Default::default()
    };
    let summary = import_file(&app, &second).await;
    assert_eq!(summary.providers.created, 1);
    assert_eq!(summary.location_ids.keys().collect::<Vec<_>>(), vec!["north"]);
}

/// Asserts the import fails with exactly one problem at `path` mentioning `needle`, and that
/// nothing was written.
async fn rejected(app: &TestApp, file: &ClinicFile, path: &str, needle: &str) {
    let err = import::import(&app.db, app.org_id, file).await.unwrap_err();
    let problems = err.problems();
    assert!(
        problems.iter().any(|p| p.path == path && p.message.contains(needle)),
        "expected a problem at {path} mentioning {needle:?}, got: {err}"
    );
    assert!(err.to_string().contains(path), "the message names the path: {err}");
    for table in ["locations", "providers", "provider_locations", "working_hours"] {
        assert_eq!(count(app, table).await, 0, "{table} untouched after: {err}");
    }
}

fn valid() -> ClinicFile {
    ClinicFile {
        version: Some(1),
        locations: vec![location("a", "America/New_York"), location("b", "Europe/Berlin")],
        providers: vec![
            provider("p1", &["a"], vec![hours("a", &[1, 2, 3, 4, 5], "09:00", "17:00")]),
            provider("p2", &["a", "b"], vec![hours("b", &[6], "08:00", "12:00")]),
        ],
    }
}

#[tokio::test]
async fn each_validation_error_is_reported_with_its_path_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let mut f = valid();
    f.locations[0].timezone = "Mars/Olympus_Mons".into();
    rejected(&app, &f, "locations[0].timezone", "IANA").await;

    let mut f = valid();
    f.providers[0].working_hours[0].end_time = "08:00".into();
    rejected(&app, &f, "providers[0].workingHours[0].endTime", "after startTime").await;

    let mut f = valid();
    f.providers[1].locations.push("nowhere".into());
    rejected(&app, &f, "providers[1].locations", "unknown location key \"nowhere\"").await;

    let mut f = valid();
    f.providers[0].working_hours.push(hours("b", &[1], "09:00", "10:00"));
    rejected(&app, &f, "providers[0].workingHours[1].location", "not in this provider's locations").await;

    let mut f = valid();
    f.locations.push(location("a", "UTC"));
    rejected(&app, &f, "locations[2].key", "duplicate location key").await;

    let mut f = valid();
    f.providers.push(provider("p1", &[], vec![]));
    rejected(&app, &f, "providers[2].key", "duplicate provider key").await;

    let mut f = valid();
    f.providers[0].working_hours.push(hours("a", &[3], "16:00", "18:00"));
    rejected(&app, &f, "providers[0].workingHours[1]", "overlaps providers[0].workingHours[0]").await;

    let mut f = valid();
    f.providers[0].working_hours[0].weekdays = vec![1, 8];
    rejected(&app, &f, "providers[0].workingHours[0].weekdays[1]", "1 (Monday) to 7").await;

    let mut f = valid();
    f.providers[0].working_hours[0].start_time = "9am".into();
    rejected(&app, &f, "providers[0].workingHours[0].startTime", "HH:MM").await;

    let mut f = valid();
    f.locations[1].phone = Some("030 1234567".into());
    rejected(&app, &f, "locations[1].phone", "E.164").await;

    let mut f = valid();
    f.providers[1].email = Some("not-an-email".into());
    rejected(&app, &f, "providers[1].email", "email").await;

    let mut f = valid();
    f.providers[1].first_name = "  ".into();
    rejected(&app, &f, "providers[1].firstName", "empty").await;

    let mut f = valid();
    f.locations[0].key = "has spaces".into();
    f.providers.clear();
    rejected(&app, &f, "locations[0].key", "letters, digits").await;

    let mut f = valid();
    f.version = Some(2);
    rejected(&app, &f, "version", "unsupported").await;

    // Unknown organization.
    let err = import::import(&app.db, Uuid::new_v4(), &valid()).await.unwrap_err();
    assert!(matches!(err, ImportError::UnknownOrganization(_)), "{err}");
    assert_eq!(count(&app, "locations").await, 0);
}

#[tokio::test]
async fn several_problems_are_reported_at_once() {
    let mut f = valid();
    f.locations[0].timezone = "Nowhere/Special".into();
    f.providers[0].working_hours[0].end_time = "07:00".into();
    let problems = import::validate(&f).unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn parse_errors_name_the_field() {
    let unknown = br#"{"locations": [{"key": "a", "name": "A", "timezone": "UTC", "fax": "1"}]}"#;
    let err = import::parse(unknown).unwrap_err();
    assert_eq!(err.problems().len(), 1, "{err}");
    assert!(err.problems()[0].path.starts_with("locations[0]"), "{err}");
    assert!(err.to_string().contains("fax"), "{err}");
    let missing = br#"{"providers": [{"key": "p", "firstName": "A"}]}"#;
    assert!(import::parse(missing).unwrap_err().to_string().contains("lastName"));
    let wrong_type = br#"{"providers": [{"key": "p", "firstName": "A", "lastName": "B", "active": "yes"}]}"#;
    assert!(import::parse(wrong_type).unwrap_err().to_string().contains("providers[0].active"));
    assert!(matches!(import::parse(b"{not json"), Err(ImportError::Json(_))));
}
