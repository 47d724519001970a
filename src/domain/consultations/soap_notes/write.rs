//! Writing a note and its transitions: `draft → signed` (at creation or later), changes to a
//! draft, amendments of a signed note. Each runs in the caller's transaction and records its
//! event there (`data`: the note as `GET` returns it, the current version with the earlier
//! ones); each transition first locks the note's row, so two concurrent signatures or
//! amendments of one note run one after the other and the second sees the first's result.

use sqlx::PgConnection;
use uuid::Uuid;

use super::input::{Amendment, NewSoapNote, Sections, SoapNoteChanges};
use super::{fetch, fetch_detail, NoteStatus, SoapNote, SoapNoteDetail};
use crate::domain::consultations::model;
use crate::domain::{Error, Result};
use crate::events::{self, EventType};

const NO_SUCH_PROVIDER: &str = "no provider with this id in the organization";
const NOT_A_SIGNER: &str = "must be the consultation's provider or the note's author";

/// Writes version 1 of a note on a consultation in progress or ended (notes may be completed
/// after the visit), as a draft or, with `sign`, signed; records `soap_note.created` (and
/// `soap_note.signed` when signed). `key_prefix` is the writing key's. The author must be a
/// provider of the organization ([`Error::Invalid`] on `authorProviderId`), the signer the
/// consultation's provider or the author ([`Error::Invalid`] on `sign.providerId`).
pub async fn create(
    conn: &mut PgConnection,
    org: Uuid,
    consultation_id: i64,
    key_prefix: &str,
    note: &NewSoapNote,
) -> Result<SoapNoteDetail> {
    let sections = note.validate()?;
    let consultation = model::require(conn, org, consultation_id).await?;
    let author = match note.author_provider_id {
        None => consultation.provider_id,
        Some(author) if provider_exists(conn, org, author).await? => author,
        Some(_) => return Err(Error::invalid("authorProviderId", NO_SUCH_PROVIDER)),
    };
    let signer = match &note.sign {
        Some(sign) => {
            check_signer(conn, org, "sign.providerId", sign.provider_id, consultation.provider_id, author).await?;
            Some(sign.provider_id)
        }
        None => None,
    };
    let status = if signer.is_some() { NoteStatus::Signed } else { NoteStatus::Draft };
    let id = sqlx::query_scalar!(
        "WITH n AS (
             INSERT INTO soap_notes (organization_id, consultation_id, author_provider_id)
             VALUES ($1, $2, $3) RETURNING id
         )
         INSERT INTO soap_note_versions (organization_id, note_id, version, subjective, objective, assessment, plan,
                                         status, signed_by_provider_id, signed_at, signed_by_key_prefix,
                                         created_by_key_prefix)
         SELECT $1, n.id, 1, $4, $5, $6, $7, $8, $9::bigint,
                CASE WHEN $9::bigint IS NULL THEN NULL ELSE now() END,
                CASE WHEN $9::bigint IS NULL THEN NULL ELSE $10::text END, $10::text
         FROM n RETURNING note_id",
        org,
        consultation_id,
        author,
        sections.subjective,
        sections.objective,
        sections.assessment,
        sections.plan,
        status.as_str(),
        signer,
        key_prefix
    )
    .fetch_one(&mut *conn)
    .await?;
    let detail = fetch_detail(conn, org, consultation_id, id).await?;
    events::record(conn, org, EventType::SoapNoteCreated, &detail).await?;
    if detail.note.is_signed() {
        events::record(conn, org, EventType::SoapNoteSigned, &detail).await?;
    }
    Ok(detail)
}

/// Changes sections of a draft (`key_prefix` becomes its `createdByKeyPrefix`: the key that
/// last wrote its text). A signed note: [`Error::InvalidStateTransition`], nothing changed. No
/// event: the draft is not yet a clinical record.
pub async fn update(
    conn: &mut PgConnection,
    org: Uuid,
    consultation_id: i64,
    note_id: i64,
    key_prefix: &str,
    changes: &SoapNoteChanges,
) -> Result<SoapNoteDetail> {
    let sent = changes.validate()?;
    let current = lock(conn, org, consultation_id, note_id).await?;
    if current.note.is_signed() {
        return Err(Error::transition("A signed note cannot be changed; amend it instead (POST …/amendments)"));
    }
    let sections = sent.apply_to(&sections_of(&current.note))?;
    sqlx::query!(
        "UPDATE soap_note_versions
         SET subjective = $3, objective = $4, assessment = $5, plan = $6, created_by_key_prefix = $7
         WHERE note_id = $1 AND version = $2",
        note_id,
        current.note.version,
        sections.subjective,
        sections.objective,
        sections.assessment,
        sections.plan,
        key_prefix
    )
    .execute(&mut *conn)
    .await?;
    touch(conn, note_id, current.note.version).await?;
    fetch_detail(conn, org, consultation_id, note_id).await
}

/// Signs a draft (`draft → signed`) by `provider_id`, the consultation's provider or the
/// note's author ([`Error::Invalid`] on `providerId` otherwise); records `soap_note.signed`. A
/// note already signed: [`Error::InvalidStateTransition`], nothing changed.
pub async fn sign(
    conn: &mut PgConnection,
    org: Uuid,
    consultation_id: i64,
    note_id: i64,
    key_prefix: &str,
    provider_id: i64,
) -> Result<SoapNoteDetail> {
    let current = lock(conn, org, consultation_id, note_id).await?;
    if current.note.is_signed() {
        return Err(Error::transition("This note is already signed; a correction is an amendment"));
    }
    check_signer(
        conn,
        org,
        "providerId",
        provider_id,
        current.consultation_provider_id,
        current.note.author_provider_id,
    )
    .await?;
    sqlx::query!(
        "UPDATE soap_note_versions
         SET status = $3, signed_by_provider_id = $4, signed_at = now(), signed_by_key_prefix = $5
         WHERE note_id = $1 AND version = $2",
        note_id,
        current.note.version,
        NoteStatus::Signed.as_str(),
        provider_id,
        key_prefix
    )
    .execute(&mut *conn)
    .await?;
    touch(conn, note_id, current.note.version).await?;
    let detail = fetch_detail(conn, org, consultation_id, note_id).await?;
    events::record(conn, org, EventType::SoapNoteSigned, &detail).await?;
    Ok(detail)
}

/// Amends a signed note: writes the next version, signed at once by `providerId` (the
/// consultation's provider or the note's author), with the sections sent replacing the current
/// version's; records `soap_note.amended`. The earlier versions stay as they were signed. A
/// draft: [`Error::InvalidStateTransition`] (change it with [`update`]), nothing changed.
pub async fn amend(
    conn: &mut PgConnection,
    org: Uuid,
    consultation_id: i64,
    note_id: i64,
    key_prefix: &str,
    amendment: &Amendment,
) -> Result<SoapNoteDetail> {
    let (reason, sent) = amendment.validate()?;
    let current = lock(conn, org, consultation_id, note_id).await?;
    if !current.note.is_signed() {
        return Err(Error::transition("Only a signed note can be amended; a draft is changed with PATCH"));
    }
    check_signer(
        conn,
        org,
        "providerId",
        amendment.provider_id,
        current.consultation_provider_id,
        current.note.author_provider_id,
    )
    .await?;
    let sections = sent.apply_to(&sections_of(&current.note))?;
    let next = current.note.version + 1;
    sqlx::query!(
        "INSERT INTO soap_note_versions (organization_id, note_id, version, subjective, objective, assessment, plan,
                                         status, signed_by_provider_id, signed_at, signed_by_key_prefix,
                                         amendment_reason, created_by_key_prefix)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), $10, $11, $10)",
        org,
        note_id,
        next,
        sections.subjective,
        sections.objective,
        sections.assessment,
        sections.plan,
        NoteStatus::Signed.as_str(),
        amendment.provider_id,
        key_prefix,
        reason
    )
    .execute(&mut *conn)
    .await?;
    touch(conn, note_id, next).await?;
    let detail = fetch_detail(conn, org, consultation_id, note_id).await?;
    events::record(conn, org, EventType::SoapNoteAmended, &detail).await?;
    Ok(detail)
}

/// A locked note's current version and its consultation's provider.
struct Locked {
    note: SoapNote,
    consultation_provider_id: i64,
}

/// Locks the note's row (`FOR UPDATE`), then reads its current version in a statement of its
/// own: under READ COMMITTED that statement sees whatever a transition that held the lock
/// before us committed (a join read in the locking statement could be of the older snapshot).
async fn lock(conn: &mut PgConnection, org: Uuid, consultation_id: i64, note_id: i64) -> Result<Locked> {
    let consultation_provider_id = sqlx::query_scalar!(
        "SELECT c.provider_id FROM soap_notes n JOIN consultations c ON c.id = n.consultation_id
         WHERE n.organization_id = $1 AND n.consultation_id = $2 AND n.id = $3
         FOR UPDATE OF n",
        org,
        consultation_id,
        note_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound("SOAP note"))?;
    let note = fetch(conn, org, consultation_id, note_id).await?.ok_or_else(|| Error::internal("note vanished"))?;
    Ok(Locked { note, consultation_provider_id })
}

/// Moves the note's current version (or keeps it) and its `updatedAt`, for sync.
async fn touch(conn: &mut PgConnection, note_id: i64, version: i32) -> Result<()> {
    sqlx::query!("UPDATE soap_notes SET current_version = $2, updated_at = now() WHERE id = $1", note_id, version)
        .execute(conn)
        .await?;
    Ok(())
}

fn sections_of(note: &SoapNote) -> Sections {
    Sections {
        subjective: note.subjective.clone(),
        objective: note.objective.clone(),
        assessment: note.assessment.clone(),
        plan: note.plan.clone(),
    }
}

async fn provider_exists(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<bool> {
    let known = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM providers WHERE organization_id = $1 AND id = $2) AS "known!""#,
        org,
        id
    )
    .fetch_one(conn)
    .await?;
    Ok(known)
}

/// Who may sign: the consultation's provider or the note's author. Anyone else is a
/// validation error on `field`, which says whether the organization has such a provider at all
/// (another organization's provider is no provider here).
async fn check_signer(
    conn: &mut PgConnection,
    org: Uuid,
    field: &str,
    provider_id: i64,
    consultation_provider_id: i64,
    author_provider_id: i64,
) -> Result<()> {
    if provider_id == consultation_provider_id || provider_id == author_provider_id {
        return Ok(());
    }
    let message = if provider_exists(conn, org, provider_id).await? { NOT_A_SIGNER } else { NO_SUCH_PROVIDER };
    Err(Error::invalid(field, message))
}
