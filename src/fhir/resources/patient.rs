//! Patient (US Core Patient): from `patients`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use serde_json::{json, Value};

use super::{base, kept, meta, numeric_id, page_request};
use crate::audit::RecordType;
use crate::auth::permissions::ReadPatients;
use crate::domain::patients::{self, ListFilter, Patient, Sex};
use crate::domain::search_text::fold;
use crate::fhir::search::{bundle, date_range, tokens, Params};
use crate::fhir::Fhir;
use crate::http::error::ApiError;
use crate::http::extract::Auth;
use crate::state::AppState;

pub const US_CORE_PATIENT: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient";
/// The system of the Klinivo id, always present (US Core asks for an identifier).
pub const ID_SYSTEM: &str = "urn:klinivo:patient-id";
/// The system of the integrator's own `externalId`.
pub const EXTERNAL_ID_SYSTEM: &str = "urn:klinivo:external-id";

fn gender(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    }
}

/// An `address` from Klinivo's, or none when every part is unknown.
pub fn address(a: &crate::domain::Address) -> Option<Value> {
    let lines: Vec<&str> = [a.line1.as_deref(), a.line2.as_deref()].into_iter().flatten().collect();
    let mut out = json!({});
    if !lines.is_empty() {
        out["line"] = json!(lines);
    }
    for (field, value) in
        [("city", &a.city), ("state", &a.region), ("postalCode", &a.postal_code), ("country", &a.country)]
    {
        if let Some(v) = value {
            out[field] = json!(v);
        }
    }
    (out.as_object().is_some_and(|o| !o.is_empty())).then_some(out)
}

pub fn to_fhir(p: &Patient) -> Value {
    let mut identifier = vec![json!({"system": ID_SYSTEM, "value": p.id.to_string()})];
    if let Some(ext) = &p.external_id {
        identifier.push(json!({"use": "usual", "system": EXTERNAL_ID_SYSTEM, "value": ext}));
    }
    let mut r = json!({
        "resourceType": "Patient",
        "id": p.id.to_string(),
        "meta": meta(p.updated_at),
        "identifier": identifier,
        "active": true,
        "name": [{"use": "official", "family": p.last_name, "given": [p.first_name]}],
        "gender": gender(p.sex),
    });
    r["meta"]["profile"] = json!([US_CORE_PATIENT]);
    let mut telecom = Vec::new();
    if let Some(phone) = &p.phone {
        telecom.push(json!({"system": "phone", "value": phone, "use": "mobile"}));
    }
    if let Some(email) = &p.email {
        telecom.push(json!({"system": "email", "value": email}));
    }
    if !telecom.is_empty() {
        r["telecom"] = json!(telecom);
    }
    if let Some(dob) = p.date_of_birth {
        r["birthDate"] = json!(dob.to_string());
    }
    if let Some(a) = address(&p.address) {
        r["address"] = json!([a]);
    }
    r
}

pub async fn read(
    auth: Auth<ReadPatients>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let id = numeric_id(&id, "Patient")?;
    let p = patients::get(&state.reads, auth.organization_id, id).await?;
    Ok(Fhir::showing(to_fhir(&p), RecordType::Patient, &[p.id]))
}

fn starts(text: &str, prefix: &str) -> bool {
    fold(text).starts_with(&fold(prefix))
}

pub async fn search(
    auth: Auth<ReadPatients>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("Patient"))?;
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let birth = date_range("birthdate", &params.all("birthdate"))?;
    let genders = params.one("gender")?.map(tokens);
    let (name, family, given) = (params.one("name")?, params.one("family")?, params.one("given")?);
    // `identifier`: with the Klinivo id system it is the id, with the external id system the
    // external id, and without a system either (FHIR matches a bare value in any system).
    let identifier = params.one("identifier")?;
    let (id_value, external_id) = match identifier.map(|v| v.split_once('|')) {
        None => (None, None),
        Some(Some((system, value))) if system == ID_SYSTEM => (Some(super::canonical(value)), None),
        Some(Some((system, value))) if system == EXTERNAL_ID_SYSTEM || system.is_empty() => {
            (None, Some(value.to_string()))
        }
        Some(Some(_)) => (Some(None), None),
        Some(None) => {
            let v = identifier.unwrap_or_default();
            (None, Some(v.to_string()))
        }
    };
    let bare = identifier.filter(|v| !v.contains('|')).and_then(super::canonical);
    let org = auth.organization_id;
    let get = |id: i64| {
        let reads = state.reads.clone();
        async move { super::found(patients::get(&reads, org, id).await) }
    };
    let patients = if let Some(id) = params.id()?.or(id_value) {
        (
            match id {
                Some(id) => get(id).await?.into_iter().collect(),
                None => vec![],
            },
            None,
        )
    } else {
        let filter = ListFilter {
            // The name search narrows in the database (any part of the name, email or phone);
            // FHIR's "starts with" on the named part is checked below.
            q: name.or(family).or(given).map(str::to_string),
            email: params.one("email")?.map(|v| tokens(v).join(",")),
            phone: params.one("phone")?.map(|v| tokens(v).join(",")),
            date_of_birth: None,
            external_id,
        };
        let page =
            patients::list(&state.db, &state.generic_reads, org, &filter, &page_request(&params, &last_updated)?)
                .await?;
        let (mut rows, next) = kept(page, |_| true);
        // A bare numeric identifier is also the Klinivo id of at most one more patient.
        if let Some(id) = bare.filter(|_| params.cursor.is_none()) {
            if let Some(p) = get(id).await?.filter(|p| !rows.iter().any(|r| r.id == p.id)) {
                rows.insert(0, p);
            }
        }
        (rows, next)
    };
    let (rows, next) = patients;
    let rows: Vec<Patient> = rows
        .into_iter()
        .filter(|p| last_updated.contains(p.updated_at))
        .filter(|p| {
            birth.is_open()
                || p.date_of_birth.and_then(|d| d.and_hms_opt(12, 0, 0)).is_some_and(|d| birth.contains(d.and_utc()))
        })
        .filter(|p| genders.as_ref().is_none_or(|g| g.iter().any(|g| g == gender(p.sex))))
        .filter(|p| {
            name.is_none_or(|n| {
                starts(&p.first_name, n)
                    || starts(&p.last_name, n)
                    || starts(&format!("{} {}", p.first_name, p.last_name), n)
            })
        })
        .filter(|p| family.is_none_or(|n| starts(&p.last_name, n)))
        .filter(|p| given.is_none_or(|n| starts(&p.first_name, n)))
        .collect();
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let resources = rows.iter().map(to_fhir).collect();
    Ok(Fhir::showing(bundle(&base(&state), "Patient", &params, resources, next), RecordType::Patient, &ids))
}
