//! SOAP notes of a consultation: the record, its rules and its SQL. Notes are immutable once
//! written; a correction is a new note.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model;
use crate::audit::{Disclose, Disclosure, RecordType};
use crate::db::horizon;
use crate::domain::{Error, FieldError, Page, PageRequest, Result};
use crate::events::{self, EventType};

/// Each section's limit, in bytes of UTF-8.
pub const MAX_SECTION_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoapNote {
    #[schema(example = 7)]
    pub id: i64,
    pub consultation_id: i64,
    pub author_provider_id: i64,
    #[schema(example = "Cough for 3 days, no fever.")]
    pub subjective: Option<String>,
    pub objective: Option<String>,
    pub assessment: Option<String>,
    pub plan: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Disclose for SoapNote {
    fn disclose(&self, to: &mut Disclosure) {
        to.add(RecordType::SoapNote, self.id);
    }
}

/// A new note: at least one section non-blank; each at most 64 KiB. Blank sections are stored
/// as `null`; others verbatim.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSoapNote {
    #[schema(example = "Cough for 3 days, no fever.")]
    pub subjective: Option<String>,
    #[schema(example = "Lungs clear. Temp 36.8 °C.")]
    pub objective: Option<String>,
    #[schema(example = "Viral upper respiratory infection.")]
    pub assessment: Option<String>,
    #[schema(example = "Rest, fluids; return if fever develops.")]
    pub plan: Option<String>,
    /// A provider of the organization; defaults to the consultation's provider.
    pub author_provider_id: Option<i64>,
}

struct Sections<'a> {
    subjective: Option<&'a str>,
    objective: Option<&'a str>,
    assessment: Option<&'a str>,
    plan: Option<&'a str>,
}

fn validate<'a>(note: &'a NewSoapNote) -> Result<Sections<'a>> {
    let mut details = Vec::new();
    let mut section = |field: &str, value: Option<&'a str>| {
        let value = value.filter(|v| !v.trim().is_empty())?;
        if value.len() > MAX_SECTION_BYTES {
            details.push(FieldError::new(field, "must be at most 64 KiB"));
        } else if value.contains('\0') {
            details.push(FieldError::new(field, "must not contain NUL characters"));
        }
        Some(value)
    };
    let sections = Sections {
        subjective: section("subjective", note.subjective.as_deref()),
        objective: section("objective", note.objective.as_deref()),
        assessment: section("assessment", note.assessment.as_deref()),
        plan: section("plan", note.plan.as_deref()),
    };
    let all_blank = sections.subjective.is_none()
        && sections.objective.is_none()
        && sections.assessment.is_none()
        && sections.plan.is_none();
    if all_blank {
        details
            .push(FieldError::new("body", "at least one of subjective, objective, assessment, plan must be non-empty"));
    }
    if details.is_empty() {
        Ok(sections)
    } else {
        Err(Error::Invalid(details))
    }
}

/// Writes a note on a consultation in progress or ended (notes may be completed after the
/// visit) and records `soap_note.created`, in the caller's transaction. The author must be a
/// provider of the organization ([`Error::Invalid`] on `authorProviderId` otherwise).
pub async fn create(conn: &mut PgConnection, org: Uuid, consultation_id: i64, note: &NewSoapNote) -> Result<SoapNote> {
    let sections = validate(note)?;
    let consultation = model::require(conn, org, consultation_id).await?;
    let author = match note.author_provider_id {
        None => consultation.provider_id,
        Some(author) => {
            let known = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM providers WHERE organization_id = $1 AND id = $2) AS "known!""#,
                org,
                author
            )
            .fetch_one(&mut *conn)
            .await?;
            if !known {
                return Err(Error::invalid("authorProviderId", "no provider with this id in the organization"));
            }
            author
        }
    };
    let note = sqlx::query_as!(
        SoapNote,
        "INSERT INTO soap_notes (organization_id, consultation_id, author_provider_id, subjective, objective,
                                 assessment, plan)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, consultation_id, author_provider_id, subjective, objective, assessment, plan, created_at,
                   updated_at",
        org,
        consultation_id,
        author,
        sections.subjective,
        sections.objective,
        sections.assessment,
        sections.plan
    )
    .fetch_one(&mut *conn)
    .await?;
    events::record(conn, org, EventType::SoapNoteCreated, &note).await?;
    Ok(note)
}

/// Every note of a consultation, ascending id (for the consultation's single view).
pub async fn all_of(conn: &mut PgConnection, org: Uuid, consultation_id: i64) -> Result<Vec<SoapNote>> {
    let notes = sqlx::query_as!(
        SoapNote,
        "SELECT id, consultation_id, author_provider_id, subjective, objective, assessment, plan, created_at,
                updated_at
         FROM soap_notes WHERE organization_id = $1 AND consultation_id = $2 ORDER BY id",
        org,
        consultation_id
    )
    .fetch_all(conn)
    .await?;
    Ok(notes)
}

/// One page of a consultation's notes: ascending id, or `(updatedAt, id)` up to the sync
/// horizon with `updatedSince`. No such consultation: [`Error::NotFound`].
pub async fn list(db: &PgPool, org: Uuid, consultation_id: i64, page: &PageRequest) -> Result<Page<SoapNote>> {
    let mut conn = db.acquire().await?;
    model::require(&mut conn, org, consultation_id).await?;
    let rows = match (page.updated_since, page.after_updated) {
        (Some(since), Some(after_updated)) => {
            let horizon = horizon::current(&mut conn).await?;
            sqlx::query_as!(
                SoapNote,
                "SELECT id, consultation_id, author_provider_id, subjective, objective, assessment, plan, created_at,
                        updated_at
                 FROM soap_notes
                 WHERE organization_id = $1 AND consultation_id = $2
                   AND updated_at >= $3 AND (updated_at, id) > ($4, $5) AND updated_at < $7
                 ORDER BY updated_at, id LIMIT $6",
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
                "SELECT id, consultation_id, author_provider_id, subjective, objective, assessment, plan, created_at,
                        updated_at
                 FROM soap_notes
                 WHERE organization_id = $1 AND consultation_id = $2 AND id > $3
                 ORDER BY id LIMIT $4",
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

/// One note of a consultation, or [`Error::NotFound`].
pub async fn get(db: &PgPool, org: Uuid, consultation_id: i64, note_id: i64) -> Result<SoapNote> {
    sqlx::query_as!(
        SoapNote,
        "SELECT id, consultation_id, author_provider_id, subjective, objective, assessment, plan, created_at,
                updated_at
         FROM soap_notes WHERE organization_id = $1 AND consultation_id = $2 AND id = $3",
        org,
        consultation_id,
        note_id
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound("SOAP note"))
}
