//! Clinic set-up: `clinic::import` (idempotent, validated), `clinic::demo`, the CLI commands, and
//! locations and providers as the API shows them.

mod cli;
mod demo;
mod importing;
mod locations_and_providers;

use klinivo::clinic::import::{self, ClinicFile, HoursSpec, ImportSummary, LocationSpec, ProviderSpec};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{expect_json, TestApp};

pub const EXAMPLE: &[u8] = include_bytes!("../../examples/clinic.json");

pub fn example() -> ClinicFile {
    import::parse(EXAMPLE).expect("examples/clinic.json parses")
}

pub fn location(key: &str, timezone: &str) -> LocationSpec {
    LocationSpec {
        key: key.into(),
        name: format!("Clinic {key}"),
        timezone: timezone.into(),
        phone: Some("+12125550100".into()),
        address: None,
    }
}

pub fn hours(location: &str, weekdays: &[u8], start: &str, end: &str) -> HoursSpec {
    HoursSpec { location: location.into(), weekdays: weekdays.to_vec(), start_time: start.into(), end_time: end.into() }
}

pub fn provider(key: &str, locations: &[&str], working_hours: Vec<HoursSpec>) -> ProviderSpec {
    ProviderSpec {
        key: key.into(),
        first_name: "Test".into(),
        last_name: format!("Provider {key}"),
        title: Some("MD".into()),
        specialty: Some("Family Medicine".into()),
        email: Some(format!("{key}@example.com")),
        active: true,
        locations: locations.iter().map(|l| l.to_string()).collect(),
        working_hours,
    }
}

/// Imports into the app's organization, panicking on error.
pub async fn import_file(app: &TestApp, file: &ClinicFile) -> ImportSummary {
    import::import(&app.db, app.org_id, file).await.unwrap_or_else(|e| panic!("import failed: {e}"))
}

/// Every page of a list, following `nextCursor`; returns the items.
pub async fn all_pages(app: &TestApp, key: &str, path: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    for _ in 0..1000 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = expect_json(app.request_as(key, Method::GET, &url).send().await.unwrap(), 200).await;
        let data = page["data"].as_array().unwrap().clone();
        assert!(data.len() <= limit);
        items.extend(data);
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
    panic!("pagination did not end");
}

pub fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|i| i["id"].as_i64().unwrap()).collect()
}
