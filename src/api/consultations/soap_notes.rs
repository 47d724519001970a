//! `POST`/`GET /consultations/{id}/soap-notes` and `GET /consultations/{id}/soap-notes/{noteId}`.

use axum::extract::State;

use crate::auth::permissions::{ReadConsultations, WriteConsultations};
use crate::domain::consultations::soap_notes::{self, NewSoapNote, SoapNote};
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
/// On a consultation in progress or ended (notes may be completed after the visit). Records
/// `soap_note.created`. `authorProviderId` must name a provider of the organization
/// (`400 validation_error` otherwise).
#[utoipa::path(
    post,
    path = "/consultations/{id}/soap-notes",
    operation_id = "createSoapNote",
    tag = "Consultations",
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
    let note = soap_notes::create(&mut tx, auth.organization_id, consultation_id, &body).await?;
    let location = format!("/api/v1/consultations/{consultation_id}/soap-notes/{}", note.id);
    Ok(Records(Created { location, body: note }))
}

/// List a consultation's SOAP notes
///
/// Ascending id; with `updatedSince`, ascending `(updatedAt, id)`.
#[utoipa::path(
    get,
    path = "/consultations/{id}/soap-notes",
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
/// The note at the `Location` its creation returned.
#[utoipa::path(
    get,
    path = "/consultations/{id}/soap-notes/{noteId}",
    operation_id = "getSoapNote",
    tag = "Consultations",
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
    Ok(Records(soap_notes::get(&state.db, auth.organization_id, consultation_id, note_id).await?))
}
