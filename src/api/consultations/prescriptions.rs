//! Prescriptions written during a consultation: write, list, view.

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
use crate::domain::text::{optional_text, required_text};
use crate::http::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::http::extract::{self, Auth, Path, Query};
use crate::http::pagination::PageRequest;
use crate::http::response::{Created, Records};
use crate::http::tx::Tx;
use crate::state::AppState;

pub const MAX_QUANTITY: i32 = 10_000;
pub const MAX_REFILLS: i32 = 99;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Prescription {
    #[schema(example = 12)]
    pub id: i64,
    pub consultation_id: i64,
    /// The consultation's patient.
    pub patient_id: i64,
    /// The consultation's provider.
    pub provider_id: i64,
    #[schema(example = "Amoxicillin")]
    pub medication_name: String,
    #[schema(example = "500 mg")]
    pub dosage: String,
    #[schema(example = "oral")]
    pub route: Option<String>,
    #[schema(example = "three times daily")]
    pub frequency: String,
    #[schema(example = 21)]
    pub quantity: Option<i32>,
    #[schema(example = 0)]
    pub refills: i32,
    pub instructions: Option<String>,
    /// active | discontinued
    #[schema(example = "active")]
    pub status: String,
    pub prescribed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Disclose for Prescription {
    fn disclose(&self, to: &mut Disclosure) {
        to.add(RecordType::Prescription, self.id);
    }
}

/// A new prescription. Text fields are trimmed; blank optional fields are `null`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPrescription {
    /// Required, at most 200 characters.
    #[schema(example = "Amoxicillin")]
    pub medication_name: String,
    /// Required, at most 100 characters.
    #[schema(example = "500 mg")]
    pub dosage: String,
    /// Required, at most 100 characters.
    #[schema(example = "three times daily")]
    pub frequency: String,
    /// At most 50 characters.
    #[schema(example = "oral")]
    pub route: Option<String>,
    /// 0–10000.
    #[schema(example = 21, minimum = 0, maximum = 10000)]
    pub quantity: Option<i32>,
    /// 0–99 (default 0).
    #[schema(example = 0, minimum = 0, maximum = 99)]
    pub refills: Option<i32>,
    /// At most 2000 characters.
    #[schema(example = "Take with food.")]
    pub instructions: Option<String>,
}

struct Valid {
    medication_name: String,
    dosage: String,
    frequency: String,
    route: Option<String>,
    quantity: Option<i32>,
    refills: i32,
    instructions: Option<String>,
}

fn validate(body: NewPrescription) -> Result<Valid, ApiError> {
    let mut details = Vec::new();
    let valid = Valid {
        medication_name: required_text(&mut details, "medicationName", &body.medication_name, 200),
        dosage: required_text(&mut details, "dosage", &body.dosage, 100),
        frequency: required_text(&mut details, "frequency", &body.frequency, 100),
        route: optional_text(&mut details, "route", body.route.as_deref(), 50),
        quantity: body.quantity,
        refills: body.refills.unwrap_or(0),
        instructions: optional_text(&mut details, "instructions", body.instructions.as_deref(), 2000),
    };
    if valid.quantity.is_some_and(|q| !(0..=MAX_QUANTITY).contains(&q)) {
        details.push(FieldError::new("quantity", format!("must be between 0 and {MAX_QUANTITY}")));
    }
    if !(0..=MAX_REFILLS).contains(&valid.refills) {
        details.push(FieldError::new("refills", format!("must be between 0 and {MAX_REFILLS}")));
    }
    if details.is_empty() {
        Ok(valid)
    } else {
        Err(ApiError::from_details(details))
    }
}

/// Every prescription of a consultation, ascending id (for the consultation's single view).
pub async fn all_of(
    conn: &mut PgConnection,
    org: Uuid,
    consultation_id: i64,
) -> Result<Vec<Prescription>, sqlx::Error> {
    sqlx::query_as!(
        Prescription,
        "SELECT id, consultation_id, patient_id, provider_id, medication_name, dosage, route, frequency, quantity,
                refills, instructions, status, prescribed_at, updated_at
         FROM prescriptions WHERE organization_id = $1 AND consultation_id = $2 ORDER BY id",
        org,
        consultation_id
    )
    .fetch_all(conn)
    .await
}

/// Write a prescription
///
/// On a consultation in progress or ended. The patient and the prescribing provider are the
/// consultation's. No event is recorded.
#[utoipa::path(
    post,
    path = "/consultations/{id}/prescriptions",
    operation_id = "createPrescription",
    tag = "Prescriptions",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("WRITE_CONSULTATIONS"))),
    params(("id" = i64, Path, description = "The consultation's id")),
    request_body = NewPrescription,
    responses(
        (status = 201, description = "Written; `Location` is the prescription's URL", body = Prescription,
         headers(("Location" = String, description = "/api/v1/prescriptions/{id}"))),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such consultation in this organization", body = ErrorBody),
    )
)]
pub async fn create(
    auth: Auth<WriteConsultations>,
    mut tx: Tx,
    Path(consultation_id): Path<i64>,
    extract::Json(body): extract::Json<NewPrescription>,
) -> ApiResult<Records<Created<Prescription>>> {
    let org = auth.organization_id;
    let p = validate(body)?;
    let consultation = model::require(&mut tx, org, consultation_id).await?;
    let prescription = sqlx::query_as!(
        Prescription,
        "INSERT INTO prescriptions (organization_id, consultation_id, patient_id, provider_id, medication_name,
                                    dosage, route, frequency, quantity, refills, instructions)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         RETURNING id, consultation_id, patient_id, provider_id, medication_name, dosage, route, frequency,
                   quantity, refills, instructions, status, prescribed_at, updated_at",
        org,
        consultation_id,
        consultation.patient_id,
        consultation.provider_id,
        p.medication_name,
        p.dosage,
        p.route,
        p.frequency,
        p.quantity,
        p.refills,
        p.instructions
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Records(Created { location: format!("/api/v1/prescriptions/{}", prescription.id), body: prescription }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrescriptionFilters {
    /// Only this patient's prescriptions.
    pub patient_id: Option<i64>,
    /// Only this consultation's prescriptions.
    pub consultation_id: Option<i64>,
    /// Only prescriptions updated at or after this instant; orders by `(updatedAt, id)`.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    pub updated_since: Option<DateTime<Utc>>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of prescriptions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrescriptionList {
    pub data: Vec<Prescription>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
}

impl Disclose for PrescriptionList {
    fn disclose(&self, to: &mut Disclosure) {
        to.add_page(&self.data);
    }
}

/// List prescriptions
///
/// Ascending id; with `updatedSince`, ascending `(updatedAt, id)`.
#[utoipa::path(
    get,
    path = "/prescriptions",
    operation_id = "listPrescriptions",
    tag = "Prescriptions",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_CONSULTATIONS"))),
    params(PrescriptionFilters),
    responses(
        (status = 200, description = "A page of prescriptions", body = PrescriptionList),
        (status = 400, description = "A bad filter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Query(f): Query<PrescriptionFilters>,
) -> ApiResult<Records<PrescriptionList>> {
    let mut read = crate::db::planned_read(&state.db).await?;
    let page = PageRequest::new(f.limit, f.cursor.as_deref(), f.updated_since)?;
    let org = auth.organization_id;
    let rows = match (page.updated_since, page.after_updated) {
        (Some(since), Some(after_updated)) => {
            let horizon = horizon::current(&mut read).await?;
            sqlx::query_as!(
                Prescription,
                "SELECT id, consultation_id, patient_id, provider_id, medication_name, dosage, route, frequency,
                        quantity, refills, instructions, status, prescribed_at, updated_at
                 FROM prescriptions
                 WHERE organization_id = $1
                   AND ($2::bigint IS NULL OR patient_id = $2)
                   AND ($3::bigint IS NULL OR consultation_id = $3)
                   AND updated_at >= $4 AND (updated_at, id) > ($5, $6) AND updated_at < $8
                 ORDER BY updated_at, id LIMIT $7",
                org,
                f.patient_id,
                f.consultation_id,
                since,
                after_updated,
                page.after_id,
                page.fetch(),
                horizon
            )
            .fetch_all(&mut *read)
            .await?
        }
        _ => {
            sqlx::query_as!(
                Prescription,
                "SELECT id, consultation_id, patient_id, provider_id, medication_name, dosage, route, frequency,
                        quantity, refills, instructions, status, prescribed_at, updated_at
                 FROM prescriptions
                 WHERE organization_id = $1
                   AND ($2::bigint IS NULL OR patient_id = $2)
                   AND ($3::bigint IS NULL OR consultation_id = $3)
                   AND id > $4
                 ORDER BY id LIMIT $5",
                org,
                f.patient_id,
                f.consultation_id,
                page.after_id,
                page.fetch()
            )
            .fetch_all(&mut *read)
            .await?
        }
    };
    let page = page.finish(rows, |p| (p.id, p.updated_at));
    Ok(Records(PrescriptionList { data: page.data, next_cursor: page.next_cursor }))
}

/// Get a prescription
#[utoipa::path(
    get,
    path = "/prescriptions/{id}",
    operation_id = "getPrescription",
    tag = "Prescriptions",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_CONSULTATIONS"))),
    params(("id" = i64, Path, description = "The prescription's id")),
    responses(
        (status = 200, description = "The prescription", body = Prescription),
        (status = 404, description = "No such prescription in this organization", body = ErrorBody),
    )
)]
pub async fn get(
    auth: Auth<ReadConsultations>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Records<Prescription>> {
    sqlx::query_as!(
        Prescription,
        "SELECT id, consultation_id, patient_id, provider_id, medication_name, dosage, route, frequency, quantity,
                refills, instructions, status, prescribed_at, updated_at
         FROM prescriptions WHERE organization_id = $1 AND id = $2",
        auth.organization_id,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .map(Records)
    .ok_or(ApiError::NotFound("Prescription"))
}
