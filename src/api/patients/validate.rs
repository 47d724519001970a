//! What a client may send to create or change a patient, and the rules it must meet.
//!
//! Every problem is collected with the field it concerns, so one `400 validation_error` lists
//! them all. Text is trimmed; an optional field sent as an empty string is stored as `null`.

use chrono::{Duration, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

use super::model::{PatientFields, Sex};
use crate::api::common::Address;
use crate::http::error::{ApiError, FieldError};

pub const NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;
pub const EXTERNAL_ID_MAX: usize = 100;
pub const ADDRESS_FIELD_MAX: usize = 200;

/// For PATCH bodies: with `#[serde(default)]`, an absent field is `None` and an explicit
/// `null` is `Some(None)`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The latest acceptable date of birth: today wherever on Earth it is latest (UTC+14), so a
/// newborn registered anywhere is never "born in the future".
pub fn latest_birth_date() -> NaiveDate {
    (Utc::now() + Duration::hours(14)).date_naive()
}

fn earliest_birth_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
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
    pub fn validate(self, latest_birth: NaiveDate) -> Result<PatientFields, ApiError> {
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
    pub fn apply(self, mut f: PatientFields, latest_birth: NaiveDate) -> Result<PatientFields, ApiError> {
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

/// Collects field errors while normalising values.
struct Check {
    errors: Vec<FieldError>,
    latest_birth: NaiveDate,
}

impl Check {
    fn new(latest_birth: NaiveDate) -> Check {
        Check { errors: Vec::new(), latest_birth }
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::from_details(self.errors))
        }
    }

    /// Trimmed, single-line, at most `max` characters; empty becomes `None`.
    fn text(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        self.checked_text(field, value, max).map(|(v, _)| v)
    }

    /// Like `text`, also telling whether the value passed (so later checks add no second error).
    fn checked_text(&mut self, field: &str, value: Option<String>, max: usize) -> Option<(String, bool)> {
        let value = value?;
        let v = value.trim();
        if v.is_empty() {
            return None;
        }
        let ok = if v.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
            false
        } else if v.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
            false
        } else {
            true
        };
        Some((v.to_string(), ok))
    }

    fn required_name(&mut self, field: &str, value: Option<String>) -> String {
        match self.text(field, value, NAME_MAX) {
            Some(v) => v,
            None => {
                self.fail(field, "is required and cannot be empty");
                String::new()
            }
        }
    }

    fn date_of_birth(&mut self, value: Option<String>) -> Option<NaiveDate> {
        let value = value?;
        let v = value.trim();
        if v.is_empty() {
            return None;
        }
        let Ok(date) = NaiveDate::parse_from_str(v, "%Y-%m-%d") else {
            self.fail("dateOfBirth", "must be a real date in the form YYYY-MM-DD");
            return None;
        };
        if date > self.latest_birth {
            self.fail("dateOfBirth", "cannot be in the future");
        } else if date < earliest_birth_date() {
            self.fail("dateOfBirth", "cannot be before 1900-01-01");
        }
        Some(date)
    }

    fn sex(&mut self, value: String) -> Sex {
        Sex::parse(value.trim()).unwrap_or_else(|| {
            self.fail("sex", "must be one of female, male, other, unknown");
            Sex::Unknown
        })
    }

    fn email(&mut self, value: Option<String>) -> Option<String> {
        let (v, ok) = self.checked_text("email", value, EMAIL_MAX)?;
        if ok && !plausible_email(&v) {
            self.fail("email", "must be a plausible email address such as name@example.com");
        }
        Some(v)
    }

    fn phone(&mut self, value: Option<String>) -> Option<String> {
        let (v, ok) = self.checked_text("phone", value, ADDRESS_FIELD_MAX)?;
        if ok && !is_e164(&v) {
            self.fail("phone", "must be in E.164 format: + and 8 to 15 digits, such as +14155550123");
        }
        Some(v)
    }

    fn address(&mut self, a: Address) -> Address {
        let country = self.checked_text("address.country", a.country, ADDRESS_FIELD_MAX).map(|(c, ok)| {
            if ok && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic())) {
                self.fail("address.country", "must be a two-letter ISO 3166-1 country code such as US");
            }
            c.to_ascii_uppercase()
        });
        Address {
            line1: self.text("address.line1", a.line1, ADDRESS_FIELD_MAX),
            line2: self.text("address.line2", a.line2, ADDRESS_FIELD_MAX),
            city: self.text("address.city", a.city, ADDRESS_FIELD_MAX),
            region: self.text("address.region", a.region, ADDRESS_FIELD_MAX),
            postal_code: self.text("address.postalCode", a.postal_code, ADDRESS_FIELD_MAX),
            country,
        }
    }
}

/// One `@`, a non-empty local part, a dotted domain without empty labels, no whitespace.
pub fn plausible_email(v: &str) -> bool {
    if v.len() > EMAIL_MAX || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let mut parts = v.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && domain.split('.').all(|label| !label.is_empty())
}

/// `+`, then 8–15 digits, the first not 0 (country codes never start with 0).
pub fn is_e164(v: &str) -> bool {
    let Some(digits) = v.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()
    }

    fn fields(errors: ApiError) -> Vec<String> {
        match errors {
            ApiError::Validation { details, .. } => details.into_iter().map(|d| d.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "grace.hopper+tag@mail.example.com", "x@sub.domain.org"] {
            assert!(plausible_email(ok), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in
            ["", "plain", "a@b", "a@@b.com", "a@b@c.com", "@b.com", "a b@c.com", "a@.com", "a@b.", "a@b..c", &long]
        {
            assert!(!plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn phones() {
        for ok in ["+14155550123", "+12345678", "+123456789012345"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in ["14155550123", "+1234567", "+1234567890123456", "+0123456789", "+1 415 555 0123", "+1415-5550"] {
            assert!(!is_e164(bad), "{bad}");
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
