//! Every route the application serves, read from its router, with the methods each answers and
//! its URL with real ids in place of the path parameters.

use std::collections::BTreeMap;

use reqwest::Method;

use crate::helpers::*;

/// A route template and the methods its route answers.
#[derive(Debug, Clone)]
pub struct Route {
    pub template: String,
    pub methods: Vec<Method>,
}

/// The route templates of the whole application (`klinivo::http::app_routes`, what the server
/// mounts). axum has no API that lists routes; its router's `Debug` output names every path it
/// matches (`RouteId(3): "/api/v1/patients/{id}"`), documented or not, and this reads them from
/// there (the routes' part, not the fallback's). Should that output change, the list comes out
/// empty or without a route every version has, and the test fails rather than checking nothing.
pub fn router_templates(app: &TestApp) -> Vec<String> {
    let debug = format!("{:?}", klinivo::http::app_routes(&app.state));
    let routes = debug.split_once("path_router:").map(|(_, r)| r).unwrap_or_default();
    let routes = routes.split_once("fallback_router:").map(|(r, _)| r).unwrap_or_default();
    let mut templates = Vec::new();
    for piece in routes.split("RouteId(").skip(1) {
        let Some((_, rest)) = piece.split_once("): \"") else { continue };
        let Some((template, _)) = rest.split_once('"') else { continue };
        // The console's pages are not the API: HTML for people behind a session cookie, not in the
        // OpenAPI document (docs/console.md lists them), and they show no records (tests/api/console).
        // The FHIR facade has its own description, the CapabilityStatement, and its own audit
        // tests (tests/api/fhir).
        let elsewhere = template == "/console" || template.starts_with("/console/") || template.starts_with("/fhir/");
        if !template.contains("__private__axum") && !elsewhere && !templates.iter().any(|t| t == template) {
            templates.push(template.to_string());
        }
    }
    templates.sort();
    assert!(
        templates.iter().any(|t| t == "/api/v1/patients/{id}") && templates.iter().any(|t| t == "/healthz"),
        "could not read the route templates from the router's Debug output: {templates:?}"
    );
    templates
}

/// The methods a route answers, as the router itself says: a method no route uses gets
/// `405` with `Allow` listing those it does (before authentication, so without a key).
pub async fn methods_of(app: &TestApp, url_path: &str) -> Vec<Method> {
    let probe = Method::from_bytes(b"PROBE").unwrap();
    let r = app.client.request(probe, app.url(url_path)).send().await.unwrap();
    assert_eq!(r.status(), 405, "{url_path}: a method no route uses must be 405 with Allow");
    let allow = r.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let methods: Vec<Method> = allow
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| Method::from_bytes(m.as_bytes()).unwrap())
        .collect();
    assert!(!methods.is_empty(), "{url_path}: 405 without an Allow header");
    methods
}

/// Real values for the path parameters, by the collection they follow: `{id}` after
/// `consultations` is a consultation's id, `{noteId}` after `soap-notes` a note's.
pub type PathValues = BTreeMap<&'static str, Vec<String>>;

/// Every URL path for a template, its parameters filled from `values` (a collection with
/// several values, such as every event, gives one path each). A parameter after a collection
/// with no values is a new kind of route: the test fails, naming it, instead of skipping it.
pub fn fill(template: &str, values: &PathValues) -> Vec<String> {
    let mut paths = vec![String::new()];
    let segments: Vec<&str> = template.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if i == 0 {
            continue;
        }
        let choices: Vec<String> = if segment.starts_with('{') {
            let collection = segments[i - 1];
            let known = values.get(collection).filter(|v| !v.is_empty());
            known
                .unwrap_or_else(|| {
                    panic!(
                        "{template}: no seeded record for the parameter {segment} after `{collection}`; \
                         seed one so that this route is checked"
                    )
                })
                .clone()
        } else {
            vec![segment.to_string()]
        };
        paths = paths.iter().flat_map(|p| choices.iter().map(move |c| format!("{p}/{c}"))).collect();
    }
    paths
}

/// Values for the query parameters a route requires (from its OpenAPI operation). An unknown
/// required parameter fails the test, naming it.
pub fn required_query(doc: &serde_json::Value, template: &str, method: &Method) -> String {
    let op = &doc["paths"][template][method.as_str().to_lowercase()];
    let today = chrono::Utc::now().date_naive();
    let mut query = Vec::new();
    for param in op["parameters"].as_array().into_iter().flatten() {
        if param["in"] != "query" || param["required"] != true {
            continue;
        }
        let name = param["name"].as_str().unwrap_or_default();
        let value = match name {
            "from" => today.to_string(),
            "to" => (today + chrono::Duration::days(7)).to_string(),
            other => panic!("{method} {template}: no value for its required query parameter {other}"),
        };
        query.push(format!("{name}={value}"));
    }
    if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    }
}
