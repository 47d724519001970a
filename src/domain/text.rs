//! The rules every free-text field of a record follows.

use super::FieldError;

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
