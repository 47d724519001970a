//! What a client may send to book, reschedule or cancel, and the rules it must meet.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::model::Booking;
use crate::domain::{Error, FieldError, Result};

pub const MIN_MINUTES: i64 = 5;
pub const MAX_MINUTES: i64 = 480;
pub const REASON_MAX: usize = 1000;

/// `POST /appointments`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAppointment {
    #[schema(required = true, value_type = i64, example = 42)]
    pub patient_id: Option<i64>,
    /// Must be active and work at `locationId`. Required unless `holdId` is sent.
    #[schema(required = false, value_type = i64, example = 3)]
    pub provider_id: Option<i64>,
    /// Required unless `holdId` is sent.
    #[schema(required = false, value_type = i64, example = 1)]
    pub location_id: Option<i64>,
    /// RFC 3339 timestamp. Required unless `holdId` is sent.
    #[schema(required = false, value_type = DateTime<Utc>, example = "2026-11-28T14:30:00Z")]
    pub starts_at: Option<String>,
    /// Either `endsAt` or `durationMinutes`, not both (with `holdId`, either may be left out);
    /// the appointment lasts 5 minutes to 8 hours.
    #[schema(value_type = Option<DateTime<Utc>>, example = "2026-11-28T15:00:00Z")]
    pub ends_at: Option<String>,
    /// 5–480; either this or `endsAt`.
    #[schema(example = 30, minimum = 5, maximum = 480)]
    pub duration_minutes: Option<i64>,
    /// Free text, ≤ 1000 characters.
    #[schema(example = "Annual check-up")]
    pub reason: Option<String>,
    /// Books the slot of this hold (`POST /appointment-holds`). `providerId`, `locationId`,
    /// `startsAt` and `endsAt`/`durationMinutes` may then be left out; any that is sent must
    /// equal the hold's.
    #[schema(value_type = Option<i64>, example = json!(null))]
    pub hold_id: Option<i64>,
}

/// `POST /appointments/{id}/reschedule`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RescheduleRequest {
    #[schema(required = true, value_type = DateTime<Utc>, example = "2026-11-29T10:00:00Z")]
    pub starts_at: Option<String>,
    /// Either `endsAt` or `durationMinutes`, not both.
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<String>,
    /// 5–480.
    #[schema(minimum = 5, maximum = 480)]
    pub duration_minutes: Option<i64>,
}

/// `POST /appointments/{id}/cancel`; the body is optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelRequest {
    /// Stored as `cancellationReason`; ≤ 1000 characters.
    #[schema(example = "Patient called to cancel")]
    pub reason: Option<String>,
}

impl NewAppointment {
    pub fn validate(&self) -> Result<Booking> {
        let mut errors = Vec::new();
        let mut id = |field: &str, v: Option<i64>| {
            if v.is_none() {
                errors.push(FieldError::new(field, "is required"));
            }
            v.unwrap_or_default()
        };
        let patient_id = id("patientId", self.patient_id);
        let provider_id = id("providerId", self.provider_id);
        let location_id = id("locationId", self.location_id);
        let times = slot(&mut errors, self.starts_at.as_deref(), self.ends_at.as_deref(), self.duration_minutes);
        let reason = reason(&mut errors, "reason", self.reason.as_deref());
        match times {
            Some((starts_at, ends_at)) if errors.is_empty() => {
                Ok(Booking { patient_id, provider_id, location_id, starts_at, ends_at, reason })
            }
            _ => Err(Error::Invalid(errors)),
        }
    }
}

impl RescheduleRequest {
    pub fn validate(&self) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let mut errors = Vec::new();
        match slot(&mut errors, self.starts_at.as_deref(), self.ends_at.as_deref(), self.duration_minutes) {
            Some(times) if errors.is_empty() => Ok(times),
            _ => Err(Error::Invalid(errors)),
        }
    }
}

impl CancelRequest {
    pub fn validate(&self) -> Result<Option<String>> {
        let mut errors = Vec::new();
        let reason = reason(&mut errors, "reason", self.reason.as_deref());
        if errors.is_empty() {
            Ok(reason)
        } else {
            Err(Error::Invalid(errors))
        }
    }
}

/// Trimmed free text of at most 1000 characters; empty is `None`.
pub(super) fn reason(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>) -> Option<String> {
    let v = value?.trim().to_string();
    if v.chars().count() > REASON_MAX {
        errors.push(FieldError::new(field, format!("must be at most {REASON_MAX} characters")));
    } else if v.contains('\0') {
        errors.push(FieldError::new(field, "must not contain NUL characters"));
    }
    Some(v).filter(|v| !v.is_empty())
}

pub fn parse_timestamp(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// `startsAt` with `endsAt` or `durationMinutes` (exactly one), lasting 5 minutes to 8 hours.
pub(crate) fn slot(
    errors: &mut Vec<FieldError>,
    starts_at: Option<&str>,
    ends_at: Option<&str>,
    duration_minutes: Option<i64>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let before = errors.len();
    let starts = match starts_at.map(parse_timestamp) {
        None => {
            errors.push(FieldError::new("startsAt", "is required"));
            None
        }
        Some(None) => {
            errors.push(FieldError::new("startsAt", "must be an RFC 3339 timestamp such as 2026-11-28T09:30:00Z"));
            None
        }
        Some(t) => t,
    };
    let ends = match (ends_at, duration_minutes) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new("durationMinutes", "send either endsAt or durationMinutes, not both"));
            None
        }
        (None, None) => {
            errors.push(FieldError::new("endsAt", "either endsAt or durationMinutes is required"));
            None
        }
        (None, Some(m)) if !(MIN_MINUTES..=MAX_MINUTES).contains(&m) => {
            errors.push(FieldError::new("durationMinutes", format!("must be between {MIN_MINUTES} and {MAX_MINUTES}")));
            None
        }
        (None, Some(m)) => starts.map(|s| s + Duration::minutes(m)),
        (Some(e), None) => match parse_timestamp(e) {
            None => {
                errors.push(FieldError::new("endsAt", "must be an RFC 3339 timestamp such as 2026-11-28T10:00:00Z"));
                None
            }
            Some(e) => match starts {
                Some(s) if e <= s => {
                    errors.push(FieldError::new("endsAt", "must be after startsAt"));
                    None
                }
                Some(s) if e - s < Duration::minutes(MIN_MINUTES) => {
                    errors.push(FieldError::new("endsAt", "must be at least 5 minutes after startsAt"));
                    None
                }
                Some(s) if e - s > Duration::minutes(MAX_MINUTES) => {
                    errors.push(FieldError::new("endsAt", "must be at most 8 hours after startsAt"));
                    None
                }
                _ => Some(e),
            },
        },
    };
    match (starts, ends) {
        (Some(s), Some(e)) if errors.len() == before => Some((s, e)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::Invalid(details) => details.into_iter().map(|d| d.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    fn reschedule(starts: &str, ends: Option<&str>, minutes: Option<i64>) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        RescheduleRequest { starts_at: Some(starts.into()), ends_at: ends.map(Into::into), duration_minutes: minutes }
            .validate()
    }

    #[test]
    fn booking_requires_everything_and_reports_it_all() {
        let e = NewAppointment::default().validate().unwrap_err();
        assert_eq!(fields(e), ["patientId", "providerId", "locationId", "startsAt", "endsAt"]);
    }

    #[test]
    fn durations_are_bounded_either_way() {
        let s = "2026-11-28T09:00:00Z";
        let (a, b) = reschedule(s, None, Some(30)).unwrap();
        assert_eq!(b - a, Duration::minutes(30));
        assert!(reschedule(s, None, Some(4)).is_err());
        assert!(reschedule(s, None, Some(481)).is_err());
        assert!(reschedule(s, None, Some(480)).is_ok());
        assert!(reschedule(s, Some("2026-11-28T17:00:00Z"), None).is_ok());
        assert_eq!(fields(reschedule(s, Some("2026-11-28T17:00:01Z"), None).unwrap_err()), ["endsAt"]);
        assert_eq!(fields(reschedule(s, Some("2026-11-28T09:00:00Z"), None).unwrap_err()), ["endsAt"]);
        assert_eq!(fields(reschedule(s, Some("2026-11-28T08:00:00Z"), None).unwrap_err()), ["endsAt"]);
        assert_eq!(fields(reschedule(s, Some("2026-11-28T09:30:00Z"), Some(30)).unwrap_err()), ["durationMinutes"]);
        assert_eq!(fields(reschedule("tomorrow", None, Some(30)).unwrap_err()), ["startsAt"]);
        // Offsets are accepted and converted to UTC.
        let (a, _) = reschedule("2026-11-28T10:00:00+01:00", None, Some(30)).unwrap();
        assert_eq!(a, parse_timestamp(s).unwrap());
    }

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(CancelRequest { reason: Some("  ".into()) }.validate().unwrap(), None);
        assert_eq!(CancelRequest { reason: Some(" flu ".into()) }.validate().unwrap().as_deref(), Some("flu"));
        assert!(CancelRequest { reason: Some("x".repeat(1001)) }.validate().is_err());
        assert!(CancelRequest { reason: Some("a\0b".into()) }.validate().is_err());
    }
}
