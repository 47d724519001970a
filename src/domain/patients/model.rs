//! The patient as every front door shows it, the fields a write may set, and its stored row.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{Disclose, Disclosure, RecordType};
use crate::domain::Address;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
    Other,
    #[default]
    Unknown,
}

impl Sex {
    pub const ALL: [Sex; 4] = [Sex::Female, Sex::Male, Sex::Other, Sex::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Sex> {
        Sex::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A patient, as every endpoint and every `patient.*` event shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": 42, "externalId": "EHR-1001", "firstName": "Grace", "lastName": "Hopper",
    "dateOfBirth": "1985-12-09", "sex": "female", "email": "grace@example.com", "phone": "+14155550123",
    "address": {"line1": "1 Main St", "line2": null, "city": "Springfield", "region": "IL",
                "postalCode": "62701", "country": "US"},
    "createdAt": "2026-11-28T09:30:00Z", "updatedAt": "2026-11-28T09:30:00Z"
}))]
pub struct Patient {
    pub id: i64,
    /// The integrator's own identifier; unique within the organization.
    #[schema(required = true)]
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    #[schema(required = true)]
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Sex,
    #[schema(required = true)]
    pub email: Option<String>,
    /// E.164, e.g. `+14155550123`.
    #[schema(required = true)]
    pub phone: Option<String>,
    /// Always present; its fields are `null` when unknown.
    pub address: Address,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Disclose for Patient {
    fn disclose(&self, to: &mut Disclosure) {
        to.add(RecordType::Patient, self.id);
    }
}

/// Everything a client can set: what a create inserts and a PATCH merges into.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientFields {
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Sex,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Address,
}

/// One row of `patients`, as the queries select it.
pub(super) struct PatientRow {
    pub id: i64,
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: Option<NaiveDate>,
    pub sex: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub address_city: Option<String>,
    pub address_region: Option<String>,
    pub address_postal_code: Option<String>,
    pub address_country: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<PatientRow> for Patient {
    fn from(r: PatientRow) -> Patient {
        Patient {
            id: r.id,
            external_id: r.external_id,
            first_name: r.first_name,
            last_name: r.last_name,
            date_of_birth: r.date_of_birth,
            // The column's CHECK allows only the enum's values.
            sex: Sex::parse(&r.sex).unwrap_or_default(),
            email: r.email,
            phone: r.phone,
            address: Address {
                line1: r.address_line1,
                line2: r.address_line2,
                city: r.address_city,
                region: r.address_region,
                postal_code: r.address_postal_code,
                country: r.address_country,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Patient {
    pub fn fields(&self) -> PatientFields {
        PatientFields {
            external_id: self.external_id.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            date_of_birth: self.date_of_birth,
            sex: self.sex,
            email: self.email.clone(),
            phone: self.phone.clone(),
            address: self.address.clone(),
        }
    }
}
