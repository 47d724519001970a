//! The intake form as every front door shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{Disclose, Disclosure, RecordType};

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
