//! The consultation as every front door shows it, its lifecycle, and how to load it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::prescriptions::{self, Prescription};
use super::soap_notes::{self, SoapNoteDetail};
use crate::audit::{Disclose, Disclosure, RecordType};
use crate::domain::{Error, Result};

/// The consultation lifecycle: `in_progress → ended`, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsultationStatus {
    InProgress,
    Ended,
}

impl ConsultationStatus {
    pub const ALL: [ConsultationStatus; 2] = [ConsultationStatus::InProgress, ConsultationStatus::Ended];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsultationStatus::InProgress => "in_progress",
            ConsultationStatus::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<ConsultationStatus> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The one definition of the legal transitions.
    pub fn can_transition(from: ConsultationStatus, to: ConsultationStatus) -> bool {
        matches!((from, to), (ConsultationStatus::InProgress, ConsultationStatus::Ended))
    }

    /// The statuses a consultation may be in for a transition to `to`, for `status = ANY(…)`.
    pub fn allowed_from(to: ConsultationStatus) -> Vec<String> {
        Self::ALL.into_iter().filter(|&from| Self::can_transition(from, to)).map(|s| s.as_str().to_string()).collect()
    }
}

/// Appointment statuses a consultation can start from, and that ending it moves to
/// `completed` (the appointments' own lifecycle: scheduled/confirmed → completed).
pub const ACTIVE_APPOINTMENT_STATUSES: [&str; 2] = ["scheduled", "confirmed"];

/// A consultation, as lists show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consultation {
    #[schema(example = 42)]
    pub id: i64,
    pub appointment_id: i64,
    pub patient_id: i64,
    pub provider_id: i64,
    /// in_progress | ended
    #[schema(example = "in_progress")]
    pub status: String,
    pub started_at: DateTime<Utc>,
    /// Set when the consultation ends.
    pub ended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Disclose for Consultation {
    fn disclose(&self, to: &mut Disclosure) {
        to.add(RecordType::Consultation, self.id);
    }
}

/// A consultation with its SOAP notes and prescriptions (ascending id), as the single view,
/// its creation and its events show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsultationDetail {
    #[serde(flatten)]
    pub consultation: Consultation,
    /// Each note as its single view shows it: its current version and `versions`.
    pub soap_notes: Vec<SoapNoteDetail>,
    pub prescriptions: Vec<Prescription>,
}

impl Disclose for ConsultationDetail {
    fn disclose(&self, to: &mut Disclosure) {
        self.consultation.disclose(to);
        self.soap_notes.iter().for_each(|n| n.disclose(to));
        self.prescriptions.iter().for_each(|p| p.disclose(to));
    }
}

/// One consultation of the organization (another organization's id is `None`).
pub async fn fetch(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Option<Consultation>> {
    sqlx::query_as!(
        Consultation,
        "SELECT id, appointment_id, patient_id, provider_id, status, started_at, ended_at, created_at, updated_at
         FROM consultations WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(conn)
    .await
    .map_err(Error::from)
}

/// One consultation with its notes and prescriptions (three statements: read them in one
/// snapshot for a consistent view).
pub async fn fetch_detail(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Option<ConsultationDetail>> {
    let Some(consultation) = fetch(conn, org, id).await? else {
        return Ok(None);
    };
    let soap_notes = soap_notes::all_of(conn, org, id).await?;
    let prescriptions = prescriptions::all_of(conn, org, id).await?;
    Ok(Some(ConsultationDetail { consultation, soap_notes, prescriptions }))
}

/// The consultation, or [`Error::NotFound`] if the organization has none with this id.
pub async fn require(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Consultation> {
    fetch(conn, org, id).await?.ok_or(Error::NotFound("Consultation"))
}

/// Parses the `status` filter: a comma-separated list of statuses.
pub fn parse_status_filter(raw: Option<&str>) -> Result<Option<Vec<ConsultationStatus>>> {
    let Some(raw) = raw else { return Ok(None) };
    raw.split(',')
        .map(|part| {
            ConsultationStatus::parse(part.trim())
                .ok_or_else(|| Error::invalid("status", "must be a comma-separated list of in_progress, ended"))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::consultations::soap_notes::SoapNote;

    #[test]
    fn only_in_progress_can_end() {
        use ConsultationStatus::*;
        assert!(ConsultationStatus::can_transition(InProgress, Ended));
        assert!(!ConsultationStatus::can_transition(Ended, Ended));
        assert!(!ConsultationStatus::can_transition(Ended, InProgress));
        assert_eq!(ConsultationStatus::allowed_from(Ended), vec!["in_progress".to_string()]);
        assert!(ConsultationStatus::allowed_from(InProgress).is_empty());
    }

    #[test]
    fn status_filter_accepts_lists_and_rejects_unknown() {
        assert_eq!(parse_status_filter(None).unwrap(), None);
        assert_eq!(
            parse_status_filter(Some("ended, in_progress")).unwrap().unwrap(),
            vec![ConsultationStatus::Ended, ConsultationStatus::InProgress]
        );
        assert!(parse_status_filter(Some("done")).is_err());
        assert!(parse_status_filter(Some("")).is_err());
    }

    /// The single view as typed and as JSON (the event log's `data`, a replayed response)
    /// discloses the same records.
    #[test]
    fn the_detail_discloses_its_notes_and_prescriptions_typed_and_as_json() {
        let at = Utc::now();
        let consultation = Consultation {
            id: 3,
            appointment_id: 4,
            patient_id: 5,
            provider_id: 6,
            status: "ended".into(),
            started_at: at,
            ended_at: Some(at),
            created_at: at,
            updated_at: at,
        };
        let version = |id, version| SoapNote {
            id,
            consultation_id: 3,
            author_provider_id: 6,
            subjective: Some("s".into()),
            objective: None,
            assessment: None,
            plan: None,
            status: "signed".into(),
            version,
            signed_by_provider_id: Some(6),
            signed_at: Some(at),
            amendment_reason: (version > 1).then(|| "r".into()),
            created_by_key_prefix: Some("kv_12345678".into()),
            signed_by_key_prefix: Some("kv_12345678".into()),
            created_at: at,
            updated_at: at,
        };
        // A note's earlier versions are the same record: its id is shown once.
        let note = |id| SoapNoteDetail { versions: vec![version(id, 1)], note: version(id, 2) };
        let prescription = Prescription {
            id: 9,
            consultation_id: 3,
            patient_id: 5,
            provider_id: 6,
            medication_name: "m".into(),
            dosage: "d".into(),
            route: None,
            frequency: "f".into(),
            quantity: None,
            refills: 0,
            instructions: None,
            status: "active".into(),
            prescribed_at: at,
            updated_at: at,
        };
        let detail =
            ConsultationDetail { consultation, soap_notes: vec![note(7), note(8)], prescriptions: vec![prescription] };
        let typed = Disclosure::of(&detail);
        let mut json = Disclosure::default();
        json.add_json(RecordType::Consultation, &serde_json::to_value(&detail).unwrap());
        assert_eq!(typed, json);
        assert_eq!(
            typed.into_groups(),
            vec![
                (RecordType::Consultation, vec![3]),
                (RecordType::SoapNote, vec![7, 8]),
                (RecordType::Prescription, vec![9])
            ]
        );
    }
}
