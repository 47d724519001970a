//! The rules a patient's fields must meet, applied while normalising them.
//!
//! Every problem is collected with the field it concerns, so one [`Error::Invalid`] lists them
//! all. Text is trimmed; an optional field sent as an empty string is stored as `null`.

use chrono::{Duration, NaiveDate, Utc};

use super::model::Sex;
use crate::domain::{Address, Error, FieldError, Result};

pub const NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;
pub const EXTERNAL_ID_MAX: usize = 100;
pub const ADDRESS_FIELD_MAX: usize = 200;

/// The latest acceptable date of birth: today wherever on Earth it is latest (UTC+14), so a
/// newborn registered anywhere is never "born in the future".
pub fn latest_birth_date() -> NaiveDate {
    (Utc::now() + Duration::hours(14)).date_naive()
}

fn earliest_birth_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Collects field errors while normalising values.
pub(super) struct Check {
    errors: Vec<FieldError>,
    latest_birth: NaiveDate,
}

impl Check {
    pub(super) fn new(latest_birth: NaiveDate) -> Check {
        Check { errors: Vec::new(), latest_birth }
    }

    pub(super) fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub(super) fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.errors))
        }
    }

    /// Trimmed, single-line, at most `max` characters; empty becomes `None`.
    pub(super) fn text(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
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

    pub(super) fn required_name(&mut self, field: &str, value: Option<String>) -> String {
        match self.text(field, value, NAME_MAX) {
            Some(v) => v,
            None => {
                self.fail(field, "is required and cannot be empty");
                String::new()
            }
        }
    }

    pub(super) fn date_of_birth(&mut self, value: Option<String>) -> Option<NaiveDate> {
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

    pub(super) fn sex(&mut self, value: String) -> Sex {
        Sex::parse(value.trim()).unwrap_or_else(|| {
            self.fail("sex", "must be one of female, male, other, unknown");
            Sex::Unknown
        })
    }

    pub(super) fn email(&mut self, value: Option<String>) -> Option<String> {
        let (v, ok) = self.checked_text("email", value, EMAIL_MAX)?;
        if ok && !plausible_email(&v) {
            self.fail("email", "must be a plausible email address such as name@example.com");
        }
        Some(v)
    }

    pub(super) fn phone(&mut self, value: Option<String>) -> Option<String> {
        let (v, ok) = self.checked_text("phone", value, ADDRESS_FIELD_MAX)?;
        if ok && !is_e164(&v) {
            self.fail("phone", "must be in E.164 format: + and 8 to 15 digits, such as +14155550123");
        }
        Some(v)
    }

    pub(super) fn address(&mut self, a: Address) -> Address {
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
}
