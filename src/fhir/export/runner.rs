//! The background runner of export jobs: one job at a time per process, type by type, in pages
//! of 200 records read in short statements (never one long transaction), written as NDJSON
//! parts of about `PART_BYTES`. Memory stays at one page and one part, whatever the export's
//! size. Consistency: every record changed before the job's `transactionTime` (and at or after
//! `_since`) is exported; a record changed later is left to the next `_since` export.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::store::{self, Job};
use crate::audit::RecordType;
use crate::domain::consultations::soap_notes::across;
use crate::domain::{appointments, consultations, intake, locations, organizations, patients, providers, PageRequest};
use crate::fhir::resources::{appointment, clinical, directory, patient, scheduling};
use crate::state::AppState;

/// A part (one output file) is written once its NDJSON reaches this size. Small enough that the
/// statement that stores it, and the one that serves it, leave no large buffer behind on the
/// pooled connection that carried them (bench/README.md, "FHIR bulk export").
const PART_BYTES: usize = 1024 * 1024;
const PAGE: i64 = 200;

/// Runs jobs until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    loop {
        match store::claim(&state.db).await {
            Ok(Some(job)) => {
                let id = job.id;
                let outcome = tokio::select! {
                    r = export(&state, &job) => r,
                    _ = stop.cancelled() => return,
                };
                let error = match outcome {
                    Ok(true) => None,
                    Ok(false) => continue, // cancelled
                    Err(e) => {
                        tracing::warn!(job = %id, error = %e, "export failed");
                        Some("The export failed; start a new one.".to_string())
                    }
                };
                if let Err(e) = store::finish(&state.db, id, error.as_deref()).await {
                    tracing::warn!(job = %id, error = %e, "could not record the end of an export");
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not look for export jobs"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// One page of a type: each record's resources, the audit id it shows, and its `updatedAt`.
struct Record {
    resources: Vec<Value>,
    record_id: Option<i64>,
    updated_at: DateTime<Utc>,
}

type PageOut = (Vec<Record>, Option<String>);

/// Whether a type's pages come in `updatedAt` order (then the export stops at the first record
/// changed after `transactionTime`) rather than by id.
fn by_updated(resource_type: &str) -> bool {
    resource_type != "DocumentReference" && resource_type != "Organization"
}

async fn page(
    state: &AppState,
    job: &Job,
    resource_type: &str,
    cursor: Option<&str>,
) -> Result<PageOut, crate::domain::Error> {
    let org = job.organization_id;
    let since = job.since.unwrap_or(DateTime::UNIX_EPOCH);
    let request = if by_updated(resource_type) {
        PageRequest::new(Some(PAGE), cursor, Some(since))?
    } else {
        PageRequest::new(Some(PAGE), cursor, None)?
    };
    let one = |resources: Vec<Value>, record_id: Option<i64>, updated_at| Record { resources, record_id, updated_at };
    Ok(match resource_type {
        "Patient" => {
            let p = patients::list(&state.db, &state.generic_reads, org, &patients::ListFilter::default(), &request)
                .await?;
            (p.data.iter().map(|r| one(vec![patient::to_fhir(r)], Some(r.id), r.updated_at)).collect(), p.next_cursor)
        }
        "Practitioner" | "PractitionerRole" | "Schedule" => {
            let p = providers::list(&state.db, org, &providers::ListFilter::default(), &request).await?;
            let records = p
                .data
                .iter()
                .map(|r| {
                    let resources = match resource_type {
                        "Practitioner" => vec![directory::practitioner(r)],
                        "PractitionerRole" => r.location_ids.iter().map(|l| directory::role(r, *l, &org)).collect(),
                        _ => r.location_ids.iter().map(|l| scheduling::schedule(r, *l)).collect(),
                    };
                    one(resources, None, r.updated_at)
                })
                .collect();
            (records, p.next_cursor)
        }
        "Location" => {
            let p = locations::list(&state.db, org, &request).await?;
            (
                p.data.iter().map(|l| one(vec![directory::location(l, &org)], None, l.updated_at)).collect(),
                p.next_cursor,
            )
        }
        "Organization" => {
            let o = organizations::get(&state.db, org).await?;
            let keep = cursor.is_none() && o.created_at >= since;
            (if keep { vec![one(vec![directory::organization(&o)], None, o.created_at)] } else { vec![] }, None)
        }
        "Appointment" => {
            let p = appointments::list(&state.db, org, &appointments::ListFilter::default(), &request).await?;
            (
                p.data.iter().map(|a| one(vec![appointment::to_fhir(a)], Some(a.id), a.updated_at)).collect(),
                p.next_cursor,
            )
        }
        "Encounter" => {
            let mut read = crate::db::planned_read(&state.db).await?;
            let p = consultations::list(&mut read, org, &consultations::ListFilter::default(), &request).await?;
            (
                p.data.iter().map(|c| one(vec![clinical::encounter(c)], Some(c.id), c.updated_at)).collect(),
                p.next_cursor,
            )
        }
        "DocumentReference" => {
            let mut read = crate::db::planned_read(&state.db).await?;
            let filter = across::Filter { changed_since: job.since, ..Default::default() };
            let p = across::list(&mut read, org, &filter, &request).await?;
            (
                p.data
                    .iter()
                    .map(|n| one(clinical::documents(n), Some(n.detail.note.id), n.detail.note.updated_at))
                    .collect(),
                p.next_cursor,
            )
        }
        "MedicationRequest" => {
            let mut read = crate::db::planned_read(&state.db).await?;
            let p = consultations::prescriptions::list(&mut read, org, &Default::default(), &request).await?;
            (
                p.data.iter().map(|r| one(vec![clinical::medication_request(r)], Some(r.id), r.updated_at)).collect(),
                p.next_cursor,
            )
        }
        "QuestionnaireResponse" => {
            let filter =
                intake::ListFilter { statuses: Some(vec![intake::IntakeStatus::Completed]), ..Default::default() };
            let p = intake::list(&state.db, org, &filter, &request).await?;
            (
                p.data
                    .iter()
                    .map(|f| one(vec![clinical::questionnaire_response(f)], Some(f.id), f.updated_at))
                    .collect(),
                p.next_cursor,
            )
        }
        other => return Err(crate::domain::Error::internal(format!("no export for {other}"))),
    })
}

/// Exports every type of the job; `Ok(false)` when it was cancelled on the way.
async fn export(state: &AppState, job: &Job) -> Result<bool, crate::domain::Error> {
    let total_types = job.types.len();
    for (n, resource_type) in job.types.iter().enumerate() {
        let audit_type = RecordType::of_fhir_type(resource_type).map(RecordType::as_str);
        let mut part = 0;
        let mut ndjson = String::new();
        let mut ids: Vec<i64> = Vec::new();
        let mut count = 0i32;
        let mut exported = 0u64;
        let mut cursor: Option<String> = None;
        loop {
            let (records, next) = page(state, job, resource_type, cursor.as_deref()).await?;
            let mut past = false;
            for r in records {
                if r.updated_at >= job.transaction_time {
                    // Ordered by `updatedAt`: everything after is later still.
                    past = by_updated(resource_type);
                    if past {
                        break;
                    }
                    continue;
                }
                for resource in &r.resources {
                    ndjson.push_str(&serde_json::to_string(resource).unwrap_or_default());
                    ndjson.push('\n');
                    count += 1;
                }
                if let Some(id) = r.record_id {
                    ids.push(id);
                }
                if ndjson.len() >= PART_BYTES {
                    exported += count as u64;
                    let progress = format!("{resource_type} ({}/{total_types}): {exported} resources", n + 1);
                    if !store::store_part(
                        &state.db,
                        job.id,
                        resource_type,
                        part,
                        count,
                        audit_type,
                        &ids,
                        &ndjson,
                        &progress,
                    )
                    .await?
                    {
                        return Ok(false);
                    }
                    part += 1;
                    ndjson.clear();
                    ids.clear();
                    count = 0;
                }
            }
            if past || next.is_none() {
                break;
            }
            cursor = next;
            let progress = format!("{resource_type} ({}/{total_types}): {} resources", n + 1, exported + count as u64);
            if !store::heartbeat(&state.db, job.id, &progress).await? {
                return Ok(false);
            }
        }
        if count > 0 {
            exported += count as u64;
            let progress = format!("{resource_type} ({}/{total_types}): {exported} resources", n + 1);
            if !store::store_part(&state.db, job.id, resource_type, part, count, audit_type, &ids, &ndjson, &progress)
                .await?
            {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
