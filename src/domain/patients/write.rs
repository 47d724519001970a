//! Creating and changing a patient, each with its event in the caller's transaction.

use sqlx::PgConnection;
use uuid::Uuid;

use super::input::{NewPatient, PatientPatch};
use super::model::{Patient, PatientFields, PatientRow};
use super::validate::latest_birth_date;
use crate::domain::{Error, Result};
use crate::events::{self, EventType};

/// Inserts the patient and records `patient.created`. An `externalId` already used in the
/// organization is [`Error::Conflict`].
pub async fn create(conn: &mut PgConnection, org: Uuid, input: NewPatient) -> Result<Patient> {
    let fields = input.validate(latest_birth_date())?;
    let patient = insert(&mut *conn, org, &fields).await?;
    events::record(&mut *conn, org, EventType::PatientCreated, &patient).await?;
    tracing::info!(patient_id = patient.id, "patient created");
    Ok(patient)
}

/// Applies the patch and records `patient.updated`. A patch that changes nothing returns the
/// patient as it is, records no event and leaves `updatedAt` alone.
pub async fn update(conn: &mut PgConnection, org: Uuid, id: i64, patch: PatientPatch) -> Result<Patient> {
    let current = fetch_for_update(&mut *conn, org, id).await?;
    let before = current.fields();
    let after = patch.apply(before.clone(), latest_birth_date())?;
    if after == before {
        return Ok(current);
    }
    let patient = store(&mut *conn, org, id, &after).await?;
    events::record(&mut *conn, org, EventType::PatientUpdated, &patient).await?;
    tracing::info!(patient_id = id, "patient updated");
    Ok(patient)
}

/// The patient, its row locked until the transaction ends (for a read-modify-write).
async fn fetch_for_update(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Patient> {
    let row = sqlx::query_as!(
        PatientRow,
        "SELECT id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1,
                address_line2, address_city, address_region, address_postal_code, address_country,
                created_at, updated_at
         FROM patients WHERE organization_id = $1 AND id = $2 FOR UPDATE",
        org,
        id
    )
    .fetch_optional(conn)
    .await?;
    row.map(Patient::from).ok_or(Error::NotFound("Patient"))
}

async fn insert(conn: &mut PgConnection, org: Uuid, f: &PatientFields) -> Result<Patient> {
    let a = &f.address;
    let row = sqlx::query_as!(
        PatientRow,
        "INSERT INTO patients (organization_id, external_id, first_name, last_name, date_of_birth, sex, email, phone,
                               address_line1, address_line2, address_city, address_region, address_postal_code,
                               address_country, search_text, search_stale)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, false)
         RETURNING id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1,
                   address_line2, address_city, address_region, address_postal_code, address_country,
                   created_at, updated_at",
        org,
        f.external_id,
        f.first_name,
        f.last_name,
        f.date_of_birth,
        f.sex.as_str(),
        f.email,
        f.phone,
        a.line1,
        a.line2,
        a.city,
        a.region,
        a.postal_code,
        a.country,
        search_text(f),
    )
    .fetch_one(conn)
    .await
    .map_err(write_error)?;
    Ok(row.into())
}

fn search_text(f: &PatientFields) -> String {
    crate::domain::search_text::of(&f.first_name, &f.last_name, f.email.as_deref(), f.phone.as_deref())
}

async fn store(conn: &mut PgConnection, org: Uuid, id: i64, f: &PatientFields) -> Result<Patient> {
    let a = &f.address;
    let row = sqlx::query_as!(
        PatientRow,
        "UPDATE patients
         SET external_id = $3, first_name = $4, last_name = $5, date_of_birth = $6, sex = $7, email = $8,
             phone = $9, address_line1 = $10, address_line2 = $11, address_city = $12, address_region = $13,
             address_postal_code = $14, address_country = $15, search_text = $16, search_stale = false
         WHERE organization_id = $1 AND id = $2
         RETURNING id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1,
                   address_line2, address_city, address_region, address_postal_code, address_country,
                   created_at, updated_at",
        org,
        id,
        f.external_id,
        f.first_name,
        f.last_name,
        f.date_of_birth,
        f.sex.as_str(),
        f.email,
        f.phone,
        a.line1,
        a.line2,
        a.city,
        a.region,
        a.postal_code,
        a.country,
        search_text(f),
    )
    .fetch_one(conn)
    .await
    .map_err(write_error)?;
    Ok(row.into())
}

/// A duplicate `externalId` is the one conflict a patient write can meet.
fn write_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("patients_external_id") => {
            Error::Conflict("Another patient of this organization already has this externalId".into())
        }
        _ => e.into(),
    }
}
