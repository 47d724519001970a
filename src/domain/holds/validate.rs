//! What a client may send to hold a slot, and the rules it must meet: the slot's are a
//! booking's (`appointments::validate`).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::appointments::slot;
use crate::domain::{Error, FieldError, Result};

pub const MIN_TTL_SECONDS: i64 = 60;
pub const MAX_TTL_SECONDS: i64 = 900;
pub const DEFAULT_TTL_SECONDS: i64 = 300;

/// `POST /appointment-holds`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAppointmentHold {
    /// Must be active and work at `locationId`.
    #[schema(required = true, value_type = i64, example = 3)]
    pub provider_id: Option<i64>,
    #[schema(required = true, value_type = i64, example = 1)]
    pub location_id: Option<i64>,
    /// RFC 3339 timestamp.
    #[schema(required = true, value_type = DateTime<Utc>, example = "2026-11-28T14:30:00Z")]
    pub starts_at: Option<String>,
    /// Either `endsAt` or `durationMinutes`, not both; the slot lasts 5 minutes to 8 hours.
    #[schema(value_type = Option<DateTime<Utc>>, example = "2026-11-28T15:00:00Z")]
    pub ends_at: Option<String>,
    /// 5–480; either this or `endsAt`.
    #[schema(example = 30, minimum = 5, maximum = 480)]
    pub duration_minutes: Option<i64>,
    /// How long the hold lasts, 60–900 seconds; default 300.
    #[schema(example = 300, minimum = 60, maximum = 900)]
    pub ttl_seconds: Option<i64>,
}

/// A hold request whose fields have been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldSlot {
    pub provider_id: i64,
    pub location_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub ttl_seconds: i64,
}

impl NewAppointmentHold {
    pub fn validate(&self) -> Result<HoldSlot> {
        let mut errors = Vec::new();
        let mut id = |field: &str, v: Option<i64>| {
            if v.is_none() {
                errors.push(FieldError::new(field, "is required"));
            }
            v.unwrap_or_default()
        };
        let provider_id = id("providerId", self.provider_id);
        let location_id = id("locationId", self.location_id);
        let times = slot(&mut errors, self.starts_at.as_deref(), self.ends_at.as_deref(), self.duration_minutes);
        let ttl_seconds = self.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
        if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl_seconds) {
            errors.push(FieldError::new(
                "ttlSeconds",
                format!("must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS}"),
            ));
        }
        match times {
            Some((starts_at, ends_at)) if errors.is_empty() => {
                Ok(HoldSlot { provider_id, location_id, starts_at, ends_at, ttl_seconds })
            }
            _ => Err(Error::Invalid(errors)),
        }
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

    fn hold(ttl: Option<i64>) -> NewAppointmentHold {
        NewAppointmentHold {
            provider_id: Some(3),
            location_id: Some(1),
            starts_at: Some("2026-11-28T09:00:00Z".into()),
            duration_minutes: Some(30),
            ttl_seconds: ttl,
            ..NewAppointmentHold::default()
        }
    }

    #[test]
    fn a_hold_requires_the_slot_and_reports_it_all() {
        let e = NewAppointmentHold::default().validate().unwrap_err();
        assert_eq!(fields(e), ["providerId", "locationId", "startsAt", "endsAt"]);
    }

    #[test]
    fn ttl_is_bounded_and_defaults_to_five_minutes() {
        assert_eq!(hold(None).validate().unwrap().ttl_seconds, 300);
        assert_eq!(hold(Some(60)).validate().unwrap().ttl_seconds, 60);
        assert_eq!(hold(Some(900)).validate().unwrap().ttl_seconds, 900);
        assert_eq!(fields(hold(Some(59)).validate().unwrap_err()), ["ttlSeconds"]);
        assert_eq!(fields(hold(Some(901)).validate().unwrap_err()), ["ttlSeconds"]);
    }
}
