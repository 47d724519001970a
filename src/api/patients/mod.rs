//! Patients: list and search, view, create, partial update. The records, their rules and SQL
//! are [`crate::domain::patients`].

pub mod list;
pub mod write;

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::auth::permissions::ReadPatients;
use crate::domain::patients::{self, Patient};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Auth, Path};
use crate::http::response::Records;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_patients, write::create_patient))
        .routes(routes!(get_patient, write::update_patient))
}

/// Get a patient
#[utoipa::path(
    get,
    path = "/api/v1/patients/{id}",
    tag = "Patients",
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
    Ok(Records(patients::get(&state.reads, auth.organization_id, id).await?))
}
