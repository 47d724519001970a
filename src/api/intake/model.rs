//! The intake form as the API shows it, its lifecycle, and how to load it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::{Disclose, Disclosure, RecordType};
use crate::http::error::{ApiError, FieldError};

/// The intake lifecycle, strictly `pending → started → completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntakeStatus {
    Pending,
    Started,
    Completed,
}

impl IntakeStatus {
    pub const ALL: [IntakeStatus; 3] = [IntakeStatus::Pending, IntakeStatus::Started, IntakeStatus::Completed];

    pub fn as_str(self) -> &'static str {
        match self {
            IntakeStatus::Pending => "pending",
            IntakeStatus::Started => "started",
            IntakeStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<IntakeStatus> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The one definition of the legal transitions.
    pub fn can_transition(from: IntakeStatus, to: IntakeStatus) -> bool {
        use IntakeStatus::*;
        matches!((from, to), (Pending, Started) | (Started, Completed))
    }

    /// The statuses a form may be in for a transition to `to`, for `status = ANY(…)`.
    pub fn allowed_from(to: IntakeStatus) -> Vec<String> {
        Self::ALL.into_iter().filter(|&from| Self::can_transition(from, to)).map(|s| s.as_str().to_string()).collect()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntakeForm {
    #[schema(example = 5)]
    pub id: i64,
    pub patient_id: i64,
    pub appointment_id: Option<i64>,
    #[schema(example = "new_patient_history")]
    pub form_type: String,
    /// pending | started | completed
    #[schema(example = "pending")]
    pub status: String,
    /// The patient's answers, a JSON object; `null` until completed.
    #[schema(value_type = Option<Object>, example = json!({"allergies": ["penicillin"], "smoker": false}))]
    pub answers: Option<serde_json::Value>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Disclose for IntakeForm {
    fn disclose(&self, to: &mut Disclosure) {
        to.add(RecordType::IntakeForm, self.id);
    }
}

/// One intake form of the organization (another organization's id is `None`).
pub async fn fetch(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Option<IntakeForm>, sqlx::Error> {
    sqlx::query_as!(
        IntakeForm,
        "SELECT id, patient_id, appointment_id, form_type, status, answers, started_at, completed_at, created_at,
                updated_at
         FROM intake_forms WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Parses the `status` filter: a comma-separated list of statuses.
pub fn parse_status_filter(raw: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim) {
        match IntakeStatus::parse(part) {
            Some(s) => out.push(s.as_str().to_string()),
            None => {
                return Err(ApiError::from_details(vec![FieldError::new(
                    "status",
                    "must be a comma-separated list of pending, started, completed",
                )]))
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_is_strict() {
        use IntakeStatus::*;
        for from in IntakeStatus::ALL {
            for to in IntakeStatus::ALL {
                let legal = matches!((from, to), (Pending, Started) | (Started, Completed));
                assert_eq!(IntakeStatus::can_transition(from, to), legal, "{from:?} → {to:?}");
            }
        }
        assert_eq!(IntakeStatus::allowed_from(Completed), vec!["started".to_string()]);
        assert_eq!(IntakeStatus::allowed_from(Started), vec!["pending".to_string()]);
    }

    #[test]
    fn status_filter() {
        assert_eq!(parse_status_filter(Some("pending,completed")).unwrap().unwrap(), vec!["pending", "completed"]);
        assert!(parse_status_filter(Some("done")).is_err());
    }
}
