//! Errors as OperationOutcome. Handlers and the API's layers answer errors in the contract's
//! JSON (`{"error", "message", "details"}`); on the way out of the facade that body becomes an
//! OperationOutcome with the same status and headers, so authentication, permission, rate
//! limit and validation errors read the same here as anywhere in FHIR.

use std::future::Future;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::CONTENT_TYPE;

/// The FHIR issue type for an HTTP status.
fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid",
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        405 | 406 | 415 => "not-supported",
        409 => "conflict",
        410 => "deleted",
        413 => "too-costly",
        429 => "throttled",
        503 => "transient",
        _ => "exception",
    }
}

/// An OperationOutcome with one issue per message.
pub fn operation_outcome(severity: &str, code: &str, issues: &[(String, Option<String>)]) -> Value {
    let issue: Vec<Value> = issues
        .iter()
        .map(|(diagnostics, expression)| {
            let mut i = json!({"severity": severity, "code": code, "diagnostics": diagnostics});
            if let Some(e) = expression {
                i["expression"] = json!([e]);
            }
            i
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issue})
}

/// The contract's error body, as an OperationOutcome.
fn from_error_body(status: StatusCode, body: &Value) -> Value {
    let message = body["message"].as_str().unwrap_or("The request failed").to_string();
    let details: Vec<(String, Option<String>)> = body["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|f| {
                    let field = f["field"].as_str()?;
                    let m = f["message"].as_str()?;
                    Some((format!("{field}: {m}"), Some(field.to_string())))
                })
                .collect()
        })
        .unwrap_or_default();
    let issues = if details.is_empty() { vec![(message, None)] } else { details };
    let severity = if status.is_server_error() { "fatal" } else { "error" };
    operation_outcome(severity, issue_code(status), &issues)
}

/// What the client accepts: FHIR JSON (also for `*/*` or no `Accept`), plain JSON (`Accept:
/// application/json` alone), or neither (XML, say), which is `406`.
#[derive(Clone, Copy, PartialEq)]
enum Wanted {
    FhirJson,
    Json,
    Neither,
}

fn wanted(req: &Request) -> Wanted {
    // `_format` overrides `Accept`.
    let format = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "_format")
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    match format.as_deref() {
        Some("json" | "application/fhir+json") => return Wanted::FhirJson,
        Some("application/json") => return Wanted::Json,
        Some(_) => return Wanted::Neither,
        None => {}
    }
    let accept: Vec<String> = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect();
    if accept.is_empty() || accept.iter().any(|a| a == "application/fhir+json" || a == "*/*" || a == "application/*") {
        Wanted::FhirJson
    } else if accept
        .iter()
        .any(|a| a == "application/json" || a == "application/fhir+ndjson" || a == "application/ndjson")
    {
        Wanted::Json
    } else {
        Wanted::Neither
    }
}

/// Under `/fhir/`: negotiates the media type, and rewrites error responses of the contract's
/// JSON into OperationOutcomes — the facade's own, and those of every layer and fallback the
/// request passed (authentication, rate limit, an unknown route or method, an outage).
pub async fn errors_as_outcomes<F: Future<Output = Response>>(
    req: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    if !req.uri().path().starts_with("/fhir/") && req.uri().path() != "/fhir" {
        return next(req).await;
    }
    let wanted = wanted(&req);
    if wanted == Wanted::Neither {
        let outcome = operation_outcome(
            "error",
            "not-supported",
            &[("Only application/fhir+json (or application/json) is served".to_string(), None)],
        );
        let mut response = Response::new(Body::from(outcome.to_string()));
        *response.status_mut() = StatusCode::NOT_ACCEPTABLE;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        return response;
    }
    let mut response = next(req).await;
    if wanted == Wanted::Json {
        let fhir =
            response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == CONTENT_TYPE.as_bytes());
        if fhir {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        }
    }
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Error bodies are small; one that is not is left as it is.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let outcome = serde_json::to_vec(&from_error_body(status, &value)).unwrap_or_default();
    let content_type = if wanted == Wanted::Json { "application/json; charset=utf-8" } else { CONTENT_TYPE };
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(outcome))
}
