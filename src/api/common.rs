//! Shapes shared by several resources.

use axum::extract::FromRequest;
use serde::Deserialize;

use crate::http::error::{ApiError, FieldError};
use crate::http::extract::parse_json;

/// The body of an action that takes no input (`POST …/start`): none at all, or `{}`. Anything
/// else is refused like any other body: malformed JSON is `invalid_json`, a field is
/// `validation_error` naming it.
pub struct NoBody;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyObject {}

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = <bytes::Bytes as FromRequest<S>>::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidJson("Could not read the request body".into())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(NoBody);
        }
        let EmptyObject {} = parse_json(&bytes)?;
        Ok(NoBody)
    }
}

/// A required text field: trimmed, non-empty, at most `max` characters. Problems are pushed
/// onto `details`.
pub fn required_text(details: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.is_empty() {
        details.push(FieldError::new(field, "must not be empty"));
    } else {
        check_text(details, field, value, max);
    }
    value.to_string()
}

/// An optional text field: trimmed; blank means absent; at most `max` characters.
pub fn optional_text(details: &mut Vec<FieldError>, field: &str, value: Option<&str>, max: usize) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    check_text(details, field, value, max);
    Some(value.to_string())
}

/// Length in characters, and no NUL (PostgreSQL text cannot hold it).
fn check_text(details: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        details.push(FieldError::new(field, format!("must be at most {max} characters")));
    } else if value.contains('\0') {
        details.push(FieldError::new(field, "must not contain NUL characters"));
    }
}
