//! Webhook subscriptions and deliveries: the records as every front door shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{Error, Result};
use crate::events::{self, EventType};

/// A webhook subscription. The signing secret is never part of it (see `WebhookWithSecret`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "https://example.com/hooks/klinivo")]
    pub url: String,
    /// The event types delivered to this subscription.
    #[schema(value_type = Vec<SubscribableEventType>, example = json!(["appointment.scheduled", "appointment.cancelled"]))]
    pub events: Vec<String>,
    #[schema(example = "Calendar sync")]
    pub description: Option<String>,
    /// A disabled subscription gets no new deliveries; its pending ones wait until it is enabled.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A subscription with its signing secret: returned only on creation and on rotate-secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The signing secret (`whsec_` + base64 of 32 random bytes). Shown only in this response.
    #[schema(example = "whsec_plJ3nmyCDGBKInavdOK15jsl+uCR5aGQKbGBCDFZnGg=")]
    pub secret: String,
}

/// An event type a subscription can select: every type except `webhook.test`, which only the
/// test endpoint sends.
pub struct SubscribableEventType;

impl SubscribableEventType {
    pub fn all() -> impl Iterator<Item = EventType> {
        EventType::ALL.into_iter().filter(|t| *t != EventType::WebhookTest)
    }
}

impl utoipa::PartialSchema for SubscribableEventType {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An event type a subscription can select (every type except `webhook.test`)."))
            .enum_values(Some(SubscribableEventType::all().map(EventType::as_str)))
            .into()
    }
}

impl ToSchema for SubscribableEventType {}

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answer was received.
    Succeeded,
    /// Every attempt of its cycle failed; redeliver or recover to try again.
    DeadLetter,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::DeadLetter => "dead_letter",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [DeliveryStatus::Pending, DeliveryStatus::Succeeded, DeliveryStatus::DeadLetter]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// The status a list filter names (`status`), or why it names none.
    pub fn parse_filter(s: &str) -> Result<DeliveryStatus> {
        DeliveryStatus::parse(s)
            .ok_or_else(|| Error::invalid("status", "must be one of pending, succeeded, dead_letter"))
    }

    /// The one definition of who may be re-queued (a fresh attempt cycle): finished
    /// deliveries. A pending one is already queued.
    pub const REQUEUEABLE: [DeliveryStatus; 2] = [DeliveryStatus::Succeeded, DeliveryStatus::DeadLetter];

    pub fn requeueable_names() -> Vec<String> {
        DeliveryStatus::REQUEUEABLE.iter().map(|s| s.as_str().to_string()).collect()
    }
}

/// One event sent (or to be sent) to one subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    #[schema(example = 42)]
    pub id: i64,
    #[schema(example = 1)]
    pub webhook_id: i64,
    #[schema(example = "evt_6c1f0e56-2d7b-4a4e-9a53-1c1a0f6f3f1e")]
    pub event_id: String,
    #[schema(value_type = EventType, example = "appointment.confirmed")]
    pub event_type: String,
    #[schema(value_type = DeliveryStatus, example = "pending")]
    pub status: String,
    /// Attempts made so far, over every cycle.
    #[schema(example = 1)]
    pub attempts: i32,
    /// When the next attempt is due; `null` unless pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, `null` if none was received.
    #[schema(example = 503)]
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed (`HTTP 503`, `timeout after 10000 ms`, `connection refused`,
    /// `blocked address: …`); `null` after a success.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A delivery with the record of every attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<Attempt>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1 for the first attempt; numbering continues across redeliveries.
    pub attempt: i32,
    /// When the request was sent.
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// Time until the response (or the failure).
    pub duration_ms: i32,
}

/// A delivery as read from the database (joined with its event's type).
pub(super) struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        let pending = r.status == DeliveryStatus::Pending.as_str();
        Delivery {
            id: r.id,
            webhook_id: r.webhook_id,
            event_id: events::public_id(r.event_id),
            event_type: r.event_type,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: pending.then_some(r.next_attempt_at),
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
