//! Bulk Data export (FHIR Bulk Data Access v2): `GET /fhir/R4/$export` and
//! `/fhir/R4/Patient/$export` start a job (`202` + `Content-Location`); polling that status URL
//! gives `202` with `X-Progress` while it runs and then the manifest; each output file is
//! NDJSON, fetched with the same key; `DELETE` on the status URL cancels. Jobs live in
//! PostgreSQL (`store`) and run in the background (`runner`).

pub mod runner;
pub mod store;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::resources::{base, instant, SERVED};
use crate::audit::{Disclosure, RecordType};
use crate::auth::permissions::AnyKey;
use crate::auth::Permission;
use crate::http::error::ApiError;
use crate::http::extract::Auth;
use crate::state::AppState;

/// The resource types of the Patient compartment that are served.
const PATIENT_TYPES: [&str; 6] =
    ["Patient", "Appointment", "Encounter", "DocumentReference", "MedicationRequest", "QuestionnaireResponse"];

/// The permission a resource type needs (the same as its reads).
pub fn permission(resource_type: &str) -> Permission {
    match resource_type {
        "Patient" | "QuestionnaireResponse" => Permission::ReadPatients,
        "Practitioner" | "PractitionerRole" | "Location" | "Organization" => Permission::ReadProviders,
        "Appointment" | "Schedule" | "Slot" => Permission::ReadAppointments,
        _ => Permission::ReadConsultations,
    }
}

/// The types a system-level export can hold: every served type but Slot, which is computed
/// availability rather than stored data.
fn exportable(kind: &str) -> Vec<&'static str> {
    match kind {
        "patient" => PATIENT_TYPES.to_vec(),
        _ => SERVED.iter().map(|(t, _)| *t).filter(|t| *t != "Slot").collect(),
    }
}

fn accepted_ndjson(format: &str) -> bool {
    matches!(format, "application/fhir+ndjson" | "application/ndjson" | "ndjson")
}

async fn kick_off(
    auth: Auth<AnyKey>,
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    kind: &'static str,
) -> Result<Response, ApiError> {
    let prefer_async = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"));
    if !prefer_async {
        return Err(ApiError::validation("Prefer", "an export runs asynchronously: send Prefer: respond-async"));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let possible = exportable(kind);
    let mut types: Option<Vec<String>> = None;
    let mut since: Option<DateTime<Utc>> = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "_outputFormat" if accepted_ndjson(value) => {}
            "_outputFormat" => {
                return Err(ApiError::validation("_outputFormat", "only application/fhir+ndjson is served"))
            }
            "_type" => {
                let mut list = types.take().unwrap_or_default();
                for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if !possible.contains(&t) {
                        return Err(ApiError::validation(
                            "_type",
                            format!("{t} cannot be exported here (possible: {})", possible.join(", ")),
                        ));
                    }
                    if !list.iter().any(|l| l == t) {
                        list.push(t.to_string());
                    }
                }
                // An empty `_type` is no `_type`.
                types = Some(list).filter(|l| !l.is_empty()).or(types.take());
            }
            "_since" => {
                since = Some(
                    DateTime::parse_from_rfc3339(value)
                        .map_err(|_| {
                            ApiError::validation("_since", "must be a FHIR instant such as 2026-03-14T09:00:00Z")
                        })?
                        .with_timezone(&Utc),
                )
            }
            other => {
                return Err(ApiError::validation(
                    other,
                    "is not a parameter of $export here (_type, _since, _outputFormat)",
                ))
            }
        }
    }
    let types = match types {
        // Every type asked for needs its permission.
        Some(list) => {
            if let Some(t) = list.iter().find(|t| !auth.has(permission(t))) {
                return Err(ApiError::InsufficientPermission(permission(t)));
            }
            list
        }
        // Without `_type`: every type the key may read.
        None => possible.iter().filter(|t| auth.has(permission(t))).map(|t| t.to_string()).collect(),
    };
    if types.is_empty() {
        return Err(ApiError::InsufficientPermission(Permission::ReadPatients));
    }
    let mut conn = state.db.acquire().await.map_err(crate::domain::Error::from)?;
    let transaction_time = crate::db::horizon::current(&mut conn).await.map_err(crate::domain::Error::from)?;
    drop(conn);
    let request = format!("{}{}", state.config.public_origin(), uri);
    let id = store::create(
        &state.db,
        store::NewJob {
            organization_id: auth.organization_id,
            api_key_id: auth.key_id,
            kind,
            types: &types,
            since,
            request: &request,
            transaction_time,
            ttl: state.config.fhir_export_ttl,
        },
    )
    .await
    .map_err(crate::domain::Error::from)?;
    let id = match id {
        Ok(id) => id,
        Err(store::Refusal::KeyBusy) => {
            return Err(ApiError::Busy {
                message: "This key has an export under way: wait for it (or cancel it with DELETE on its status URL)".into(),
                retry_after: 10,
            })
        }
        Err(store::Refusal::OrganizationFull) => {
            return Err(ApiError::Busy {
                message: format!(
                    "The organization keeps {} exports already: delete finished ones (DELETE on their status URL) or wait until they expire",
                    store::KEPT_PER_ORGANIZATION
                ),
                retry_after: 60,
            })
        }
    };
    let status_url = format!("{}/$export-status/{id}", base(state));
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    Ok(response)
}

pub async fn export_system(
    auth: Auth<AnyKey>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    kick_off(auth, &state, &uri, &headers, "system").await
}

pub async fn export_patients(
    auth: Auth<AnyKey>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    kick_off(auth, &state, &uri, &headers, "patient").await
}

async fn own_job(auth: &Auth<AnyKey>, state: &AppState, id: &str) -> Result<store::Job, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Export"))?;
    store::get(&state.db, auth.organization_id, auth.key_id, id)
        .await
        .map_err(crate::domain::Error::from)?
        .ok_or(ApiError::NotFound("Export"))
}

/// Polling: `202` with `X-Progress` (and `Retry-After`) while queued or running; the manifest
/// when complete; an OperationOutcome when it failed or was cancelled.
pub async fn status(
    auth: Auth<AnyKey>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = own_job(&auth, &state, &id).await?;
    match job.status.as_str() {
        "queued" | "running" => {
            let mut response = StatusCode::ACCEPTED.into_response();
            let progress = job.progress.unwrap_or_else(|| "queued".into());
            if let Ok(v) = HeaderValue::from_str(&progress) {
                response.headers_mut().insert("x-progress", v);
            }
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            Ok(response)
        }
        "completed" => {
            let files = store::files(&state.db, job.id).await.map_err(crate::domain::Error::from)?;
            let output: Vec<serde_json::Value> = files
                .iter()
                .map(|f| {
                    json!({
                        "type": f.resource_type,
                        "url": format!("{}/$export-file/{}/{}/{}", base(&state), job.id, f.resource_type, f.part),
                        "count": f.resources,
                    })
                })
                .collect();
            let manifest = json!({
                "transactionTime": instant(job.transaction_time),
                "request": job.request,
                "requiresAccessToken": true,
                "output": output,
                "error": [],
                "extension": {"expiresAt": instant(job.expires_at)},
            });
            Ok(([(header::CONTENT_TYPE, "application/json")], manifest.to_string()).into_response())
        }
        "cancelled" => Err(ApiError::NotFound("Export")),
        _ => Err(ApiError::internal(job.error.unwrap_or_else(|| "The export failed".into()))),
    }
}

pub async fn cancel(
    auth: Auth<AnyKey>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = own_job(&auth, &state, &id).await?;
    if job.status == "cancelled" {
        return Err(ApiError::NotFound("Export"));
    }
    store::cancel(&state.db, job.id).await.map_err(crate::domain::Error::from)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// One output file (a part of one type's output), as NDJSON; audited as a read of the records
/// it shows, like any other response.
pub async fn file(
    auth: Auth<AnyKey>,
    State(state): State<AppState>,
    Path((id, resource_type, part)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let job = own_job(&auth, &state, &id).await?;
    let part = match part.parse::<i32>() {
        Ok(n) if n >= 0 && n.to_string() == part => n,
        _ => return Err(ApiError::NotFound("Export file")),
    };
    if job.status != "completed" {
        return Err(ApiError::NotFound("Export file"));
    }
    // The key may have lost a permission since the kick-off.
    if !auth.has(permission(&resource_type)) {
        return Err(ApiError::InsufficientPermission(permission(&resource_type)));
    }
    let f = store::file(&state.db, job.id, &resource_type, part)
        .await
        .map_err(crate::domain::Error::from)?
        .ok_or(ApiError::NotFound("Export file"))?;
    let mut disclosure = Disclosure::default();
    if let Some(t) = f.record_type.as_deref().and_then(|t| RecordType::ALL.into_iter().find(|r| r.as_str() == t)) {
        for id in &f.record_ids {
            disclosure.add(t, *id);
        }
    }
    let mut response = ([(header::CONTENT_TYPE, "application/fhir+ndjson")], f.ndjson).into_response();
    response.extensions_mut().insert(disclosure);
    Ok(response)
}
