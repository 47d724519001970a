//! `PATCH /consultations/{id}/soap-notes/{noteId}`, `POST …/{noteId}/sign` and
//! `POST …/{noteId}/amendments`: a note's lifecycle, over
//! [`crate::domain::consultations::soap_notes`].

use crate::auth::permissions::WriteConsultations;
use crate::domain::consultations::soap_notes::{self, Amendment, Signature, SoapNoteChanges, SoapNoteDetail};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{self, Auth, Path};
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;

/// Change a draft SOAP note
///
/// Replaces the sections sent (a blank string clears one; a section not sent, or `null`, is
/// kept); at least one section must be sent and the note keeps at least one non-blank section.
/// The draft's `createdByKeyPrefix` becomes this request's key, the key that last wrote its text.
/// Only a `draft` can change: a signed note is `409 invalid_state_transition` and nothing
/// changes — correct it with an amendment. No event is recorded (a draft is not yet part of
/// the clinical record).
#[utoipa::path(
    patch,
    path = "/api/v1/consultations/{id}/soap-notes/{noteId}",
    operation_id = "updateSoapNote",
    tag = "Consultations",
    params(
        ("id" = i64, Path, description = "The consultation's id"),
        ("noteId" = i64, Path, description = "The note's id"),
    ),
    request_body = SoapNoteChanges,
    responses(
        (status = 200, description = "The changed draft", body = SoapNoteDetail),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such note of this consultation in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`: the note is signed", body = ErrorBody),
    )
)]
pub async fn update(
    auth: Auth<WriteConsultations>,
    mut tx: Tx,
    Path((consultation_id, note_id)): Path<(i64, i64)>,
    extract::Json(body): extract::Json<SoapNoteChanges>,
) -> ApiResult<Records<SoapNoteDetail>> {
    let org = auth.organization_id;
    Ok(Records(soap_notes::update(&mut tx, org, consultation_id, note_id, &auth.key_prefix, &body).await?))
}

/// Sign a SOAP note
///
/// `draft → signed`, by `providerId`, who must be the consultation's provider or the note's
/// author: anyone else — another provider of the organization, an unknown id, a provider of
/// another organization — is `400 validation_error` on `providerId`. From then on the note's
/// text never changes; corrections are amendments. Records `soap_note.signed`, its `data` the
/// note as `GET` returns it. A note already signed is `409 invalid_state_transition` and nothing
/// changes. Concurrent signatures of one note run one after the other: exactly one succeeds.
#[utoipa::path(
    post,
    path = "/api/v1/consultations/{id}/soap-notes/{noteId}/sign",
    operation_id = "signSoapNote",
    tag = "Consultations",
    params(
        ("id" = i64, Path, description = "The consultation's id"),
        ("noteId" = i64, Path, description = "The note's id"),
    ),
    request_body = Signature,
    responses(
        (status = 200, description = "The signed note", body = SoapNoteDetail),
        (status = 400, description = "Invalid body, or a `providerId` who may not sign this note", body = ErrorBody),
        (status = 404, description = "No such note of this consultation in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`: the note is already signed", body = ErrorBody),
    )
)]
pub async fn sign(
    auth: Auth<WriteConsultations>,
    mut tx: Tx,
    Path((consultation_id, note_id)): Path<(i64, i64)>,
    extract::Json(body): extract::Json<Signature>,
) -> ApiResult<Records<SoapNoteDetail>> {
    let org = auth.organization_id;
    let key = &auth.key_prefix;
    Ok(Records(soap_notes::sign(&mut tx, org, consultation_id, note_id, key, body.provider_id).await?))
}

/// Amend a signed SOAP note
///
/// Writes the note's next version, signed at once by `providerId` (the consultation's provider
/// or the note's author; anyone else is `400 validation_error` on `providerId`), with
/// `amendmentReason` = `reason`. The sections sent replace the current version's (a blank
/// string clears one); those not sent, or `null`, are kept; at least one must be sent. Every
/// earlier version stays exactly as it was signed and is listed in `versions`. Records
/// `soap_note.amended`, its `data` the note as `GET` returns it. Amending a `draft` is `409
/// invalid_state_transition` (change it with `PATCH`, or sign it first) and nothing changes.
/// Concurrent amendments of one note run one after the other, each on the version before it.
#[utoipa::path(
    post,
    path = "/api/v1/consultations/{id}/soap-notes/{noteId}/amendments",
    operation_id = "amendSoapNote",
    tag = "Consultations",
    params(
        ("id" = i64, Path, description = "The consultation's id"),
        ("noteId" = i64, Path, description = "The note's id"),
    ),
    request_body = Amendment,
    responses(
        (status = 201, description = "The amended note: its new current version and every earlier one",
         body = SoapNoteDetail,
         headers(("Location" = String, description = "/api/v1/consultations/{id}/soap-notes/{noteId}"))),
        (status = 400, description = "Invalid body, or a `providerId` who may not sign this note", body = ErrorBody),
        (status = 404, description = "No such note of this consultation in this organization", body = ErrorBody),
        (status = 409, description = "`invalid_state_transition`: the note is a draft", body = ErrorBody),
    )
)]
pub async fn amend(
    auth: Auth<WriteConsultations>,
    mut tx: Tx,
    Path((consultation_id, note_id)): Path<(i64, i64)>,
    extract::Json(body): extract::Json<Amendment>,
) -> ApiResult<Records<Created<SoapNoteDetail>>> {
    let org = auth.organization_id;
    let note = soap_notes::amend(&mut tx, org, consultation_id, note_id, &auth.key_prefix, &body).await?;
    let location = format!("/api/v1/consultations/{consultation_id}/soap-notes/{note_id}");
    Ok(Records(Created { location, body: note }))
}
