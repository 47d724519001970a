//! Webhooks: subscriptions (each with a signing secret shown only when it is issued) and their
//! deliveries with the attempt log, redelivery and recovery. Sending them is
//! `crate::delivery`, which shares the secret format (`delivery::signing`) and the URL policy
//! (`delivery::guard`) with the rules here.

pub mod deliveries;
pub mod model;
pub mod subscriptions;
pub mod validate;

pub use model::{Attempt, Delivery, DeliveryDetail, DeliveryStatus, SubscribableEventType, Webhook, WebhookWithSecret};
pub use validate::{CreateWebhook, UpdateWebhook, UrlPolicy};
