//! SOAP notes of a consultation: the record as every front door shows it, and its reads.
//!
//! A note has versions. Version 1 is written as a `draft` (or signed at once), may be changed
//! while it is one, and is signed by a provider of the consultation; after that it never
//! changes: a correction is an amendment, the next version, signed at once with its reason.
//! The database keeps every version (`soap_note_versions`) and refuses to change or delete a
//! signed one, whoever asks. `input` holds the request bodies and their rules, `write` the
//! transitions.

pub mod across;
pub mod input;
pub mod write;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model;
use crate::audit::{Disclose, Disclosure, RecordType};
use crate::db::horizon;
use crate::domain::{Error, Page, PageRequest, Result};

pub use input::{Amendment, NewSoapNote, Signature, SoapNoteChanges, MAX_REASON_CHARS, MAX_SECTION_BYTES};
pub use write::{amend, create, sign, update};

/// A note version's state: a `draft` may still change; a `signed` version never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    Draft,
    Signed,
}

impl NoteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteStatus::Draft => "draft",
            NoteStatus::Signed => "signed",
        }
    }
}

/// One version of a note: lists, the consultation's single view and events show the current
/// one; the note's single view adds the earlier ones.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoapNote {
    /// The note's id, the same for all its versions.
    #[schema(example = 7)]
    pub id: i64,
    pub consultation_id: i64,
    pub author_provider_id: i64,
    #[schema(required = true, example = "Cough for 3 days, no fever.")]
    pub subjective: Option<String>,
    #[schema(required = true, example = "Lungs clear. Temp 36.8 °C.")]
    pub objective: Option<String>,
    #[schema(required = true, example = "Viral upper respiratory infection.")]
    pub assessment: Option<String>,
    #[schema(required = true, example = "Rest, fluids; return if fever develops.")]
    pub plan: Option<String>,
    /// draft | signed. Only version 1 can be a draft; amendments are signed when written.
    #[schema(value_type = NoteStatus, example = "signed")]
    pub status: String,
    /// 1 for the note as first written, 2 for its first amendment, and so on.
    #[schema(example = 1, minimum = 1)]
    pub version: i32,
    /// The provider who signed this version (null while a draft).
    #[schema(required = true, example = 3)]
    pub signed_by_provider_id: Option<i64>,
    /// When this version was signed (null while a draft).
    #[schema(required = true)]
    pub signed_at: Option<DateTime<Utc>>,
    /// Why this version amends the previous one (null on version 1).
    #[schema(required = true, example = "Corrected the temperature reading.")]
    pub amendment_reason: Option<String>,
    /// The prefix of the API key that last wrote this version's sections (its creation, a
    /// `PATCH` of the draft, or the amendment); null for notes written before keys were
    /// recorded and for notes written without the API (the demo clinic).
    #[schema(required = true, example = "kv_3f9a1c2b")]
    pub created_by_key_prefix: Option<String>,
    /// The prefix of the API key that signed this version (null while a draft, and where
    /// `createdByKeyPrefix` is null).
    #[schema(required = true, example = "kv_8d2e4f60")]
    pub signed_by_key_prefix: Option<String>,
    /// When the note was first written (the same on every version).
    pub created_at: DateTime<Utc>,
    /// The current version: when the note last changed. An earlier version: when it was
    /// signed and so last written.
    pub updated_at: DateTime<Utc>,
}

impl SoapNote {
    pub fn is_signed(&self) -> bool {
        self.status == NoteStatus::Signed.as_str()
    }
}

impl Disclose for SoapNote {
    fn disclose(&self, to: &mut Disclosure) {
        to.add(RecordType::SoapNote, self.id);
    }
}

/// A note's current version with every earlier one, as its single view and its writes return
/// it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoapNoteDetail {
    #[serde(flatten)]
    pub note: SoapNote,
    /// The earlier versions, oldest first, exactly as they were signed (empty for version 1).
    pub versions: Vec<SoapNote>,
}

impl Disclose for SoapNoteDetail {
    /// The versions are the same record, under the same id.
    fn disclose(&self, to: &mut Disclosure) {
        self.note.disclose(to);
    }
}

/// One note's current version, in the caller's connection (`None`: no such note of this
/// consultation in the organization).
pub async fn fetch(conn: &mut PgConnection, org: Uuid, consultation_id: i64, note_id: i64) -> Result<Option<SoapNote>> {
    let note = sqlx::query_as!(
        SoapNote,
        "SELECT n.id, n.consultation_id, n.author_provider_id, v.subjective, v.objective, v.assessment, v.plan,
                v.status, v.version, v.signed_by_provider_id, v.signed_at, v.amendment_reason,
                v.created_by_key_prefix, v.signed_by_key_prefix, n.created_at, n.updated_at
         FROM soap_notes n JOIN soap_note_versions v ON v.note_id = n.id AND v.version = n.current_version
         WHERE n.organization_id = $1 AND n.consultation_id = $2 AND n.id = $3",
        org,
        consultation_id,
        note_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(note)
}

/// One note with its earlier versions, or [`Error::NotFound`]. Two statements: read them in one
/// snapshot (or after locking the note) for a consistent view.
pub async fn fetch_detail(
    conn: &mut PgConnection,
    org: Uuid,
    consultation_id: i64,
    note_id: i64,
) -> Result<SoapNoteDetail> {
    let note = fetch(&mut *conn, org, consultation_id, note_id).await?.ok_or(Error::NotFound("SOAP note"))?;
    let versions = sqlx::query_as!(
        SoapNote,
        "SELECT n.id, n.consultation_id, n.author_provider_id, v.subjective, v.objective, v.assessment, v.plan,
                v.status, v.version, v.signed_by_provider_id, v.signed_at, v.amendment_reason,
                v.created_by_key_prefix, v.signed_by_key_prefix, n.created_at, v.updated_at
         FROM soap_notes n JOIN soap_note_versions v ON v.note_id = n.id
         WHERE n.organization_id = $1 AND n.id = $2 AND v.version < $3
         ORDER BY v.version",
        org,
        note_id,
        note.version
    )
    .fetch_all(conn)
    .await?;
    Ok(SoapNoteDetail { note, versions })
}

/// Every note of a consultation as its single view shows it (current version and earlier
/// ones), ascending id: for the consultation's single view. Two statements: read them in one
/// snapshot.
pub async fn all_of(conn: &mut PgConnection, org: Uuid, consultation_id: i64) -> Result<Vec<SoapNoteDetail>> {
    let notes = sqlx::query_as!(
        SoapNote,
        "SELECT n.id, n.consultation_id, n.author_provider_id, v.subjective, v.objective, v.assessment, v.plan,
                v.status, v.version, v.signed_by_provider_id, v.signed_at, v.amendment_reason,
                v.created_by_key_prefix, v.signed_by_key_prefix, n.created_at, n.updated_at
         FROM soap_notes n JOIN soap_note_versions v ON v.note_id = n.id AND v.version = n.current_version
         WHERE n.organization_id = $1 AND n.consultation_id = $2 ORDER BY n.id",
        org,
        consultation_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut earlier = sqlx::query_as!(
        SoapNote,
        "SELECT n.id, n.consultation_id, n.author_provider_id, v.subjective, v.objective, v.assessment, v.plan,
                v.status, v.version, v.signed_by_provider_id, v.signed_at, v.amendment_reason,
                v.created_by_key_prefix, v.signed_by_key_prefix, n.created_at, v.updated_at
         FROM soap_notes n JOIN soap_note_versions v ON v.note_id = n.id AND v.version < n.current_version
         WHERE n.organization_id = $1 AND n.consultation_id = $2 ORDER BY n.id, v.version",
        org,
        consultation_id
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .peekable();
    let mut out = Vec::with_capacity(notes.len());
    for note in notes {
        let mut versions = Vec::new();
        while let Some(v) = earlier.next_if(|v| v.id == note.id) {
            versions.push(v);
        }
        out.push(SoapNoteDetail { note, versions });
    }
    Ok(out)
}

/// One page of a consultation's notes, each its current version: ascending id, or
/// `(updatedAt, id)` up to the sync horizon with `updatedSince` (a signature or an amendment
/// moves a note's `updatedAt`). No such consultation: [`Error::NotFound`].
pub async fn list(db: &PgPool, org: Uuid, consultation_id: i64, page: &PageRequest) -> Result<Page<SoapNote>> {
    let mut conn = db.acquire().await?;
    model::require(&mut conn, org, consultation_id).await?;
    let rows = match (page.updated_since, page.after_updated) {
        (Some(since), Some(after_updated)) => {
            let horizon = horizon::current(&mut conn).await?;
            sqlx::query_as!(
                SoapNote,
                "SELECT n.id, n.consultation_id, n.author_provider_id, v.subjective, v.objective, v.assessment,
                        v.plan, v.status, v.version, v.signed_by_provider_id, v.signed_at, v.amendment_reason,
                        v.created_by_key_prefix, v.signed_by_key_prefix, n.created_at, n.updated_at
                 FROM soap_notes n JOIN soap_note_versions v ON v.note_id = n.id AND v.version = n.current_version
                 WHERE n.organization_id = $1 AND n.consultation_id = $2
                   AND n.updated_at >= $3 AND (n.updated_at, n.id) > ($4, $5) AND n.updated_at < $7
                 ORDER BY n.updated_at, n.id LIMIT $6",
                org,
                consultation_id,
                since,
                after_updated,
                page.after_id,
                page.fetch(),
                horizon
            )
            .fetch_all(&mut *conn)
            .await?
        }
        _ => {
            sqlx::query_as!(
                SoapNote,
                "SELECT n.id, n.consultation_id, n.author_provider_id, v.subjective, v.objective, v.assessment,
                        v.plan, v.status, v.version, v.signed_by_provider_id, v.signed_at, v.amendment_reason,
                        v.created_by_key_prefix, v.signed_by_key_prefix, n.created_at, n.updated_at
                 FROM soap_notes n JOIN soap_note_versions v ON v.note_id = n.id AND v.version = n.current_version
                 WHERE n.organization_id = $1 AND n.consultation_id = $2 AND n.id > $3
                 ORDER BY n.id LIMIT $4",
                org,
                consultation_id,
                page.after_id,
                page.fetch()
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    Ok(page.finish(rows, |n| (n.id, n.updated_at)))
}

/// One note of a consultation with its earlier versions, read in one snapshot, or
/// [`Error::NotFound`].
pub async fn get(db: &PgPool, org: Uuid, consultation_id: i64, note_id: i64) -> Result<SoapNoteDetail> {
    let mut tx = db.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    let detail = fetch_detail(&mut tx, org, consultation_id, note_id).await?;
    tx.commit().await?;
    Ok(detail)
}
