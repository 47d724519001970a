//! SOAP notes of a consultation: write, list, view. Notes are immutable once written; a
//! correction is a new note.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model;
use crate::audit::{Disclose, Disclosure, RecordType};
use crate::auth::permissions::{ReadConsultations, WriteConsultations};
use crate::db::horizon;
use crate::events::{self, EventType};
use crate::http::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::http::extract::{self, Auth, Path, Query};
use crate::http::pagination::PageRequest;
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;
use crate::state::AppState;

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

struct Sections {
    subjective: Option<String>,
    objective: Option<String>,
    assessment: Option<String>,
    plan: Option<String>,
}

fn validate(body: NewSoapNote) -> Result<Sections, ApiError> {
    let mut details = Vec::new();
    let mut section = |field: &str, value: Option<String>| {
        let value = value.filter(|v| !v.trim().is_empty())?;
        if value.len() > MAX_SECTION_BYTES {
            details.push(FieldError::new(field, "must be at most 64 KiB"));
        } else if value.contains('\0') {
            details.push(FieldError::new(field, "must not contain NUL characters"));
        }
        Some(value)
    };
    let sections = Sections {
        subjective: section("subjective", body.subjective),
        objective: section("objective", body.objective),
        assessment: section("assessment", body.assessment),
        plan: section("plan", body.plan),
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
        Err(ApiError::from_details(details))
    }
}

/// Every note of a consultation, ascending id (for the consultation's single view).
pub async fn all_of(conn: &mut PgConnection, org: Uuid, consultation_id: i64) -> Result<Vec<SoapNote>, sqlx::Error> {
    sqlx::query_as!(
        SoapNote,
        "SELECT id, consultation_id, author_provider_id, subjective, objective, assessment, plan, created_at,
                updated_at
         FROM soap_notes WHERE organization_id = $1 AND consultation_id = $2 ORDER BY id",
        org,
        consultation_id
    )
    .fetch_all(conn)
    .await
}

/// Write a SOAP note
///
/// On a consultation in progress or ended (notes may be completed after the visit). Records
/// `soap_note.created`. `authorProviderId` must name a provider of the organization
/// (`400 validation_error` otherwise).
#[utoipa::path(
    post,
    path = "/consultations/{id}/soap-notes",
    operation_id = "createSoapNote",
    tag = "Consultations",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("WRITE_CONSULTATIONS"))),
    params(("id" = i64, Path, description = "The consultation's id")),
    request_body = NewSoapNote,
    responses(
        (status = 201, description = "Written; `Location` is the note's URL", body = SoapNote,
         headers(("Location" = String, description = "/api/v1/consultations/{id}/soap-notes/{noteId}"))),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such consultation in this organization", body = ErrorBody),
    )
)]
pub async fn create(
    auth: Auth<WriteConsultations>,
    mut tx: Tx,
    Path(consultation_id): Path<i64>,
    extract::Json(body): extract::Json<NewSoapNote>,
) -> ApiResult<Records<Created<SoapNote>>> {
    let org = auth.organization_id;
    let author = body.author_provider_id;
    let sections = validate(body)?;
    let consultation = model::require(&mut tx, org, consultation_id).await?;
    let author = match author {
        None => consultation.provider_id,
        Some(author) => {
            let known = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM providers WHERE organization_id = $1 AND id = $2) AS "known!""#,
                org,
                author
            )
            .fetch_one(&mut *tx)
            .await?;
            if !known {
                return Err(ApiError::validation("authorProviderId", "no provider with this id in the organization"));
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
    .fetch_one(&mut *tx)
    .await?;
    events::record(&mut tx, org, EventType::SoapNoteCreated, &note).await?;
    Ok(Records(Created {
        location: format!("/api/v1/consultations/{consultation_id}/soap-notes/{}", note.id),
        body: note,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SoapNoteFilters {
    /// Only notes updated at or after this instant; orders by `(updatedAt, id)`.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    pub updated_since: Option<DateTime<Utc>>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of SOAP notes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoapNoteList {
    pub data: Vec<SoapNote>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
}

impl Disclose for SoapNoteList {
    fn disclose(&self, to: &mut Disclosure) {
        to.add_page(&self.data);
    }
}

/// List a consultation's SOAP notes
///
/// Ascending id; with `updatedSince`, ascending `(updatedAt, id)`.
#[utoipa::path(
    get,
    path = "/consultations/{id}/soap-notes",
    operation_id = "listSoapNotes",
    tag = "Consultations",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_CONSULTATIONS"))),
    params(("id" = i64, Path, description = "The consultation's id"), SoapNoteFilters),
    responses(
        (status = 200, description = "A page of notes", body = SoapNoteList),
        (status = 400, description = "A bad parameter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
        (status = 404, description = "No such consultation in this organization", body = ErrorBody),
    )
)]
pub async fn list(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Path(consultation_id): Path<i64>,
    Query(f): Query<SoapNoteFilters>,
) -> ApiResult<Records<SoapNoteList>> {
    let page = PageRequest::new(f.limit, f.cursor.as_deref(), f.updated_since)?;
    let org = auth.organization_id;
    let mut conn = state.db.acquire().await?;
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
    let page = page.finish(rows, |n| (n.id, n.updated_at));
    Ok(Records(SoapNoteList { data: page.data, next_cursor: page.next_cursor }))
}

/// Get a SOAP note
///
/// The note at the `Location` its creation returned.
#[utoipa::path(
    get,
    path = "/consultations/{id}/soap-notes/{noteId}",
    operation_id = "getSoapNote",
    tag = "Consultations",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_CONSULTATIONS"))),
    params(
        ("id" = i64, Path, description = "The consultation's id"),
        ("noteId" = i64, Path, description = "The note's id"),
    ),
    responses(
        (status = 200, description = "The note", body = SoapNote),
        (status = 404, description = "No such note of this consultation in this organization", body = ErrorBody),
    )
)]
pub async fn get(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Path((consultation_id, note_id)): Path<(i64, i64)>,
) -> ApiResult<Records<SoapNote>> {
    sqlx::query_as!(
        SoapNote,
        "SELECT id, consultation_id, author_provider_id, subjective, objective, assessment, plan, created_at,
                updated_at
         FROM soap_notes WHERE organization_id = $1 AND consultation_id = $2 AND id = $3",
        auth.organization_id,
        consultation_id,
        note_id
    )
    .fetch_optional(&state.db)
    .await?
    .map(Records)
    .ok_or(ApiError::NotFound("SOAP note"))
}
