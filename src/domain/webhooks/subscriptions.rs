//! Webhook subscriptions: create (with its one-time secret), list, get, update, delete, rotate
//! the secret, send a test event.

use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::deliveries;
use super::model::{Delivery, Webhook, WebhookWithSecret};
use super::validate::{self, CreateWebhook, UpdateWebhook, UrlPolicy};
use crate::db::horizon;
use crate::delivery::signing;
use crate::domain::{Error, Page, PageRequest, Result};
use crate::events::{self, wake, EventType};

/// Creates a subscription with a new signing secret: the secret is in the answer, and is never
/// shown again. The destination is checked last (it resolves the host).
pub async fn create(
    conn: &mut PgConnection,
    org: Uuid,
    input: &CreateWebhook,
    policy: UrlPolicy,
) -> Result<WebhookWithSecret> {
    let mut problems = Vec::new();
    let events = validate::event_types(&input.events, &mut problems);
    validate::description(&input.description, &mut problems);
    validate::finish(problems)?;
    let url = validate::destination(&input.url, policy).await?;
    let secret = signing::generate_secret();
    let webhook = sqlx::query_as!(
        Webhook,
        "INSERT INTO webhook_subscriptions (organization_id, url, events, description, enabled, secret)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, url, events, description, enabled, created_at, updated_at",
        org,
        url,
        &events,
        input.description,
        input.enabled.unwrap_or(true),
        secret,
    )
    .fetch_one(conn)
    .await?;
    tracing::info!(webhook_id = webhook.id, "webhook subscription created");
    Ok(WebhookWithSecret { webhook, secret })
}

/// The organization's subscriptions, by ascending id, or by `(updatedAt, id)` up to the sync
/// horizon when the page asks for changes since an instant.
pub async fn list(db: &PgPool, org: Uuid, page: &PageRequest) -> Result<Page<Webhook>> {
    let rows = if let (Some(since), Some(after_updated)) = (page.updated_since, page.after_updated) {
        let mut conn = db.acquire().await?;
        let horizon = horizon::current(&mut conn).await?;
        sqlx::query_as!(
            Webhook,
            "SELECT id, url, events, description, enabled, created_at, updated_at
             FROM webhook_subscriptions
             WHERE organization_id = $1 AND updated_at >= $2 AND (updated_at, id) > ($3, $4) AND updated_at < $6
             ORDER BY updated_at, id LIMIT $5",
            org,
            since,
            after_updated,
            page.after_id,
            page.fetch(),
            horizon
        )
        .fetch_all(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            Webhook,
            "SELECT id, url, events, description, enabled, created_at, updated_at
             FROM webhook_subscriptions
             WHERE organization_id = $1 AND id > $2
             ORDER BY id LIMIT $3",
            org,
            page.after_id,
            page.fetch()
        )
        .fetch_all(db)
        .await?
    };
    Ok(page.finish(rows, |w| (w.id, w.updated_at)))
}

/// One subscription of the organization (without its secret).
pub async fn get(db: impl PgExecutor<'_>, org: Uuid, id: i64) -> Result<Webhook> {
    sqlx::query_as!(
        Webhook,
        "SELECT id, url, events, description, enabled, created_at, updated_at
         FROM webhook_subscriptions WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound("Webhook"))
}

/// Changes the fields sent. Pending deliveries go to the new URL; enabling resumes the paused
/// ones (the dispatchers are woken once the caller commits).
pub async fn update(
    conn: &mut PgConnection,
    org: Uuid,
    id: i64,
    input: &UpdateWebhook,
    policy: UrlPolicy,
) -> Result<Webhook> {
    get(&mut *conn, org, id).await?;
    let mut problems = Vec::new();
    validate::not_null("url", &input.url, &mut problems);
    validate::not_null("events", &input.events, &mut problems);
    validate::not_null("enabled", &input.enabled, &mut problems);
    let events = input.events.as_ref().and_then(Option::as_ref).map(|e| validate::event_types(e, &mut problems));
    if let Some(description) = &input.description {
        validate::description(description, &mut problems);
    }
    validate::finish(problems)?;
    let url = match input.url.as_ref().and_then(Option::as_deref) {
        Some(url) => Some(validate::destination(url, policy).await?),
        None => None,
    };
    let enabled = input.enabled.flatten();
    let webhook = sqlx::query_as!(
        Webhook,
        "UPDATE webhook_subscriptions
         SET url = coalesce($3, url), events = coalesce($4, events),
             description = CASE WHEN $5 THEN $6 ELSE description END, enabled = coalesce($7, enabled)
         WHERE organization_id = $1 AND id = $2
         RETURNING id, url, events, description, enabled, created_at, updated_at",
        org,
        id,
        url,
        events.as_deref(),
        input.description.is_some(),
        input.description.as_ref().and_then(Option::as_deref),
        enabled,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound("Webhook"))?;
    if enabled == Some(true) {
        // Paused deliveries may be due.
        wake::mark_queued();
    }
    Ok(webhook)
}

/// Deletes the subscription and its deliveries; nothing more is sent to it.
pub async fn delete(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<()> {
    let deleted = sqlx::query!("DELETE FROM webhook_subscriptions WHERE organization_id = $1 AND id = $2", org, id)
        .execute(conn)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(Error::NotFound("Webhook"));
    }
    tracing::info!(webhook_id = id, "webhook subscription deleted");
    Ok(())
}

/// Issues a new signing secret, in the answer only; the old one stops at once.
pub async fn rotate_secret(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<WebhookWithSecret> {
    let secret = signing::generate_secret();
    let webhook = sqlx::query_as!(
        Webhook,
        "UPDATE webhook_subscriptions SET secret = $3 WHERE organization_id = $1 AND id = $2
         RETURNING id, url, events, description, enabled, created_at, updated_at",
        org,
        id,
        secret,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound("Webhook"))?;
    tracing::info!(webhook_id = id, "webhook secret rotated");
    Ok(WebhookWithSecret { webhook, secret })
}

/// Records a `webhook.test` event (its data is the subscription) and queues it for this
/// subscription only, whatever its event filter; returns the delivery.
pub async fn send_test(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Delivery> {
    let webhook = enabled(conn, org, id).await?;
    let event_id = events::record(conn, org, EventType::WebhookTest, &webhook).await?;
    let delivery_id = sqlx::query_scalar!(
        "INSERT INTO webhook_deliveries (organization_id, webhook_id, event_id) VALUES ($1, $2, $3) RETURNING id",
        org,
        id,
        event_id
    )
    .fetch_one(&mut *conn)
    .await?;
    wake::mark_queued();
    deliveries::fetch(conn, org, id, delivery_id).await?.ok_or_else(|| Error::internal("test delivery vanished"))
}

/// The subscription, locked against concurrent changes for the rest of the caller's
/// transaction; `NotFound` if it is not the organization's, `Conflict` if it is disabled
/// (nothing would be sent).
pub(super) async fn enabled(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<Webhook> {
    let webhook = sqlx::query_as!(
        Webhook,
        "SELECT id, url, events, description, enabled, created_at, updated_at
         FROM webhook_subscriptions WHERE organization_id = $1 AND id = $2 FOR SHARE",
        org,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound("Webhook"))?;
    if !webhook.enabled {
        return Err(Error::Conflict("This webhook is disabled; enable it first".into()));
    }
    Ok(webhook)
}
