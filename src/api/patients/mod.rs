//! Patients: list and search (over `search_text`), view, create, partial update.

pub mod input;
pub mod list;
pub mod model;
pub mod validate;
pub mod write;

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::permissions::ReadPatients;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Auth, Path};
use crate::http::response::Records;
use crate::state::AppState;
pub use model::{Patient, Sex};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_patients, write::create_patient))
        .routes(routes!(get_patient, write::update_patient))
}

/// Get a patient
#[utoipa::path(
    get,
    path = "/patients/{id}",
    tag = "Patients",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_PATIENTS"))),
    params(("id" = i64, Path, description = "Patient id")),
    responses(
        (status = 200, description = "The patient", body = Patient),
        (status = 404, description = "No such patient in this organization", body = ErrorBody),
    )
)]
async fn get_patient(
    auth: Auth<ReadPatients>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Records<Patient>, ApiError> {
    let mut conn = state.db.acquire().await?;
    let patient = model::fetch(&mut conn, auth.organization_id, id).await?;
    patient.map(Records).ok_or(ApiError::NotFound("Patient"))
}
