//! Notes across consultations, with each note's patient: for readers that find notes by patient
//! or by consultation rather than through one consultation (the FHIR facade's DocumentReference).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{SoapNote, SoapNoteDetail};
use crate::domain::{Page, PageRequest, Result};

/// A note with every version, and the patient of its consultation.
#[derive(Debug, Clone)]
pub struct PatientNote {
    pub patient_id: i64,
    pub detail: SoapNoteDetail,
}

/// Which notes; every filter left out matches all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub note_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub consultation_id: Option<i64>,
    /// Notes changed at or after this instant.
    pub changed_since: Option<DateTime<Utc>>,
}

struct Row {
    patient_id: i64,
    id: i64,
    consultation_id: i64,
    author_provider_id: i64,
    subjective: Option<String>,
    objective: Option<String>,
    assessment: Option<String>,
    plan: Option<String>,
    status: String,
    version: i32,
    signed_by_provider_id: Option<i64>,
    signed_at: Option<DateTime<Utc>>,
    amendment_reason: Option<String>,
    created_by_key_prefix: Option<String>,
    signed_by_key_prefix: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One page of the organization's notes by ascending id, each with its earlier versions. Two
/// statements: call it in one snapshot (a planned read) for a consistent answer.
pub async fn list(
    conn: &mut PgConnection,
    org: Uuid,
    filter: &Filter,
    page: &PageRequest,
) -> Result<Page<PatientNote>> {
    let rows = sqlx::query_as!(
        Row,
        "SELECT c.patient_id, n.id, n.consultation_id, n.author_provider_id, v.subjective, v.objective, v.assessment,
                v.plan, v.status, v.version, v.signed_by_provider_id, v.signed_at, v.amendment_reason,
                v.created_by_key_prefix, v.signed_by_key_prefix, n.created_at, n.updated_at
         FROM soap_notes n
         JOIN soap_note_versions v ON v.note_id = n.id AND v.version = n.current_version
         JOIN consultations c ON c.id = n.consultation_id
         WHERE n.organization_id = $1 AND n.id > $2
           AND ($3::bigint IS NULL OR n.id = $3)
           AND ($4::bigint IS NULL OR c.patient_id = $4)
           AND ($5::bigint IS NULL OR n.consultation_id = $5)
           AND ($6::timestamptz IS NULL OR n.updated_at >= $6)
         ORDER BY n.id LIMIT $7",
        org,
        page.after_id,
        filter.note_id,
        filter.patient_id,
        filter.consultation_id,
        filter.changed_since,
        page.fetch(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut earlier = sqlx::query_as!(
        SoapNote,
        "SELECT n.id, n.consultation_id, n.author_provider_id, v.subjective, v.objective, v.assessment, v.plan,
                v.status, v.version, v.signed_by_provider_id, v.signed_at, v.amendment_reason,
                v.created_by_key_prefix, v.signed_by_key_prefix, n.created_at, v.updated_at
         FROM soap_notes n JOIN soap_note_versions v ON v.note_id = n.id AND v.version < n.current_version
         WHERE n.organization_id = $1 AND n.id = ANY($2) ORDER BY n.id, v.version",
        org,
        &ids
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .peekable();
    let mut notes = Vec::with_capacity(rows.len());
    for r in rows {
        let note = SoapNote {
            id: r.id,
            consultation_id: r.consultation_id,
            author_provider_id: r.author_provider_id,
            subjective: r.subjective,
            objective: r.objective,
            assessment: r.assessment,
            plan: r.plan,
            status: r.status,
            version: r.version,
            signed_by_provider_id: r.signed_by_provider_id,
            signed_at: r.signed_at,
            amendment_reason: r.amendment_reason,
            created_by_key_prefix: r.created_by_key_prefix,
            signed_by_key_prefix: r.signed_by_key_prefix,
            created_at: r.created_at,
            updated_at: r.updated_at,
        };
        let mut versions = Vec::new();
        while let Some(v) = earlier.next_if(|v| v.id == note.id) {
            versions.push(v);
        }
        notes.push(PatientNote { patient_id: r.patient_id, detail: SoapNoteDetail { note, versions } });
    }
    Ok(page.finish(notes, |n| (n.detail.note.id, n.detail.note.updated_at)))
}
