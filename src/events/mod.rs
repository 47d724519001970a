//! Event types and the transactional outbox writer.
//!
//! `record` is called inside the transaction of the change that causes the event. In the same
//! statement it fans the event out into one pending delivery per enabled subscription of the
//! organization that selects its type — a committed change always has its event and
//! deliveries; a rolled-back one has neither. The dispatchers are woken after the commit
//! (`wake`): the write layer does it after every handler that queued deliveries.

pub mod wake;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

/// The channel dispatchers LISTEN on; a notification means "new deliveries are due".
pub const NOTIFY_CHANNEL: &str = "klinivo_deliveries";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "patient.created")]
    PatientCreated,
    #[serde(rename = "patient.updated")]
    PatientUpdated,
    #[serde(rename = "appointment.scheduled")]
    AppointmentScheduled,
    #[serde(rename = "appointment.confirmed")]
    AppointmentConfirmed,
    #[serde(rename = "appointment.completed")]
    AppointmentCompleted,
    #[serde(rename = "appointment.cancelled")]
    AppointmentCancelled,
    #[serde(rename = "appointment.no_show")]
    AppointmentNoShow,
    #[serde(rename = "appointment.rescheduled")]
    AppointmentRescheduled,
    #[serde(rename = "consultation.ended")]
    ConsultationEnded,
    #[serde(rename = "soap_note.created")]
    SoapNoteCreated,
    #[serde(rename = "soap_note.signed")]
    SoapNoteSigned,
    #[serde(rename = "soap_note.amended")]
    SoapNoteAmended,
    #[serde(rename = "intake.started")]
    IntakeStarted,
    #[serde(rename = "intake.completed")]
    IntakeCompleted,
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    pub const ALL: [EventType; 15] = [
        EventType::PatientCreated,
        EventType::PatientUpdated,
        EventType::AppointmentScheduled,
        EventType::AppointmentConfirmed,
        EventType::AppointmentCompleted,
        EventType::AppointmentCancelled,
        EventType::AppointmentNoShow,
        EventType::AppointmentRescheduled,
        EventType::ConsultationEnded,
        EventType::SoapNoteCreated,
        EventType::SoapNoteSigned,
        EventType::SoapNoteAmended,
        EventType::IntakeStarted,
        EventType::IntakeCompleted,
        EventType::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PatientCreated => "patient.created",
            EventType::PatientUpdated => "patient.updated",
            EventType::AppointmentScheduled => "appointment.scheduled",
            EventType::AppointmentConfirmed => "appointment.confirmed",
            EventType::AppointmentCompleted => "appointment.completed",
            EventType::AppointmentCancelled => "appointment.cancelled",
            EventType::AppointmentNoShow => "appointment.no_show",
            EventType::AppointmentRescheduled => "appointment.rescheduled",
            EventType::ConsultationEnded => "consultation.ended",
            EventType::SoapNoteCreated => "soap_note.created",
            EventType::SoapNoteSigned => "soap_note.signed",
            EventType::SoapNoteAmended => "soap_note.amended",
            EventType::IntakeStarted => "intake.started",
            EventType::IntakeCompleted => "intake.completed",
            EventType::WebhookTest => "webhook.test",
        }
    }

    /// When it is sent, in the public docs' words where they have the type.
    pub fn description(self) -> &'static str {
        match self {
            EventType::PatientCreated => "New patient registered",
            EventType::PatientUpdated => "Patient details changed",
            EventType::AppointmentScheduled => "Appointment booked",
            EventType::AppointmentConfirmed => "Appointment confirmed",
            EventType::AppointmentCompleted => "Consultation ended",
            EventType::AppointmentCancelled => "Appointment cancelled",
            EventType::AppointmentNoShow => "Patient did not arrive",
            EventType::AppointmentRescheduled => "Appointment moved to another time",
            EventType::ConsultationEnded => "Provider finished consultation",
            EventType::SoapNoteCreated => "SOAP note saved",
            EventType::SoapNoteSigned => "SOAP note signed",
            EventType::SoapNoteAmended => "Signed SOAP note amended",
            EventType::IntakeStarted => "Patient started intake form",
            EventType::IntakeCompleted => "Patient completed intake form",
            EventType::WebhookTest => "Sent only by \"Send test event\"",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// `evt_<uuid>`, the public form of an event id.
pub fn public_id(id: Uuid) -> String {
    format!("evt_{}", id)
}

pub fn parse_public_id(s: &str) -> Option<Uuid> {
    s.strip_prefix("evt_").and_then(|u| Uuid::parse_str(u).ok())
}

/// An event as delivered and as `GET /events` returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[schema(example = "evt_6c1f0e56-2d7b-4a4e-9a53-1c1a0f6f3f1e")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "appointment.confirmed")]
    pub event_type: String,
    pub created_at: DateTime<Utc>,
    pub organization_id: Uuid,
    /// The resource as `GET` returned it when the event happened.
    pub data: serde_json::Value,
}

impl Event {
    /// The exact bytes that are signed and delivered.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Records an event inside the caller's transaction and fans it out to subscriptions. After
/// the commit, wake the dispatchers ([`wake::DeliveryWake::poke`], or [`wake::notify`] from
/// outside the server); until then they find the deliveries only at their next poll.
pub async fn record(
    conn: &mut PgConnection,
    organization_id: Uuid,
    event_type: EventType,
    data: &impl Serialize,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    let data = serde_json::to_value(data).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let deliveries = sqlx::query_scalar!(
        r#"WITH e AS (
               INSERT INTO events (id, organization_id, type, data) VALUES ($1, $2, $3, $4)
               RETURNING id, organization_id, type
           ), d AS (
               INSERT INTO webhook_deliveries (organization_id, webhook_id, event_id)
               SELECT s.organization_id, s.id, e.id
               FROM webhook_subscriptions s JOIN e ON s.organization_id = e.organization_id
               WHERE s.enabled AND e.type = ANY (s.events)
               RETURNING 1
           )
           SELECT count(*) AS "deliveries!" FROM d"#,
        id,
        organization_id,
        event_type.as_str(),
        data,
    )
    .fetch_one(conn)
    .await?;
    if deliveries > 0 {
        wake::mark_queued();
    }
    Ok(id)
}
