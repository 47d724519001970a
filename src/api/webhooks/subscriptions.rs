//! Webhook subscriptions: create, list, view, update, delete, rotate the secret, send a test.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{self, Delivery, Webhook, WebhookList, WebhookWithSecret};
use super::validate::{self, CreateWebhook, UpdateWebhook};
use crate::auth::permissions::ManageWebhooks;
use crate::db::horizon;
use crate::delivery::signing;
use crate::events::{self, EventType};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Json, Path, Query};
use crate::http::pagination::PageRequest;
use crate::http::response::Created;
use crate::http::tx::Tx;
use crate::state::AppState;

/// Create a webhook subscription
///
/// The response carries the signing secret, shown only here (and on rotate-secret). The URL
/// must be `https://` and must not resolve to a loopback, private, link-local or otherwise
/// internal address (`invalid_webhook_url`).
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; `Location` names it. The secret is shown only now.", body = WebhookWithSecret),
        (status = 400, description = "Invalid body (`invalid_json`, `validation_error`) or URL (`invalid_webhook_url`)", body = ErrorBody),
    )
)]
pub async fn create_webhook(
    auth: Auth<ManageWebhooks>,
    State(state): State<AppState>,
    mut tx: Tx,
    Json(body): Json<CreateWebhook>,
) -> ApiResult<Created<WebhookWithSecret>> {
    let mut problems = Vec::new();
    let events = validate::event_types(&body.events, &mut problems);
    validate::description(&body.description, &mut problems);
    validate::finish(problems)?;
    let url = validate::destination(&body.url, state.config.webhook_allow_private).await?;
    let secret = signing::generate_secret();
    let webhook = sqlx::query_as!(
        Webhook,
        "INSERT INTO webhook_subscriptions (organization_id, url, events, description, enabled, secret)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, url, events, description, enabled, created_at, updated_at",
        auth.organization_id,
        url,
        &events,
        body.description,
        body.enabled.unwrap_or(true),
        secret,
    )
    .fetch_one(&mut *tx)
    .await?;
    tracing::info!(webhook_id = webhook.id, "webhook subscription created");
    Ok(Created { location: format!("/api/v1/webhooks/{}", webhook.id), body: WebhookWithSecret { webhook, secret } })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListWebhooksQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only subscriptions updated at or after this instant; orders the list by `(updatedAt, id)`.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    pub updated_since: Option<DateTime<Utc>>,
}

/// List webhook subscriptions
///
/// The organization's subscriptions, by ascending id (or by `(updatedAt, id)` with `updatedSince`).
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(ListWebhooksQuery),
    responses(
        (status = 200, description = "One page of subscriptions", body = WebhookList),
        (status = 400, description = "Invalid parameter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list_webhooks(
    auth: Auth<ManageWebhooks>,
    State(state): State<AppState>,
    Query(query): Query<ListWebhooksQuery>,
) -> ApiResult<JsonResponse<WebhookList>> {
    let page = PageRequest::new(query.limit, query.cursor.as_deref(), query.updated_since)?;
    let org = auth.organization_id;
    let rows = if let (Some(since), Some(after_updated)) = (page.updated_since, page.after_updated) {
        let mut conn = state.db.acquire().await?;
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
        .fetch_all(&state.db)
        .await?
    };
    Ok(JsonResponse(page.finish(rows, |w| (w.id, w.updated_at)).into()))
}

/// Get a webhook subscription
#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The subscription (without its secret)", body = Webhook),
        (status = 404, description = "No such subscription in this organization", body = ErrorBody),
    )
)]
pub async fn get_webhook(
    auth: Auth<ManageWebhooks>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<JsonResponse<Webhook>> {
    let webhook =
        model::fetch_webhook(&state.db, auth.organization_id, id).await?.ok_or(ApiError::NotFound("Webhook"))?;
    Ok(JsonResponse(webhook))
}

/// Update a webhook subscription
///
/// Changes `url`, `events`, `description` (null clears it) and `enabled`; fields not sent stay.
/// Pending deliveries go to the new URL. Disabling pauses delivery: nothing new is queued and
/// pending deliveries wait; enabling resumes them.
#[utoipa::path(
    patch,
    path = "/webhooks/{id}",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The updated subscription", body = Webhook),
        (status = 400, description = "Invalid body (`invalid_json`, `validation_error`) or URL (`invalid_webhook_url`)", body = ErrorBody),
        (status = 404, description = "No such subscription in this organization", body = ErrorBody),
    )
)]
pub async fn update_webhook(
    auth: Auth<ManageWebhooks>,
    State(state): State<AppState>,
    mut tx: Tx,
    Path(id): Path<i64>,
    Json(body): Json<UpdateWebhook>,
) -> ApiResult<JsonResponse<Webhook>> {
    let org = auth.organization_id;
    model::fetch_webhook(&mut *tx, org, id).await?.ok_or(ApiError::NotFound("Webhook"))?;
    let mut problems = Vec::new();
    validate::not_null("url", &body.url, &mut problems);
    validate::not_null("events", &body.events, &mut problems);
    validate::not_null("enabled", &body.enabled, &mut problems);
    let events = body.events.flatten().map(|e| validate::event_types(&e, &mut problems));
    if let Some(description) = &body.description {
        validate::description(description, &mut problems);
    }
    validate::finish(problems)?;
    let url = match body.url.flatten() {
        Some(url) => Some(validate::destination(&url, state.config.webhook_allow_private).await?),
        None => None,
    };
    let enabled = body.enabled.flatten();
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
        body.description.is_some(),
        body.description.flatten(),
        enabled,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound("Webhook"))?;
    if enabled == Some(true) {
        // Paused deliveries may be due: the write layer wakes the dispatchers once this commits.
        crate::events::wake::mark_queued();
    }
    Ok(JsonResponse(webhook))
}

/// Delete a webhook subscription
///
/// The subscription and its deliveries are deleted; nothing more is sent to it.
#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription in this organization", body = ErrorBody),
    )
)]
pub async fn delete_webhook(auth: Auth<ManageWebhooks>, mut tx: Tx, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    let deleted = sqlx::query!(
        "DELETE FROM webhook_subscriptions WHERE organization_id = $1 AND id = $2",
        auth.organization_id,
        id
    )
    .execute(&mut *tx)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound("Webhook"));
    }
    tracing::info!(webhook_id = id, "webhook subscription deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a webhook's signing secret
///
/// Issues a new secret, shown only in this response. The old secret stops at once: every
/// attempt from now on, retries included, is signed with the new one (the signature header
/// carries exactly one `v1`).
#[utoipa::path(
    post,
    path = "/webhooks/{id}/rotate-secret",
    operation_id = "rotateWebhookSecret",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The subscription with its new secret", body = WebhookWithSecret),
        (status = 404, description = "No such subscription in this organization", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    auth: Auth<ManageWebhooks>,
    mut tx: Tx,
    Path(id): Path<i64>,
) -> ApiResult<JsonResponse<WebhookWithSecret>> {
    let secret = signing::generate_secret();
    let webhook = sqlx::query_as!(
        Webhook,
        "UPDATE webhook_subscriptions SET secret = $3 WHERE organization_id = $1 AND id = $2
         RETURNING id, url, events, description, enabled, created_at, updated_at",
        auth.organization_id,
        id,
        secret,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound("Webhook"))?;
    tracing::info!(webhook_id = id, "webhook secret rotated");
    Ok(JsonResponse(WebhookWithSecret { webhook, secret }))
}

/// Send a test event
///
/// Records a `webhook.test` event (its `data` is the subscription) and queues it for this
/// subscription only, whatever its event filter. Returns the delivery, to follow with the
/// deliveries endpoints. A disabled subscription is `409 conflict`.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/test",
    operation_id = "sendWebhookTest",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 202, description = "Queued; the delivery", body = Delivery),
        (status = 404, description = "No such subscription in this organization", body = ErrorBody),
        (status = 409, description = "The subscription is disabled (`conflict`)", body = ErrorBody),
    )
)]
pub async fn send_test(
    auth: Auth<ManageWebhooks>,
    mut tx: Tx,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, JsonResponse<Delivery>)> {
    let org = auth.organization_id;
    let webhook = enabled_webhook(&mut tx, org, id).await?;
    let event_id = events::record(&mut tx, org, EventType::WebhookTest, &webhook).await?;
    let delivery_id = sqlx::query_scalar!(
        "INSERT INTO webhook_deliveries (organization_id, webhook_id, event_id) VALUES ($1, $2, $3) RETURNING id",
        org,
        id,
        event_id
    )
    .fetch_one(&mut *tx)
    .await?;
    // The write layer wakes the dispatchers once this commits.
    crate::events::wake::mark_queued();
    let delivery = model::fetch_delivery(&mut *tx, org, id, delivery_id)
        .await?
        .ok_or_else(|| ApiError::internal("test delivery vanished"))?;
    Ok((StatusCode::ACCEPTED, JsonResponse(delivery)))
}

/// The subscription, locked against concurrent changes for the rest of the request; 404 if it
/// is not the organization's, 409 if it is disabled (nothing would be sent).
pub async fn enabled_webhook(tx: &mut Tx, org: uuid::Uuid, id: i64) -> ApiResult<Webhook> {
    let webhook = sqlx::query_as!(
        Webhook,
        "SELECT id, url, events, description, enabled, created_at, updated_at
         FROM webhook_subscriptions WHERE organization_id = $1 AND id = $2 FOR SHARE",
        org,
        id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(ApiError::NotFound("Webhook"))?;
    if !webhook.enabled {
        return Err(ApiError::Conflict("This webhook is disabled; enable it first".into()));
    }
    Ok(webhook)
}
