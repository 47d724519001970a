//! Appointment: from `appointments`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use serde_json::{json, Value};

use super::{base, instant, kept, meta, numeric_id, page_request, reference};
use crate::audit::RecordType;
use crate::auth::permissions::ReadAppointments;
use crate::domain::appointments::{self, Appointment, AppointmentStatus, ListFilter};
use crate::fhir::search::{bundle, date_range, reference_id, tokens, Params};
use crate::fhir::Fhir;
use crate::http::error::ApiError;
use crate::http::extract::Auth;
use crate::state::AppState;

/// Klinivo's status as FHIR's.
pub fn status(s: &str) -> &'static str {
    match s {
        "scheduled" | "confirmed" => "booked",
        "cancelled" => "cancelled",
        "completed" => "fulfilled",
        "no_show" => "noshow",
        _ => "entered-in-error",
    }
}

/// The Klinivo statuses a FHIR status names (none for statuses Klinivo has no record in).
fn statuses(fhir: &str) -> Vec<AppointmentStatus> {
    match fhir {
        "booked" => vec![AppointmentStatus::Scheduled, AppointmentStatus::Confirmed],
        "cancelled" => vec![AppointmentStatus::Cancelled],
        "fulfilled" => vec![AppointmentStatus::Completed],
        "noshow" => vec![AppointmentStatus::NoShow],
        _ => vec![],
    }
}

pub fn to_fhir(a: &Appointment) -> Value {
    // A scheduled appointment waits for the patient's confirmation; a confirmed one has it.
    let patient_status = if a.status == "scheduled" { "needs-action" } else { "accepted" };
    let mut r = json!({
        "resourceType": "Appointment",
        "id": a.id.to_string(),
        "meta": meta(a.updated_at),
        "status": status(&a.status),
        "start": instant(a.starts_at),
        "end": instant(a.ends_at),
        "minutesDuration": (a.ends_at - a.starts_at).num_minutes(),
        "created": instant(a.created_at),
        "participant": [
            {"actor": reference("Patient", a.patient_id), "required": "required", "status": patient_status},
            {"actor": reference("Practitioner", a.provider_id), "required": "required", "status": "accepted"},
            {"actor": reference("Location", a.location_id), "required": "required", "status": "accepted"},
        ],
    });
    if let Some(reason) = &a.reason {
        r["reasonCode"] = json!([{"text": reason}]);
    }
    if let Some(why) = &a.cancellation_reason {
        r["cancelationReason"] = json!({"text": why});
    }
    r
}

pub async fn read(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let id = numeric_id(&id, "Appointment")?;
    let mut conn = state.db.acquire().await.map_err(crate::domain::Error::from)?;
    let a = appointments::get(&mut conn, auth.organization_id, id).await?;
    Ok(Fhir::showing(to_fhir(&a), RecordType::Appointment, &[a.id]))
}

pub async fn search(
    auth: Auth<ReadAppointments>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("Appointment"))?;
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let date = date_range("date", &params.all("date"))?;
    let refs = [("patient", "Patient"), ("practitioner", "Practitioner"), ("location", "Location")];
    let mut ids = [None, None, None];
    let mut nothing = false;
    for (i, (param, resource_type)) in refs.iter().enumerate() {
        if let Some(v) = params.one(param)? {
            match reference_id(v, resource_type) {
                Some(id) => ids[i] = Some(id),
                None => nothing = true,
            }
        }
    }
    let wanted: Option<Vec<AppointmentStatus>> =
        params.one("status")?.map(|v| tokens(v).iter().flat_map(|t| statuses(t)).collect());
    if wanted.as_ref().is_some_and(|w| w.is_empty()) {
        nothing = true;
    }
    let org = auth.organization_id;
    let (rows, next) = if nothing {
        (vec![], None)
    } else if let Some(id) = params.id()? {
        let mut conn = state.db.acquire().await.map_err(crate::domain::Error::from)?;
        match id {
            Some(id) => (super::found(appointments::get(&mut conn, org, id).await)?.into_iter().collect(), None),
            None => (vec![], None),
        }
    } else {
        let filter = ListFilter {
            patient_id: ids[0],
            provider_id: ids[1],
            location_id: ids[2],
            statuses: wanted.clone(),
            from: date.from,
            to: date.to,
        };
        kept(appointments::list(&state.db, org, &filter, &page_request(&params, &last_updated)?).await?, |_| true)
    };
    // What the list applied already is checked again here for the `_id` path.
    let rows: Vec<Appointment> = rows
        .into_iter()
        .filter(|a| last_updated.contains(a.updated_at) && date.contains(a.starts_at))
        .filter(|a| {
            ids[0].is_none_or(|p| p == a.patient_id)
                && ids[1].is_none_or(|p| p == a.provider_id)
                && ids[2].is_none_or(|l| l == a.location_id)
        })
        .filter(|a| wanted.as_ref().is_none_or(|w| w.iter().any(|s| s.as_str() == a.status)))
        .collect();
    let shown: Vec<i64> = rows.iter().map(|a| a.id).collect();
    let resources = rows.iter().map(to_fhir).collect();
    Ok(Fhir::showing(bundle(&base(&state), "Appointment", &params, resources, next), RecordType::Appointment, &shown))
}
