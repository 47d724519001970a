//! Encounter (consultations), DocumentReference (SOAP notes, one per version),
//! MedicationRequest (prescriptions), QuestionnaireResponse (completed intake forms).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::{base, instant, meta, numeric_id, reference};
use crate::audit::RecordType;
use crate::auth::permissions::{ReadConsultations, ReadPatients};
use crate::domain::consultations::soap_notes::across::{self, PatientNote};
use crate::domain::consultations::soap_notes::SoapNote;
use crate::domain::consultations::{self, prescriptions, Consultation, ConsultationStatus, Prescription};
use crate::domain::intake::{self, IntakeForm, IntakeStatus};
use crate::domain::PageRequest;
use crate::fhir::search::{bundle, date_range, reference_id, tokens, Params};
use crate::fhir::Fhir;
use crate::http::error::ApiError;
use crate::http::extract::Auth;
use crate::state::AppState;

/// What a search's reference parameter selects: everything, one id, or nothing (another type).
fn reference_param(params: &Params, name: &str, resource_type: &str) -> Result<(Option<i64>, bool), ApiError> {
    Ok(match params.one(name)? {
        Some(v) => match reference_id(v, resource_type) {
            Some(id) => (Some(id), false),
            None => (None, true),
        },
        None => (None, false),
    })
}

// ---- Encounter -------------------------------------------------------------------------

fn encounter_status(s: &str) -> &'static str {
    if s == "ended" {
        "finished"
    } else {
        "in-progress"
    }
}

pub fn encounter(c: &Consultation) -> Value {
    let mut period = json!({"start": instant(c.started_at)});
    if let Some(end) = c.ended_at {
        period["end"] = json!(instant(end));
    }
    json!({
        "resourceType": "Encounter",
        "id": c.id.to_string(),
        "meta": meta(c.updated_at),
        "status": encounter_status(&c.status),
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
        "subject": reference("Patient", c.patient_id),
        "participant": [{"individual": reference("Practitioner", c.provider_id)}],
        "appointment": [reference("Appointment", c.appointment_id)],
        "period": period,
    })
}

pub async fn read_encounter(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let id = numeric_id(&id, "Encounter")?;
    let mut conn = state.db.acquire().await.map_err(crate::domain::Error::from)?;
    let c = consultations::model::fetch(&mut conn, auth.organization_id, id)
        .await?
        .ok_or(ApiError::NotFound("Encounter"))?;
    Ok(Fhir::showing(encounter(&c), RecordType::Consultation, &[c.id]))
}

pub async fn search_encounters(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("Encounter"))?;
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let date = date_range("date", &params.all("date"))?;
    let (patient, none) = reference_param(&params, "patient", "Patient")?;
    let statuses: Option<Vec<ConsultationStatus>> = params.one("status")?.map(|v| {
        tokens(v)
            .iter()
            .filter_map(|t| match t.as_str() {
                "in-progress" => Some(ConsultationStatus::InProgress),
                "finished" => Some(ConsultationStatus::Ended),
                _ => None,
            })
            .collect()
    });
    let org = auth.organization_id;
    let mut read = crate::db::planned_read(&state.db).await.map_err(crate::domain::Error::from)?;
    let (rows, next) = if none || statuses.as_ref().is_some_and(|s| s.is_empty()) {
        (vec![], None)
    } else if let Some(id) = params.id()? {
        match id {
            Some(id) => (consultations::model::fetch(&mut read, org, id).await?.into_iter().collect(), None),
            None => (vec![], None),
        }
    } else {
        let filter = consultations::ListFilter {
            patient_id: patient,
            provider_id: None,
            appointment_id: None,
            statuses: statuses.clone(),
        };
        let page = consultations::list(&mut read, org, &filter, &super::page_request(&params, &last_updated)?).await?;
        (page.data, page.next_cursor)
    };
    let rows: Vec<Consultation> = rows
        .into_iter()
        .filter(|c| last_updated.contains(c.updated_at) && date.contains(c.started_at))
        .filter(|c| patient.is_none_or(|p| p == c.patient_id))
        .filter(|c| statuses.as_ref().is_none_or(|s| s.iter().any(|s| s.as_str() == c.status)))
        .collect();
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let resources = rows.iter().map(encounter).collect();
    Ok(Fhir::showing(bundle(&base(&state), "Encounter", &params, resources, next), RecordType::Consultation, &ids))
}

// ---- DocumentReference -------------------------------------------------------------------

/// The note's text: its four sections, each under its heading, as one `text/plain` attachment.
fn note_text(n: &SoapNote) -> String {
    let mut text = String::new();
    for (heading, body) in
        [("Subjective", &n.subjective), ("Objective", &n.objective), ("Assessment", &n.assessment), ("Plan", &n.plan)]
    {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(heading);
        text.push_str(":\n");
        text.push_str(body.as_deref().unwrap_or(""));
    }
    text
}

/// `{noteId}` for the current version, `{noteId}-v{n}` for an earlier one.
fn version_id(note_id: i64, version: i32, current: bool) -> String {
    if current {
        note_id.to_string()
    } else {
        format!("{note_id}-v{version}")
    }
}

fn document(patient_id: i64, n: &SoapNote, current: bool) -> Value {
    let doc_status = match (n.status.as_str(), n.version) {
        ("draft", _) => "preliminary",
        (_, 1) => "final",
        _ => "amended",
    };
    let mut r = json!({
        "resourceType": "DocumentReference",
        "id": version_id(n.id, n.version, current),
        "meta": {"versionId": n.version.to_string(), "lastUpdated": instant(n.updated_at)},
        "identifier": [{"system": "urn:klinivo:soap-note-id", "value": n.id.to_string()}],
        "status": if current { "current" } else { "superseded" },
        "docStatus": doc_status,
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}], "text": "SOAP note"},
        "subject": reference("Patient", patient_id),
        "date": instant(n.updated_at),
        "author": [reference("Practitioner", n.author_provider_id)],
        "content": [{"attachment": {
            "contentType": "text/plain; charset=utf-8",
            "language": "en",
            "data": STANDARD.encode(note_text(n)),
            "title": format!("SOAP note, version {}", n.version),
            "creation": instant(n.created_at),
        }}],
        "context": {"encounter": [reference("Encounter", n.consultation_id)]},
    });
    if let Some(signer) = n.signed_by_provider_id {
        r["authenticator"] = reference("Practitioner", signer);
    }
    if let Some(reason) = &n.amendment_reason {
        r["description"] = json!(format!("Amendment: {reason}"));
    }
    if n.version > 1 {
        r["relatesTo"] = json!([{"code": "replaces", "target": reference("DocumentReference", version_id(n.id, n.version - 1, false))}]);
    }
    r
}

/// Every version of a note as a DocumentReference: the current one first.
pub fn documents(n: &PatientNote) -> Vec<Value> {
    let mut out = vec![document(n.patient_id, &n.detail.note, true)];
    out.extend(n.detail.versions.iter().map(|v| document(n.patient_id, v, false)));
    out
}

pub async fn read_document(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let (note_id, version) = match id.split_once("-v") {
        Some((n, v)) => (
            numeric_id(n, "DocumentReference")?,
            Some(
                super::canonical(v)
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or(ApiError::NotFound("DocumentReference"))?,
            ),
        ),
        None => (numeric_id(&id, "DocumentReference")?, None),
    };
    let mut read = crate::db::planned_read(&state.db).await.map_err(crate::domain::Error::from)?;
    let filter = across::Filter { note_id: Some(note_id), ..Default::default() };
    let page = across::list(&mut read, auth.organization_id, &filter, &PageRequest::new(Some(1), None, None)?).await?;
    let note = page.data.into_iter().next().ok_or(ApiError::NotFound("DocumentReference"))?;
    let body = match version {
        None => document(note.patient_id, &note.detail.note, true),
        Some(v) => {
            let earlier =
                note.detail.versions.iter().find(|e| e.version == v).ok_or(ApiError::NotFound("DocumentReference"))?;
            document(note.patient_id, earlier, false)
        }
    };
    Ok(Fhir::showing(body, RecordType::SoapNote, &[note_id]))
}

pub async fn search_documents(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("DocumentReference"))?;
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let (patient, none_p) = reference_param(&params, "patient", "Patient")?;
    let (encounter, none_e) = reference_param(&params, "encounter", "Encounter")?;
    let id = params.one("_id")?.map(|v| v.split_once("-v").map(|(n, _)| n).unwrap_or(v).parse::<i64>().ok());
    let (notes, next) = if none_p || none_e || matches!(id, Some(None)) {
        (vec![], None)
    } else {
        let filter = across::Filter {
            note_id: id.flatten(),
            patient_id: patient,
            consultation_id: encounter,
            changed_since: last_updated.from,
        };
        let mut read = crate::db::planned_read(&state.db).await.map_err(crate::domain::Error::from)?;
        let page = across::list(
            &mut read,
            auth.organization_id,
            &filter,
            &PageRequest::new(Some(params.count), params.cursor.as_deref(), None)?,
        )
        .await?;
        (page.data, page.next_cursor)
    };
    // A search shows each note's current version (so a page never holds more than `_count`);
    // the earlier versions are read through `relatesTo`, or by naming one in `_id`, and are all
    // in a Bulk Data export.
    let wanted_id = params.one("_id")?;
    let mut ids = Vec::new();
    let mut resources = Vec::new();
    for n in notes.iter().filter(|n| last_updated.contains(n.detail.note.updated_at)) {
        let docs: Vec<Value> = match wanted_id {
            Some(w) => documents(n).into_iter().filter(|d| d["id"] == w).collect(),
            None => vec![document(n.patient_id, &n.detail.note, true)],
        };
        if !docs.is_empty() {
            ids.push(n.detail.note.id);
            resources.extend(docs);
        }
    }
    Ok(Fhir::showing(bundle(&base(&state), "DocumentReference", &params, resources, next), RecordType::SoapNote, &ids))
}

// ---- MedicationRequest -------------------------------------------------------------------

fn medication_status(s: &str) -> &'static str {
    if s == "active" {
        "active"
    } else {
        "stopped"
    }
}

pub fn medication_request(p: &Prescription) -> Value {
    let mut dosage_text = format!("{} {}", p.dosage, p.frequency);
    if let Some(route) = &p.route {
        dosage_text = format!("{} {route} {}", p.dosage, p.frequency);
    }
    let mut dosage = json!({"text": dosage_text});
    if let Some(i) = &p.instructions {
        dosage["patientInstruction"] = json!(i);
    }
    if let Some(route) = &p.route {
        dosage["route"] = json!({"text": route});
    }
    let mut dispense = json!({"numberOfRepeatsAllowed": p.refills});
    if let Some(q) = p.quantity {
        dispense["quantity"] = json!({"value": q});
    }
    json!({
        "resourceType": "MedicationRequest",
        "id": p.id.to_string(),
        "meta": meta(p.updated_at),
        "status": medication_status(&p.status),
        "intent": "order",
        "medicationCodeableConcept": {"text": p.medication_name},
        "subject": reference("Patient", p.patient_id),
        "encounter": reference("Encounter", p.consultation_id),
        "authoredOn": instant(p.prescribed_at),
        "requester": reference("Practitioner", p.provider_id),
        "dosageInstruction": [dosage],
        "dispenseRequest": dispense,
    })
}

pub async fn read_medication_request(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let p = prescriptions::get(&state.reads, auth.organization_id, numeric_id(&id, "MedicationRequest")?).await?;
    Ok(Fhir::showing(medication_request(&p), RecordType::Prescription, &[p.id]))
}

pub async fn search_medication_requests(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("MedicationRequest"))?;
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let (patient, none) = reference_param(&params, "patient", "Patient")?;
    let statuses = params.one("status")?.map(tokens);
    let org = auth.organization_id;
    let (rows, next) = if none {
        (vec![], None)
    } else if let Some(id) = params.id()? {
        match id {
            Some(id) => (super::found(prescriptions::get(&state.reads, org, id).await)?.into_iter().collect(), None),
            None => (vec![], None),
        }
    } else {
        let mut read = crate::db::planned_read(&state.db).await.map_err(crate::domain::Error::from)?;
        let filter = prescriptions::ListFilter { patient_id: patient, consultation_id: None };
        let page = prescriptions::list(&mut read, org, &filter, &super::page_request(&params, &last_updated)?).await?;
        (page.data, page.next_cursor)
    };
    let rows: Vec<Prescription> = rows
        .into_iter()
        .filter(|p| last_updated.contains(p.updated_at) && patient.is_none_or(|id| id == p.patient_id))
        .filter(|p| statuses.as_ref().is_none_or(|s| s.iter().any(|s| s == medication_status(&p.status))))
        .collect();
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let resources = rows.iter().map(medication_request).collect();
    Ok(Fhir::showing(
        bundle(&base(&state), "MedicationRequest", &params, resources, next),
        RecordType::Prescription,
        &ids,
    ))
}

// ---- QuestionnaireResponse ---------------------------------------------------------------

/// The answers of one question: scalars as they are typed, lists as one answer each, objects as
/// their JSON text; no answer for `null` or empty text (FHIR strings are never empty).
fn answers(value: &Value) -> Vec<Value> {
    match value {
        Value::Null => vec![],
        Value::Bool(b) => vec![json!({"valueBoolean": b})],
        Value::Number(n) if n.is_i64() && n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => {
            vec![json!({"valueInteger": n})]
        }
        Value::Number(n) => vec![json!({"valueDecimal": n})],
        Value::String(s) if s.trim().is_empty() => vec![],
        Value::String(s) => vec![json!({"valueString": s})],
        Value::Array(items) => items.iter().flat_map(answers).collect(),
        Value::Object(_) => vec![json!({"valueString": value.to_string()})],
    }
}

pub fn questionnaire_response(f: &IntakeForm) -> Value {
    let items: Vec<Value> = f
        .answers
        .as_ref()
        .and_then(Value::as_object)
        .unwrap_or(&Map::new())
        .iter()
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| {
            let mut item = json!({"linkId": k, "text": k});
            let a = answers(v);
            if !a.is_empty() {
                item["answer"] = json!(a);
            }
            item
        })
        .collect();
    let mut r = json!({
        "resourceType": "QuestionnaireResponse",
        "id": f.id.to_string(),
        "meta": meta(f.updated_at),
        "identifier": {"system": "urn:klinivo:intake-form-type", "value": f.form_type},
        "status": "completed",
        "subject": reference("Patient", f.patient_id),
    });
    if let Some(at) = f.completed_at {
        r["authored"] = json!(instant(at));
    }
    if !items.is_empty() {
        r["item"] = json!(items);
    }
    r
}

fn completed(f: &IntakeForm) -> bool {
    f.status == IntakeStatus::Completed.as_str()
}

pub async fn read_questionnaire_response(
    auth: Auth<ReadPatients>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let f = intake::get(&state.reads, auth.organization_id, numeric_id(&id, "QuestionnaireResponse")?).await?;
    if !completed(&f) {
        return Err(ApiError::NotFound("QuestionnaireResponse"));
    }
    Ok(Fhir::showing(questionnaire_response(&f), RecordType::IntakeForm, &[f.id]))
}

pub async fn search_questionnaire_responses(
    auth: Auth<ReadPatients>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("QuestionnaireResponse"))?;
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let (patient, none) = reference_param(&params, "patient", "Patient")?;
    // Only completed forms are served.
    let other_status = params.one("status")?.is_some_and(|s| !tokens(s).iter().any(|t| t == "completed"));
    let org = auth.organization_id;
    let (rows, next) = if none || other_status {
        (vec![], None)
    } else if let Some(id) = params.id()? {
        match id {
            Some(id) => (super::found(intake::get(&state.reads, org, id).await)?.into_iter().collect(), None),
            None => (vec![], None),
        }
    } else {
        let filter = intake::ListFilter {
            patient_id: patient,
            appointment_id: None,
            statuses: Some(vec![IntakeStatus::Completed]),
        };
        let page = intake::list(&state.db, org, &filter, &super::page_request(&params, &last_updated)?).await?;
        (page.data, page.next_cursor)
    };
    let rows: Vec<IntakeForm> = rows
        .into_iter()
        .filter(|f| completed(f) && last_updated.contains(f.updated_at) && patient.is_none_or(|p| p == f.patient_id))
        .collect();
    let ids: Vec<i64> = rows.iter().map(|f| f.id).collect();
    let resources = rows.iter().map(questionnaire_response).collect();
    Ok(Fhir::showing(
        bundle(&base(&state), "QuestionnaireResponse", &params, resources, next),
        RecordType::IntakeForm,
        &ids,
    ))
}
