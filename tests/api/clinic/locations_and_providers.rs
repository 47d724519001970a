//! `GET /locations`, `/locations/{id}`, `/providers`, `/providers/{id}`: shapes, filters,
//! pagination, `updatedSince`, permissions, tenancy.

use klinivo::auth::Permission;
use klinivo::clinic::import::{self, ClinicFile};
use reqwest::Method;
use serde_json::json;

use super::{all_pages, example, hours, ids, import_file, location, provider};
use crate::helpers::{expect_error, expect_json, TestApp};

#[tokio::test]
async fn locations_and_providers_read_back_as_imported() {
    let app = TestApp::spawn().await;
    let summary = import_file(&app, &example()).await;
    let midtown = summary.location_ids["midtown"];
    let mission = summary.location_ids["mission"];

    let list = expect_json(app.get("/locations").await, 200).await;
    assert_eq!(list["nextCursor"], serde_json::Value::Null);
    assert_eq!(ids(list["data"].as_array().unwrap()), vec![midtown, mission]);
    let one = expect_json(app.get(&format!("/locations/{midtown}")).await, 200).await;
    assert_eq!(one, list["data"][0]);
    assert_eq!(one["name"], "Klinivo Health Midtown");
    assert_eq!(one["timezone"], "America/New_York");
    assert_eq!(one["phone"], "+12125550143");
    assert_eq!(
        one["address"],
        json!({"line1": "245 West 38th Street", "line2": "Suite 400", "city": "New York", "region": "NY",
               "postalCode": "10018", "country": "US"})
    );
    assert!(one["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(one["updatedAt"].as_str().is_some());
    let sf = expect_json(app.get(&format!("/locations/{mission}")).await, 200).await;
    assert_eq!(sf["address"]["line2"], serde_json::Value::Null);

    let raman_id = summary.provider_ids["priya-raman"];
    let raman = expect_json(app.get(&format!("/providers/{raman_id}")).await, 200).await;
    for field in [
        "id",
        "firstName",
        "lastName",
        "title",
        "specialty",
        "email",
        "locationIds",
        "active",
        "createdAt",
        "updatedAt",
    ] {
        assert!(raman.get(field).is_some(), "missing {field}: {raman}");
    }
    assert_eq!(raman["firstName"], "Priya");
    assert_eq!(raman["title"], "NP");
    assert_eq!(raman["email"], "priya.raman@example.com");
    assert_eq!(raman["active"], true);
    assert_eq!(raman["locationIds"], json!([midtown, mission]));

    let providers = expect_json(app.get("/providers").await, 200).await;
    assert_eq!(providers["data"].as_array().unwrap().len(), 5);
    assert_eq!(providers["nextCursor"], serde_json::Value::Null);
}

#[tokio::test]
async fn provider_filters() {
    let app = TestApp::spawn().await;
    let summary = import_file(&app, &example()).await;
    let mut file = example();
    file.providers[1].active = false;
    import_file(&app, &file).await;
    let p = &summary.provider_ids;
    let get = |q: &'static str| {
        let app = &app;
        async move { ids(expect_json(app.get(&format!("/providers{q}")).await, 200).await["data"].as_array().unwrap()) }
    };
    let mission = summary.location_ids["mission"];
    let midtown = summary.location_ids["midtown"];
    let at = |l: i64| format!("/providers?locationId={l}");
    let at_mission = ids(expect_json(app.get(&at(mission)).await, 200).await["data"].as_array().unwrap());
    assert_eq!(at_mission, vec![p["priya-raman"], p["sofia-alvarez"], p["james-whitfield"]]);
    let at_midtown = ids(expect_json(app.get(&at(midtown)).await, 200).await["data"].as_array().unwrap());
    assert_eq!(at_midtown, vec![p["amelia-chen"], p["marcus-okafor"], p["priya-raman"]]);
    assert_eq!(get("?active=false").await, vec![p["marcus-okafor"]]);
    assert_eq!(get("?active=true").await.len(), 4);
    let both = ids(expect_json(app.get(&format!("/providers?locationId={midtown}&active=true")).await, 200).await
        ["data"]
        .as_array()
        .unwrap());
    assert_eq!(both, vec![p["amelia-chen"], p["priya-raman"]]);
    assert!(get("?locationId=999999").await.is_empty());

    expect_error(app.get("/providers?active=maybe").await, 400, "validation_error").await;
    expect_error(app.get("/providers?locationId=abc").await, 400, "validation_error").await;
    let body = expect_error(app.get("/providers?locationID=1").await, 400, "validation_error").await;
    // Unknown parameters are rejected (a typo must not silently widen the list).
    assert!(body["details"][0]["field"].as_str().unwrap().starts_with("locationID"), "{body}");
}

/// A clinic with many locations and providers, for paging.
fn big_clinic(n_locations: usize, n_providers: usize) -> ClinicFile {
    ClinicFile {
        version: None,
        locations: (0..n_locations).map(|i| location(&format!("loc-{i:02}"), "America/Denver")).collect(),
        providers: (0..n_providers)
            .map(|i| provider(&format!("prov-{i:02}"), &["loc-00"], vec![hours("loc-00", &[1, 2], "09:00", "12:00")]))
            .collect(),
    }
}

#[tokio::test]
async fn pagination_never_skips_or_repeats() {
    let app = TestApp::spawn().await;
    let summary = import_file(&app, &big_clinic(7, 23)).await;
    let mut want_locations: Vec<i64> = summary.location_ids.values().copied().collect();
    want_locations.sort();
    let mut want_providers: Vec<i64> = summary.provider_ids.values().copied().collect();
    want_providers.sort();
    for limit in [1, 3, 5, 7, 50] {
        assert_eq!(ids(&all_pages(&app, &app.key, "/locations", limit).await), want_locations, "limit {limit}");
        assert_eq!(ids(&all_pages(&app, &app.key, "/providers", limit).await), want_providers, "limit {limit}");
    }
    let filtered =
        all_pages(&app, &app.key, &format!("/providers?locationId={}", summary.location_ids["loc-00"]), 4).await;
    assert_eq!(ids(&filtered), want_providers);

    for path in ["/locations", "/providers"] {
        expect_error(app.get(&format!("{path}?limit=0")).await, 400, "validation_error").await;
        expect_error(app.get(&format!("{path}?limit=201")).await, 400, "validation_error").await;
        expect_error(app.get(&format!("{path}?cursor=bm9wZQ")).await, 400, "invalid_cursor").await;
        expect_error(app.get(&format!("{path}?cursor=%21%21")).await, 400, "invalid_cursor").await;
    }
}

#[tokio::test]
async fn updated_since_returns_changes_in_update_order() {
    let app = TestApp::spawn().await;
    let mut file = big_clinic(4, 6);
    let first = import_file(&app, &file).await;
    let since = expect_json(app.get("/providers").await, 200).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["updatedAt"].as_str().unwrap().to_string())
        .max()
        .unwrap();

    // Everything was updated at or after the first import's instant.
    let all = all_pages(&app, &app.key, &format!("/providers?updatedSince={since}"), 2).await;
    assert_eq!(all.len(), 6);

    // Change provider 4's name, then provider 1's hours, then location 2: separate imports.
    file.providers[4].first_name = "Renamed".into();
    import_file(&app, &file).await;
    file.providers[1].working_hours = vec![hours("loc-00", &[3], "13:00", "15:00")];
    import_file(&app, &file).await;
    file.locations[2].phone = Some("+13035550123".into());
    import_file(&app, &file).await;

    let second_import = expect_json(app.get(&format!("/providers/{}", first.provider_ids["prov-04"])).await, 200).await;
    let cut = second_import["updatedAt"].as_str().unwrap();
    let changed = all_pages(&app, &app.key, &format!("/providers?updatedSince={cut}"), 1).await;
    assert_eq!(ids(&changed), vec![first.provider_ids["prov-04"], first.provider_ids["prov-01"]]);
    let locations = all_pages(&app, &app.key, &format!("/locations?updatedSince={cut}"), 1).await;
    assert_eq!(ids(&locations), vec![first.location_ids["loc-02"]]);

    // A cursor of one ordering is not valid for the other.
    let page = expect_json(app.get("/providers?limit=1").await, 200).await;
    let cursor = page["nextCursor"].as_str().unwrap();
    expect_error(app.get(&format!("/providers?updatedSince={cut}&cursor={cursor}")).await, 400, "invalid_cursor").await;
    expect_error(app.get("/providers?updatedSince=yesterday").await, 400, "validation_error").await;
}

#[tokio::test]
async fn reads_need_read_providers() {
    let app = TestApp::spawn().await;
    let summary = import_file(&app, &example()).await;
    let (l, p) = (summary.location_ids["midtown"], summary.provider_ids["amelia-chen"]);
    let paths = ["/locations".to_string(), format!("/locations/{l}"), "/providers".into(), format!("/providers/{p}")];
    let without = app.key_with(&[Permission::ReadPatients, Permission::ReadAppointments]).await;
    let with = app.key_with(&[Permission::ReadProviders]).await;
    for path in &paths {
        let body = expect_error(
            app.request_as(&without, Method::GET, path).send().await.unwrap(),
            403,
            "insufficient_permission",
        )
        .await;
        assert!(body["message"].as_str().unwrap().contains("READ_PROVIDERS"));
        expect_json(app.request_as(&with, Method::GET, path).send().await.unwrap(), 200).await;
    }
}

#[tokio::test]
async fn another_organizations_locations_and_providers_are_not_found() {
    let app = TestApp::spawn().await;
    let ours = import_file(&app, &example()).await;
    let (other_org, other_key) = app.other_org().await;
    let theirs = import::import(&app.db, other_org, &example()).await.unwrap();
    let (l, p) = (theirs.location_ids["midtown"], theirs.provider_ids["amelia-chen"]);
    for path in [format!("/locations/{l}"), format!("/providers/{p}")] {
        expect_error(app.get(&path).await, 404, "not_found").await;
        expect_json(app.request_as(&other_key, Method::GET, &path).send().await.unwrap(), 200).await;
    }
    let mut our_locations: Vec<i64> = ours.location_ids.values().copied().collect();
    our_locations.sort();
    assert_eq!(ids(&all_pages(&app, &app.key, "/locations", 50).await), our_locations);
    assert_eq!(all_pages(&app, &app.key, "/providers", 50).await.len(), 5);
    let filtered = expect_json(app.get(&format!("/providers?locationId={l}")).await, 200).await;
    assert_eq!(filtered["data"], json!([]));
    expect_error(app.get("/locations/not-a-number").await, 404, "not_found").await;
}
