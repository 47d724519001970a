//! Timestamps and dates as the API accepts them: RFC 3339, so a four-digit year.
//!
//! chrono alone also takes signed years of five and six digits (`-262143-01-01`), which
//! PostgreSQL cannot store: such a value would reach a query and fail there as a 500. These
//! parsers refuse them, so the bad value is a `400` naming its field. Use the serde helpers on
//! query and body fields: `#[serde(default, deserialize_with = "time::optional_timestamp")]`.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{de, Deserialize, Deserializer};

/// `YYYY-`: the year an RFC 3339 date or timestamp starts with.
fn four_digit_year(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// An RFC 3339 timestamp (`2026-11-28T09:30:00Z`, any offset), in UTC.
pub fn parse_timestamp(v: &str) -> Option<DateTime<Utc>> {
    let v = v.trim();
    if !four_digit_year(v) {
        return None;
    }
    v.parse::<DateTime<FixedOffset>>().ok().map(|t| t.with_timezone(&Utc))
}

/// A date `YYYY-MM-DD`.
pub fn parse_date(v: &str) -> Option<NaiveDate> {
    let v = v.trim();
    if v.len() != 10 || !four_digit_year(v) {
        return None;
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()
}

const TIMESTAMP: &str = "an RFC 3339 timestamp such as 2026-11-28T09:30:00Z";
const DATE: &str = "a date YYYY-MM-DD";

pub fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    parse_timestamp(&s).ok_or_else(|| de::Error::invalid_value(de::Unexpected::Str(&s), &TIMESTAMP))
}

pub fn optional_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => {
            parse_timestamp(&s).map(Some).ok_or_else(|| de::Error::invalid_value(de::Unexpected::Str(&s), &TIMESTAMP))
        }
    }
}

pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    let s = String::deserialize(d)?;
    parse_date(&s).ok_or_else(|| de::Error::invalid_value(de::Unexpected::Str(&s), &DATE))
}

pub fn optional_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_date(&s).map(Some).ok_or_else(|| de::Error::invalid_value(de::Unexpected::Str(&s), &DATE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_four_digit_years() {
        assert!(parse_timestamp("2026-11-28T09:30:00Z").is_some());
        assert!(parse_timestamp("2026-11-28T10:30:00.5+01:00").is_some());
        assert!(parse_timestamp("0000-01-01T00:00:00Z").is_some());
        assert!(parse_timestamp("9999-12-31T23:59:59-23:59").is_some());
        for bad in ["-262143-12-31T00:00:00Z", "+262143-12-31T00:00:00Z", "12026-01-01T00:00:00Z", "2026-11-28", "x"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_yyyy_mm_dd() {
        assert_eq!(parse_date("2026-11-28"), NaiveDate::from_ymd_opt(2026, 11, 28));
        for bad in ["-262143-12-31", "+262143-12-31", "12026-01-01", "2026-1-1", "2026-02-30", "2026-11-28T00:00:00Z"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
