//! Prescriptions written during a consultation: the record, its rules and its SQL.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model;
use crate::audit::{Disclose, Disclosure, RecordType};
use crate::db::horizon;
use crate::domain::text::{optional_text, required_text};
use crate::domain::{Error, FieldError, Page, PageRequest, Result};

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

fn validate(body: &NewPrescription) -> Result<Valid> {
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
        Err(Error::Invalid(details))
    }
}

/// Every prescription of a consultation, ascending id (for the consultation's single view).
pub async fn all_of(conn: &mut PgConnection, org: Uuid, consultation_id: i64) -> Result<Vec<Prescription>> {
    let prescriptions = sqlx::query_as!(
        Prescription,
        "SELECT id, consultation_id, patient_id, provider_id, medication_name, dosage, route, frequency, quantity,
                refills, instructions, status, prescribed_at, updated_at
         FROM prescriptions WHERE organization_id = $1 AND consultation_id = $2 ORDER BY id",
        org,
        consultation_id
    )
    .fetch_all(conn)
    .await?;
    Ok(prescriptions)
}

/// Writes a prescription on a consultation in progress or ended, in the caller's transaction;
/// the patient and the prescribing provider are the consultation's. No event is recorded.
pub async fn create(
    conn: &mut PgConnection,
    org: Uuid,
    consultation_id: i64,
    prescription: &NewPrescription,
) -> Result<Prescription> {
    let p = validate(prescription)?;
    let consultation = model::require(conn, org, consultation_id).await?;
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
    .fetch_one(conn)
    .await?;
    Ok(prescription)
}

/// Which prescriptions a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this patient's prescriptions.
    pub patient_id: Option<i64>,
    /// Only this consultation's prescriptions.
    pub consultation_id: Option<i64>,
}

/// One page of the organization's prescriptions: ascending id, or `(updatedAt, id)` up to the
/// sync horizon with `updatedSince`. The filters are optional, so run it on
/// [`crate::db::planned_read`], which plans each execution for its own values.
pub async fn list(
    conn: &mut PgConnection,
    org: Uuid,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Page<Prescription>> {
    let rows = match (page.updated_since, page.after_updated) {
        (Some(since), Some(after_updated)) => {
            let horizon = horizon::current(&mut *conn).await?;
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
                filter.patient_id,
                filter.consultation_id,
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
                filter.patient_id,
                filter.consultation_id,
                page.after_id,
                page.fetch()
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    Ok(page.finish(rows, |p| (p.id, p.updated_at)))
}

/// One prescription, or [`Error::NotFound`].
pub async fn get(db: impl sqlx::PgExecutor<'_>, org: Uuid, id: i64) -> Result<Prescription> {
    sqlx::query_as!(
        Prescription,
        "SELECT id, consultation_id, patient_id, provider_id, medication_name, dosage, route, frequency, quantity,
                refills, instructions, status, prescribed_at, updated_at
         FROM prescriptions WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound("Prescription"))
}
