//! `GET /fhir/R4/metadata`: the CapabilityStatement, made from the same table the router and
//! the searches use (`resources::SERVED`), so it says exactly what is served.

use axum::extract::State;
use serde_json::{json, Value};

use super::resources::{instant, SERVED};
use super::{Fhir, FHIR_VERSION};
use crate::state::AppState;

/// The permission each resource type needs, as the CapabilityStatement documents it.
fn permission(resource_type: &str) -> &'static str {
    match resource_type {
        "Patient" | "QuestionnaireResponse" => "READ_PATIENTS",
        "Practitioner" | "PractitionerRole" | "Location" | "Organization" => "READ_PROVIDERS",
        "Appointment" | "Schedule" | "Slot" => "READ_APPOINTMENTS",
        _ => "READ_CONSULTATIONS",
    }
}

const COMMON: [(&str, &str, &str); 2] =
    [("_id", "token", "The resource's id"), ("_lastUpdated", "date", "meta.lastUpdated; prefixes eq, ge, gt, le, lt")];

pub fn statement(base: &str) -> Value {
    let resources: Vec<Value> = SERVED
        .iter()
        .map(|(resource_type, params)| {
            let mut search: Vec<Value> = COMMON
                .iter()
                .map(|(name, kind, doc)| json!({"name": name, "type": kind, "documentation": doc}))
                .collect();
            search.extend(params.iter().map(|(name, kind)| json!({"name": name, "type": kind})));
            let mut r = json!({
                "type": resource_type,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "versioning": "versioned",
                "readHistory": false,
                "searchParam": search,
                "documentation": format!("Needs an API key with {}.", permission(resource_type)),
            });
            if *resource_type == "Patient" {
                r["supportedProfile"] = json!([super::resources::US_CORE_PATIENT]);
                r["operation"] = json!([{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"}]);
            }
            r
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "id": "klinivo",
        "url": format!("{base}/metadata"),
        "name": "KlinivoFhirFacade",
        "title": "Klinivo FHIR R4 facade",
        "status": "active",
        "experimental": false,
        "date": instant(build_date()),
        "publisher": "Klinivo",
        "description": "Read and search of a clinic's records as FHIR R4, and Bulk Data export, under the same API keys, permissions, rate limits and audit log as /api/v1. Send the key in the X-API-Key header.",
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "software": {"name": "Klinivo", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Klinivo FHIR R4 facade", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": "Unsupported search parameters are ignored with a warning in the Bundle, or refused with Prefer: handling=strict.",
            "security": {
                "cors": false,
                "description": "Every request except this one needs an API key in the X-API-Key header, with the permission each resource names."
            },
            "resource": resources,
            "operation": [{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}],
        }],
    })
}

/// When the statement last changed: the build (the statement is made from the code).
fn build_date() -> chrono::DateTime<chrono::Utc> {
    // The crate's version date is not known at compile time without a build script; the start
    // of the process is the next best "as of" for an instance statement.
    static START: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();
    *START.get_or_init(chrono::Utc::now)
}

pub async fn metadata(State(state): State<AppState>) -> Fhir {
    Fhir::plain(statement(&super::resources::base(&state)))
}
