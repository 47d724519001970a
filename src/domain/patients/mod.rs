//! Patients: the record, the rules its fields follow, its SQL (reads, search, writes) and the
//! events its writes record.

mod input;
mod list;
mod model;
mod search;
mod validate;
mod write;

use uuid::Uuid;

use crate::domain::{Error, Result};
use model::PatientRow;

pub use input::{AddressPatch, NewPatient, PatientPatch};
pub use list::{list, ListFilter};
pub use model::{Patient, Sex};
pub use write::{create, update};

/// One patient of the organization.
pub async fn get(db: impl sqlx::PgExecutor<'_>, org: Uuid, id: i64) -> Result<Patient> {
    let row = sqlx::query_as!(
        PatientRow,
        "SELECT id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1,
                address_line2, address_city, address_region, address_postal_code, address_country,
                created_at, updated_at
         FROM patients WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(db)
    .await?;
    row.map(Patient::from).ok_or(Error::NotFound("Patient"))
}
