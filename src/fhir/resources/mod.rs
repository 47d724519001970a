//! The resource types served, one module each: the mapping from Klinivo's records (written
//! down in docs/fhir.md) and the read and search handlers.

pub mod appointment;
pub mod clinical;
pub mod directory;
pub mod patient;
pub mod scheduling;

pub use patient::US_CORE_PATIENT;

use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::domain::{Page, PageRequest};
use crate::http::error::ApiError;
use crate::state::AppState;

/// Every resource type served, with the search parameters each supports (beyond `_id`,
/// `_lastUpdated`, `_count`), as the CapabilityStatement publishes them.
pub const SERVED: [(&str, &[(&str, &str)]); 12] = [
    (
        "Patient",
        &[
            ("identifier", "token"),
            ("name", "string"),
            ("family", "string"),
            ("given", "string"),
            ("birthdate", "date"),
            ("gender", "token"),
            ("email", "token"),
            ("phone", "token"),
        ],
    ),
    ("Practitioner", &[("name", "string")]),
    ("PractitionerRole", &[("practitioner", "reference"), ("location", "reference"), ("specialty", "token")]),
    ("Location", &[("name", "string")]),
    ("Organization", &[]),
    (
        "Appointment",
        &[
            ("patient", "reference"),
            ("practitioner", "reference"),
            ("location", "reference"),
            ("date", "date"),
            ("status", "token"),
        ],
    ),
    ("Schedule", &[("actor", "reference")]),
    ("Slot", &[("schedule", "reference"), ("start", "date"), ("status", "token")]),
    ("Encounter", &[("patient", "reference"), ("date", "date"), ("status", "token")]),
    ("DocumentReference", &[("patient", "reference"), ("encounter", "reference")]),
    ("MedicationRequest", &[("patient", "reference"), ("status", "token")]),
    ("QuestionnaireResponse", &[("patient", "reference"), ("status", "token")]),
];

/// The search parameter names of a type.
pub fn supported(resource_type: &str) -> Vec<&'static str> {
    SERVED
        .iter()
        .find(|(t, _)| *t == resource_type)
        .map(|(_, p)| p.iter().map(|(n, _)| *n).collect())
        .unwrap_or_default()
}

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/fhir/R4/Patient", get(patient::search))
        .route("/fhir/R4/Patient/{id}", get(patient::read))
        .route("/fhir/R4/Practitioner", get(directory::search_practitioners))
        .route("/fhir/R4/Practitioner/{id}", get(directory::read_practitioner))
        .route("/fhir/R4/PractitionerRole", get(directory::search_roles))
        .route("/fhir/R4/PractitionerRole/{id}", get(directory::read_role))
        .route("/fhir/R4/Location", get(directory::search_locations))
        .route("/fhir/R4/Location/{id}", get(directory::read_location))
        .route("/fhir/R4/Organization", get(directory::search_organizations))
        .route("/fhir/R4/Organization/{id}", get(directory::read_organization))
        .route("/fhir/R4/Appointment", get(appointment::search))
        .route("/fhir/R4/Appointment/{id}", get(appointment::read))
        .route("/fhir/R4/Schedule", get(scheduling::search_schedules))
        .route("/fhir/R4/Schedule/{id}", get(scheduling::read_schedule))
        .route("/fhir/R4/Slot", get(scheduling::search_slots))
        .route("/fhir/R4/Slot/{id}", get(scheduling::read_slot))
        .route("/fhir/R4/Encounter", get(clinical::search_encounters))
        .route("/fhir/R4/Encounter/{id}", get(clinical::read_encounter))
        .route("/fhir/R4/DocumentReference", get(clinical::search_documents))
        .route("/fhir/R4/DocumentReference/{id}", get(clinical::read_document))
        .route("/fhir/R4/MedicationRequest", get(clinical::search_medication_requests))
        .route("/fhir/R4/MedicationRequest/{id}", get(clinical::read_medication_request))
        .route("/fhir/R4/QuestionnaireResponse", get(clinical::search_questionnaire_responses))
        .route("/fhir/R4/QuestionnaireResponse/{id}", get(clinical::read_questionnaire_response))
        .route("/fhir/R4/$export", get(super::export::export_system))
        .route("/fhir/R4/Patient/$export", get(super::export::export_patients))
        .route("/fhir/R4/$export-status/{id}", get(super::export::status).delete(super::export::cancel))
        .route("/fhir/R4/$export-file/{id}/{resource_type}/{part}", get(super::export::file))
}

/// A FHIR `instant`: UTC, milliseconds.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `meta`: `lastUpdated` is the record's `updatedAt`; `versionId` changes whenever it does (its
/// microseconds since 1970), so a client can tell versions apart.
pub fn meta(updated_at: DateTime<Utc>) -> Value {
    json!({"versionId": updated_at.timestamp_micros().to_string(), "lastUpdated": instant(updated_at)})
}

pub fn reference(resource_type: &str, id: impl std::fmt::Display) -> Value {
    json!({"reference": format!("{resource_type}/{id}")})
}

/// A path id: numeric ids in their one written form (`12`, not `012` or `+12`); anything else
/// names no resource (`404`), so that a URL always matches the id of what it returns.
pub fn numeric_id(id: &str, what: &'static str) -> Result<i64, ApiError> {
    canonical(id).ok_or(ApiError::NotFound(what))
}

/// A positive number in its one written form.
pub fn canonical(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|n| *n > 0 && n.to_string() == text)
}

/// A record that may not exist: a search by id finds it or nothing; any other error stays one.
pub fn found<T>(r: Result<T, crate::domain::Error>) -> Result<Option<T>, ApiError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(crate::domain::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The absolute base of the facade, for `fullUrl` and links.
pub fn base(state: &AppState) -> String {
    format!("{}{}", state.config.public_origin(), super::BASE)
}

/// The page a search asks for: `_count`, the cursor, and the start of `_lastUpdated` as the
/// sync's `updatedSince` (which orders by `(updatedAt, id)`).
pub fn page_request(
    params: &super::search::Params,
    last_updated: &super::search::Range,
) -> Result<PageRequest, ApiError> {
    Ok(PageRequest::new(Some(params.count), params.cursor.as_deref(), last_updated.from)?)
}

/// A page's records that also meet the filters the query could not apply (`keep`), mapped.
pub fn kept<T>(page: Page<T>, keep: impl Fn(&T) -> bool) -> (Vec<T>, Option<String>) {
    (page.data.into_iter().filter(|r| keep(r)).collect(), page.next_cursor)
}
