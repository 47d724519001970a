//! What a client sends to create or change a subscription, and the rules it must meet.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::model::SubscribableEventType;
use crate::delivery::guard;
use crate::domain::{Error, FieldError, Result};
use crate::events::EventType;

pub const MAX_DESCRIPTION: usize = 500;

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://` and public; `http://` and internal addresses only when the server allows
    /// private destinations (development).
    #[schema(example = "https://example.com/hooks/klinivo")]
    pub url: String,
    /// At least one event type.
    #[schema(value_type = Vec<SubscribableEventType>, min_items = 1, example = json!(["appointment.scheduled", "appointment.cancelled"]))]
    pub events: Vec<String>,
    /// Up to 500 characters.
    #[schema(example = "Calendar sync", max_length = 500)]
    pub description: Option<String>,
    /// Default `true`.
    pub enabled: Option<bool>,
}

/// A partial update: only the fields sent change; `description: null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = String, required = false, example = "https://example.com/hooks/klinivo")]
    pub url: Option<Option<String>>,
    /// Replaces the list; at least one event type.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Vec<SubscribableEventType>, required = false, min_items = 1)]
    pub events: Option<Option<Vec<String>>>,
    /// `null` clears it; up to 500 characters.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = bool, required = false)]
    pub enabled: Option<Option<bool>>,
}

/// Absent → `None`; `null` → `Some(None)`; a value → `Some(Some(v))`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The checked event list: known, subscribable, de-duplicated (first occurrence kept).
pub fn event_types(events: &[String], problems: &mut Vec<FieldError>) -> Vec<String> {
    if events.is_empty() {
        problems.push(FieldError::new("events", "must list at least one event type"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, name) in events.iter().enumerate() {
        match EventType::parse(name) {
            Some(EventType::WebhookTest) => problems.push(FieldError::new(
                format!("events[{i}]"),
                "webhook.test is sent only by the test endpoint and cannot be subscribed to",
            )),
            Some(t) => {
                if !out.iter().any(|o| o == t.as_str()) {
                    out.push(t.as_str().to_string());
                }
            }
            None => {
                let known: Vec<&str> = SubscribableEventType::all().map(EventType::as_str).collect();
                problems.push(FieldError::new(
                    format!("events[{i}]"),
                    format!("unknown event type {name:?}; known: {}", known.join(", ")),
                ));
            }
        }
    }
    out
}

pub fn description(description: &Option<String>, problems: &mut Vec<FieldError>) {
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        problems.push(FieldError::new("description", format!("must be at most {MAX_DESCRIPTION} characters")));
    } else if description.as_ref().is_some_and(|d| d.contains('\0')) {
        problems.push(FieldError::new("description", "must not contain NUL characters"));
    }
}

pub fn not_null<T>(field: &str, value: &Option<Option<T>>, problems: &mut Vec<FieldError>) {
    if matches!(value, Some(None)) {
        problems.push(FieldError::new(field, "cannot be null"));
    }
}

/// Field problems first (`Error::Invalid`), then the destination (`Error::InvalidWebhookUrl`).
pub fn finish(problems: Vec<FieldError>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Which destinations a subscription may name: the server's setting, passed in by the front
/// door that holds the configuration.
#[derive(Debug, Clone, Copy)]
pub struct UrlPolicy {
    /// `http://` and internal addresses too (development only).
    pub allow_private: bool,
}

/// Checks a destination against the URL rules, resolving its host (DNS); returns it trimmed,
/// as stored.
pub async fn destination(url: &str, policy: UrlPolicy) -> Result<String> {
    // The URL parser would percent-encode these, but the URL is stored as sent.
    if url.trim().chars().any(char::is_control) {
        return Err(Error::InvalidWebhookUrl("url must not contain control characters".into()));
    }
    guard::check_destination(url, policy.allow_private).await.map_err(|e| Error::InvalidWebhookUrl(e.0))?;
    Ok(url.trim().to_string())
}
