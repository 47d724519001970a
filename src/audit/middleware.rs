//! Records one audit entry per request on the PHI routes (patients, appointments,
//! consultations, SOAP notes, prescriptions, intake forms): the record read or changed, or,
//! for a list, every record it returned (`resource_ids`, in order); and one per denied attempt
//! (401/403/404). It is built from the route template, the authenticated key (which the auth
//! layer attaches to the response), and the ids in the path or the response body. The entry is
//! queued for the batched writer: no database round trip on the request's path.

use axum::body::{to_bytes, Body};
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;

use super::AuditEntry;
use crate::auth::AuthenticatedKey;
use crate::http::layers::request_id::RequestId;
use crate::state::AppState;

/// What a route does to which kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub resource_type: &'static str,
    pub action: &'static str,
    /// The id is in the path (`{id}` of the audited resource) rather than in the response.
    pub id_from_path: bool,
}

fn resource(segment: &str) -> Option<&'static str> {
    Some(match segment {
        "patients" => "patient",
        "appointments" => "appointment",
        "consultation" | "consultations" => "consultation",
        "soap-notes" => "soap_note",
        "prescriptions" => "prescription",
        "intake-forms" => "intake_form",
        _ => return None,
    })
}

/// Classifies a route template such as `/api/v1/appointments/{id}/confirm`.
pub fn classify(method: &Method, template: &str) -> Option<Target> {
    let rest = template.strip_prefix("/api/v1/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let is_param = |s: &str| s.starts_with('{');
    let t = |resource_type, action, id_from_path| Some(Target { resource_type, action, id_from_path });
    match (method, parts.as_slice()) {
        (&Method::GET, [coll]) => t(resource(coll)?, "list", false),
        (&Method::POST, [coll]) => t(resource(coll)?, "create", false),
        (&Method::GET, [coll, id]) if is_param(id) => t(resource(coll)?, "read", true),
        (&Method::PATCH, [coll, id]) if is_param(id) => t(resource(coll)?, "update", true),
        (&Method::GET, [coll, id, sub]) if is_param(id) => {
            resource(coll)?;
            t(resource(sub)?, "list", false)
        }
        (&Method::POST, [coll, id, sub]) if is_param(id) => {
            let parent = resource(coll)?;
            match resource(sub) {
                Some(child) => t(child, "create", false),
                None => t(parent, "transition", true),
            }
        }
        (&Method::GET, [coll, id, sub, sub_id]) if is_param(id) && is_param(sub_id) => {
            resource(coll)?;
            t(resource(sub)?, "read", false)
        }
        _ => None,
    }
}

#[derive(Deserialize)]
struct WithId {
    id: i64,
}

#[derive(Deserialize)]
struct ListOfIds {
    data: Vec<WithId>,
}

fn path_id(template: &str, path: &str) -> Option<i64> {
    // The first `{…}` segment of the template is the audited record's (or its parent's) id.
    let index = template.split('/').position(|s| s.starts_with('{'))?;
    path.split('/').nth(index)?.parse().ok()
}

pub async fn audit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(template) = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()) else {
        return next.run(req).await;
    };
    let Some(target) = classify(req.method(), &template) else {
        return next.run(req).await;
    };
    let path = req.uri().path().to_string();
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let client_address = crate::http::layers::client_address::of(&req).map(|a| a.to_string());
    let presented_prefix = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| {
            k.len() >= 11 && k.starts_with("kv_") && k[..11].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .map(|k| k[..11].to_string());

    let response = next.run(req).await;
    let status = response.status().as_u16();
    let key = response.extensions().get::<AuthenticatedKey>().cloned();
    let entry = |action: &'static str, resource_id: Option<i64>| AuditEntry {
        organization_id: key.as_ref().map(|k| k.organization_id),
        at: chrono::Utc::now(),
        key_prefix: key.as_ref().map(|k| k.key_prefix.clone()).or_else(|| presented_prefix.clone()),
        action,
        resource_type: target.resource_type,
        resource_id,
        resource_ids: None,
        status,
        request_id: request_id.clone(),
        client_address: client_address.clone(),
    };

    if matches!(status, 401 | 403 | 404) {
        state.audit.record(entry("denied", path_id(&template, &path))).await;
        return response;
    }
    if target.id_from_path || !response.status().is_success() {
        state.audit.record(entry(target.action, path_id(&template, &path))).await;
        return response;
    }
    // Lists and creations: the ids are in the body (already in memory; read back unchanged).
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        state.audit.record(entry(target.action, None)).await;
        return Response::from_parts(parts, Body::empty());
    };
    if target.action == "list" {
        // One entry for the whole page (an empty page too): one row instead of one per record
        // keeps auditing a page of 50 from costing more than serving it.
        let ids = serde_json::from_slice::<ListOfIds>(&bytes).ok().map(|l| l.data.into_iter().map(|i| i.id).collect());
        state.audit.record(AuditEntry { resource_ids: ids, ..entry("list", None) }).await;
    } else {
        let id = serde_json::from_slice::<WithId>(&bytes).ok().map(|w| w.id);
        state.audit.record(entry(target.action, id)).await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(method: Method, template: &str) -> Option<(&'static str, &'static str)> {
        classify(&method, template).map(|t| (t.resource_type, t.action))
    }

    #[test]
    fn routes_map_to_resources_and_actions() {
        assert_eq!(c(Method::GET, "/api/v1/patients"), Some(("patient", "list")));
        assert_eq!(c(Method::GET, "/api/v1/patients/{id}"), Some(("patient", "read")));
        assert_eq!(c(Method::POST, "/api/v1/patients"), Some(("patient", "create")));
        assert_eq!(c(Method::PATCH, "/api/v1/patients/{id}"), Some(("patient", "update")));
        assert_eq!(c(Method::POST, "/api/v1/appointments/{id}/confirm"), Some(("appointment", "transition")));
        assert_eq!(c(Method::POST, "/api/v1/appointments/{id}/consultation"), Some(("consultation", "create")));
        assert_eq!(c(Method::POST, "/api/v1/consultations/{id}/end"), Some(("consultation", "transition")));
        assert_eq!(c(Method::GET, "/api/v1/consultations/{id}/soap-notes"), Some(("soap_note", "list")));
        assert_eq!(c(Method::POST, "/api/v1/consultations/{id}/prescriptions"), Some(("prescription", "create")));
        assert_eq!(c(Method::POST, "/api/v1/intake-forms/{id}/complete"), Some(("intake_form", "transition")));
        assert_eq!(c(Method::GET, "/api/v1/providers"), None);
        assert_eq!(c(Method::GET, "/api/v1/webhooks/{id}"), None);
        assert_eq!(c(Method::GET, "/api/v1/health"), None);
    }

    #[test]
    fn the_path_id_is_the_first_parameter() {
        assert_eq!(path_id("/api/v1/patients/{id}", "/api/v1/patients/42"), Some(42));
        assert_eq!(path_id("/api/v1/appointments/{id}/confirm", "/api/v1/appointments/7/confirm"), Some(7));
        assert_eq!(path_id("/api/v1/patients/{id}", "/api/v1/patients/abc"), None);
    }
}
