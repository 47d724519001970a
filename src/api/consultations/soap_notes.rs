//! `POST`/`GET /consultations/{id}/soap-notes` and `GET /consultations/{id}/soap-notes/{noteId}`;
//! the note's transitions are in `soap_note_lifecycle`.

use axum::extract::State;

use crate::auth::permissions::{ReadConsultations, WriteConsultations};
use crate::domain::consultations::soap_notes::{self, NewSoapNote, SoapNote, SoapNoteDetail};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{self, Auth, Path, Query};
use crate::http::pagination::{list_query, paged};
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;
use crate::state::AppState;

paged!(SoapNoteList = SoapNote, "SOAP notes");

list_query! {
    pub struct ListSoapNotesQuery {}
}

/// Write a SOAP note
///
/// Writes version 1 of a note on a consultation in progress or ended (notes may be completed
/// after the visit). Without `sign` the note is a `draft`: it can be changed with `PATCH` and
/// is signed with `POST …/sign`. With `"sign": {"providerId": N}` it is created `signed` by that
/// provider, who must be the consultation's provider or the note's author. Records
/// `soap_note.created`, and when signed at once `soap_note.signed` after it. The response is
/// the note as `GET` returns it (`versions` empty); `createdByKeyPrefix` is this request's key.
/// `authorProviderId` must name a provider of the organization and `sign.providerId` a
/// permitted signer: `400 validation_error` on that field otherwise (a provider of another
/// organization is no provider here).
#[utoipa::path(
    post,
    path = "/api/v1/consultations/{id}/soap-notes",
    operation_id = "createSoapNote",
    tag = "Consultations",
    params(("id" = i64, Path, description = "The consultation's id")),
    request_body = NewSoapNote,
    responses(
        (status = 201, description = "Written; `Location` is the note's URL", body = SoapNoteDetail,
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
) -> ApiResult<Records<Created<SoapNoteDetail>>> {
    let note = soap_notes::create(&mut tx, auth.organization_id, consultation_id, &auth.key_prefix, &body).await?;
    let location = format!("/api/v1/consultations/{consultation_id}/soap-notes/{}", note.note.id);
    Ok(Records(Created { location, body: note }))
}

/// List a consultation's SOAP notes
///
/// Each note as its current version (`status`, `version`; no `versions`). Ascending id; with
/// `updatedSince`, ascending `(updatedAt, id)` — a change to a draft, a signature and an
/// amendment each move a note's `updatedAt`.
#[utoipa::path(
    get,
    path = "/api/v1/consultations/{id}/soap-notes",
    operation_id = "listSoapNotes",
    tag = "Consultations",
    params(("id" = i64, Path, description = "The consultation's id"), ListSoapNotesQuery),
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
    Query(query): Query<ListSoapNotesQuery>,
) -> ApiResult<Records<SoapNoteList>> {
    let page = query.page()?;
    Ok(Records(soap_notes::list(&state.db, auth.organization_id, consultation_id, &page).await?))
}

/// Get a SOAP note
///
/// The note's current version, with `versions`: every earlier version, oldest first, exactly as
/// it was signed (empty while the note has one version).
#[utoipa::path(
    get,
    path = "/api/v1/consultations/{id}/soap-notes/{noteId}",
    operation_id = "getSoapNote",
    tag = "Consultations",
    params(
        ("id" = i64, Path, description = "The consultation's id"),
        ("noteId" = i64, Path, description = "The note's id"),
    ),
    responses(
        (status = 200, description = "The note", body = SoapNoteDetail),
        (status = 404, description = "No such note of this consultation in this organization", body = ErrorBody),
    )
)]
pub async fn get(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Path((consultation_id, note_id)): Path<(i64, i64)>,
) -> ApiResult<Records<SoapNoteDetail>> {
    Ok(Records(soap_notes::get(&state.db, auth.organization_id, consultation_id, note_id).await?))
}
