//! What a client may send to create or change a patient, and how it becomes the patient's fields.

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

use super::model::{PatientFields, Sex};
use super::validate::{Check, EXTERNAL_ID_MAX};
use crate::domain::{Address, Result};

/// For PATCH bodies: with `#[serde(default)]`, an absent field is `None` and an explicit
/// `null` is `Some(None)`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /patients`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPatient {
    /// Your own identifier for the patient (≤ 100 characters), unique within the organization.
    #[schema(example = "EHR-1001")]
    pub external_id: Option<String>,
    /// 1–100 characters after trimming.
    #[schema(required = true, value_type = String, example = "Grace")]
    pub first_name: Option<String>,
    /// 1–100 characters after trimming.
    #[schema(required = true, value_type = String, example = "Hopper")]
    pub last_name: Option<String>,
    /// `YYYY-MM-DD`, from 1900-01-01 up to today.
    #[schema(value_type = Option<NaiveDate>, example = "1985-12-09")]
    pub date_of_birth: Option<String>,
    /// Defaults to `unknown`.
    #[schema(value_type = Option<Sex>)]
    pub sex: Option<String>,
    #[schema(example = "grace@example.com")]
    pub email: Option<String>,
    /// E.164: `+` and 8–15 digits.
    #[schema(example = "+14155550123")]
    pub phone: Option<String>,
    /// Each field ≤ 200 characters; `country` is an ISO 3166-1 alpha-2 code.
    pub address: Option<Address>,
}

/// `PATCH /patients/{id}`: only the fields sent change; `null` clears an optional field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatientPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    /// Cannot be `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = String)]
    pub first_name: Option<Option<String>>,
    /// Cannot be `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = String)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub date_of_birth: Option<Option<String>>,
    /// Cannot be `null`; send `unknown` instead.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Sex)]
    pub sex: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// Merged field by field: fields not sent keep their value, `null` clears one field, and
    /// `"address": null` clears the whole address.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<AddressPatch>)]
    pub address: Option<Option<AddressPatch>>,
}

/// The address part of a PATCH, merged field by field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub line1: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub line2: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub region: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub postal_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub country: Option<Option<String>>,
}

impl NewPatient {
    pub fn validate(self, latest_birth: NaiveDate) -> Result<PatientFields> {
        let mut c = Check::new(latest_birth);
        let fields = PatientFields {
            external_id: c.text("externalId", self.external_id, EXTERNAL_ID_MAX),
            first_name: c.required_name("firstName", self.first_name),
            last_name: c.required_name("lastName", self.last_name),
            date_of_birth: c.date_of_birth(self.date_of_birth),
            sex: self.sex.map(|s| c.sex(s)).unwrap_or_default(),
            email: c.email(self.email),
            phone: c.phone(self.phone),
            address: c.address(self.address.unwrap_or_default()),
        };
        c.finish().map(|()| fields)
    }
}

impl PatientPatch {
    /// The patient's fields after this patch, or every problem with it.
    pub fn apply(self, mut f: PatientFields, latest_birth: NaiveDate) -> Result<PatientFields> {
        let mut c = Check::new(latest_birth);
        if let Some(v) = self.external_id {
            f.external_id = c.text("externalId", v, EXTERNAL_ID_MAX);
        }
        if let Some(v) = self.first_name {
            f.first_name = c.required_name("firstName", v);
        }
        if let Some(v) = self.last_name {
            f.last_name = c.required_name("lastName", v);
        }
        if let Some(v) = self.date_of_birth {
            f.date_of_birth = c.date_of_birth(v);
        }
        match self.sex {
            None => {}
            Some(None) => c.fail("sex", "cannot be null; use \"unknown\""),
            Some(Some(s)) => f.sex = c.sex(s),
        }
        if let Some(v) = self.email {
            f.email = c.email(v);
        }
        if let Some(v) = self.phone {
            f.phone = c.phone(v);
        }
        match self.address {
            None => {}
            Some(None) => f.address = Address::default(),
            Some(Some(p)) => {
                let mut a = f.address;
                for (value, slot) in [
                    (p.line1, &mut a.line1),
                    (p.line2, &mut a.line2),
                    (p.city, &mut a.city),
                    (p.region, &mut a.region),
                    (p.postal_code, &mut a.postal_code),
                    (p.country, &mut a.country),
                ] {
                    if let Some(v) = value {
                        *slot = v;
                    }
                }
                f.address = c.address(a);
            }
        }
        c.finish().map(|()| f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()
    }

    fn fields(errors: crate::domain::Error) -> Vec<String> {
        match errors {
            crate::domain::Error::Invalid(details) => details.into_iter().map(|d| d.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn create_collects_every_problem() {
        let p = NewPatient {
            first_name: Some("  ".into()),
            date_of_birth: Some("2026-02-30".into()),
            sex: Some("f".into()),
            email: Some("nope".into()),
            phone: Some("555".into()),
            external_id: Some("x".repeat(101)),
            address: Some(Address { country: Some("USA".into()), city: Some("c".repeat(201)), ..Default::default() }),
            ..Default::default()
        };
        let got = fields(p.validate(today()).unwrap_err());
        assert_eq!(
            got,
            [
                "externalId",
                "firstName",
                "lastName",
                "dateOfBirth",
                "sex",
                "email",
                "phone",
                "address.country",
                "address.city"
            ]
        );
    }

    #[test]
    fn create_normalises() {
        let p = NewPatient {
            first_name: Some(" Grace ".into()),
            last_name: Some("Hopper".into()),
            date_of_birth: Some("1900-01-01".into()),
            email: Some(" ".into()),
            address: Some(Address { country: Some("us".into()), line2: Some("".into()), ..Default::default() }),
            ..Default::default()
        };
        let f = p.validate(today()).unwrap();
        assert_eq!(f.first_name, "Grace");
        assert_eq!(f.sex, Sex::Unknown);
        assert_eq!(f.email, None);
        assert_eq!(f.address.country.as_deref(), Some("US"));
        assert_eq!(f.address.line2, None);
    }

    #[test]
    fn dates_of_birth_are_bounded() {
        let check = |d: &str| {
            let p = NewPatient {
                first_name: Some("A".into()),
                last_name: Some("B".into()),
                date_of_birth: Some(d.into()),
                ..Default::default()
            };
            p.validate(today()).is_ok()
        };
        assert!(check("2026-06-15"));
        assert!(!check("2026-06-16"));
        assert!(check("1900-01-01"));
        assert!(!check("1899-12-31"));
        assert!(!check("15/06/2000"));
        assert!(!check("2000-13-01"));
    }

    #[test]
    fn patch_merges_clears_and_refuses_null_required() {
        let current = PatientFields {
            first_name: "Grace".into(),
            last_name: "Hopper".into(),
            email: Some("g@example.com".into()),
            address: Address { city: Some("Arlington".into()), country: Some("US".into()), ..Default::default() },
            ..Default::default()
        };
        let patch: PatientPatch =
            serde_json::from_str(r#"{"email": null, "address": {"city": "Boston", "country": null}}"#).unwrap();
        let f = patch.apply(current.clone(), today()).unwrap();
        assert_eq!(f.email, None);
        assert_eq!(f.address.city.as_deref(), Some("Boston"));
        assert_eq!(f.address.country, None);
        assert_eq!(f.first_name, "Grace");

        let patch: PatientPatch = serde_json::from_str(r#"{"firstName": null, "sex": null, "lastName": ""}"#).unwrap();
        assert_eq!(fields(patch.apply(current.clone(), today()).unwrap_err()), ["firstName", "lastName", "sex"]);

        let patch: PatientPatch = serde_json::from_str(r#"{"address": null}"#).unwrap();
        assert_eq!(patch.apply(current.clone(), today()).unwrap().address, Address::default());

        let patch: PatientPatch = serde_json::from_str("{}").unwrap();
        assert_eq!(patch.apply(current.clone(), today()).unwrap(), current);
    }
}
