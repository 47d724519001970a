//! A subscription's deliveries: list, view with the attempt log, redeliver, and recover
//! everything it missed since an instant.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{self, Attempt, Delivery, DeliveryDetail, DeliveryList, DeliveryRow, DeliveryStatus};
use super::subscriptions::enabled_webhook;
use crate::auth::permissions::ManageWebhooks;
use crate::db::horizon;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Json, Path, Query};
use crate::http::pagination::PageRequest;
use crate::http::tx::Tx;
use crate::state::AppState;

/// How far back `recover` reaches.
pub const RECOVER_MAX_DAYS: i64 = 14;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesQuery {
    /// Only deliveries in this state: `pending`, `succeeded` or `dead_letter`.
    #[param(value_type = Option<DeliveryStatus>)]
    pub status: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only deliveries updated at or after this instant; orders the list by `(updatedAt, id)`.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    pub updated_since: Option<DateTime<Utc>>,
}

/// List a webhook's deliveries
///
/// By ascending id (or by `(updatedAt, id)` with `updatedSince`), optionally of one status.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = i64, Path, description = "Webhook id"), ListDeliveriesQuery),
    responses(
        (status = 200, description = "One page of deliveries", body = DeliveryList),
        (status = 400, description = "Invalid parameter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
        (status = 404, description = "No such subscription in this organization", body = ErrorBody),
    )
)]
pub async fn list_deliveries(
    auth: Auth<ManageWebhooks>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<ListDeliveriesQuery>,
) -> ApiResult<JsonResponse<DeliveryList>> {
    let mut read = crate::db::planned_read(&state.db).await?;
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(
            DeliveryStatus::parse(s)
                .ok_or_else(|| ApiError::validation("status", "must be one of pending, succeeded, dead_letter"))?,
        ),
    };
    let page = PageRequest::new(query.limit, query.cursor.as_deref(), query.updated_since)?;
    let org = auth.organization_id;
    model::fetch_webhook(&state.db, org, id).await?.ok_or(ApiError::NotFound("Webhook"))?;
    let status = status.map(DeliveryStatus::as_str);
    let rows = if let (Some(since), Some(after_updated)) = (page.updated_since, page.after_updated) {
        let horizon = horizon::current(&mut read).await?;
        sqlx::query_as!(
            DeliveryRow,
            "SELECT d.id, d.webhook_id, d.event_id, e.type AS event_type, d.status, d.attempts, d.next_attempt_at,
                    d.last_status_code, d.last_error, d.created_at, d.updated_at
             FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
             WHERE d.organization_id = $1 AND d.webhook_id = $2 AND ($3::text IS NULL OR d.status = $3)
               AND d.updated_at >= $4 AND (d.updated_at, d.id) > ($5, $6) AND d.updated_at < $8
             ORDER BY d.updated_at, d.id LIMIT $7",
            org,
            id,
            status,
            since,
            after_updated,
            page.after_id,
            page.fetch(),
            horizon
        )
        .fetch_all(&mut *read)
        .await?
    } else {
        sqlx::query_as!(
            DeliveryRow,
            "SELECT d.id, d.webhook_id, d.event_id, e.type AS event_type, d.status, d.attempts, d.next_attempt_at,
                    d.last_status_code, d.last_error, d.created_at, d.updated_at
             FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
             WHERE d.organization_id = $1 AND d.webhook_id = $2 AND ($3::text IS NULL OR d.status = $3)
               AND d.id > $4
             ORDER BY d.id LIMIT $5",
            org,
            id,
            status,
            page.after_id,
            page.fetch()
        )
        .fetch_all(&mut *read)
        .await?
    };
    let rows: Vec<Delivery> = rows.into_iter().map(Delivery::from).collect();
    Ok(JsonResponse(page.finish(rows, |d| (d.id, d.updated_at)).into()))
}

/// Get a delivery with its attempt log
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries/{deliveryId}",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = i64, Path, description = "Webhook id"), ("deliveryId" = i64, Path, description = "Delivery id")),
    responses(
        (status = 200, description = "The delivery and every attempt", body = DeliveryDetail),
        (status = 404, description = "No such subscription or delivery in this organization", body = ErrorBody),
    )
)]
pub async fn get_delivery(
    auth: Auth<ManageWebhooks>,
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(i64, i64)>,
) -> ApiResult<JsonResponse<DeliveryDetail>> {
    let delivery = model::fetch_delivery(&state.db, auth.organization_id, id, delivery_id)
        .await?
        .ok_or(ApiError::NotFound("Delivery"))?;
    let attempt_log = sqlx::query_as!(
        Attempt,
        "SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts
         WHERE delivery_id = $1 ORDER BY attempt, id",
        delivery.id
    )
    .fetch_all(&state.db)
    .await?;
    Ok(JsonResponse(DeliveryDetail { delivery, attempt_log }))
}

/// Redeliver a delivery
///
/// A dead-lettered or succeeded delivery gets a fresh attempt cycle (the first attempt now,
/// then the usual retries). A pending one is already queued: `409 invalid_state_transition`.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/deliveries/{deliveryId}/redeliver",
    operation_id = "redeliverDelivery",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = i64, Path, description = "Webhook id"), ("deliveryId" = i64, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued again; the delivery, now pending", body = Delivery),
        (status = 404, description = "No such subscription or delivery in this organization", body = ErrorBody),
        (status = 409, description = "Still pending (`invalid_state_transition`), or the subscription is disabled (`conflict`)", body = ErrorBody),
    )
)]
pub async fn redeliver(
    auth: Auth<ManageWebhooks>,
    mut tx: Tx,
    Path((id, delivery_id)): Path<(i64, i64)>,
) -> ApiResult<(StatusCode, JsonResponse<Delivery>)> {
    let org = auth.organization_id;
    enabled_webhook(&mut tx, org, id).await?;
    let requeued = sqlx::query_scalar!(
        "UPDATE webhook_deliveries
         SET status = 'pending', cycle_attempts = 0, next_attempt_at = now(), locked_until = NULL
         WHERE organization_id = $1 AND webhook_id = $2 AND id = $3 AND status = ANY($4)
         RETURNING id",
        org,
        id,
        delivery_id,
        &DeliveryStatus::requeueable_names(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    if requeued.is_none() {
        return match model::fetch_delivery(&mut *tx, org, id, delivery_id).await? {
            None => Err(ApiError::NotFound("Delivery")),
            Some(d) => Err(ApiError::transition(format!("This delivery is {}; it is already queued", d.status))),
        };
    }
    sqlx::query!("DELETE FROM webhook_dead_letters WHERE delivery_id = $1", delivery_id).execute(&mut *tx).await?;
    // The write layer wakes the dispatchers once this commits.
    crate::events::wake::mark_queued();
    let delivery =
        model::fetch_delivery(&mut *tx, org, id, delivery_id).await?.ok_or(ApiError::NotFound("Delivery"))?;
    Ok((StatusCode::ACCEPTED, JsonResponse(delivery)))
}

/// The instant from which to re-queue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverRequest {
    /// At most 14 days ago.
    #[serde(deserialize_with = "crate::http::time::timestamp")]
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverResult {
    /// Deliveries queued: events that had none for this subscription, and dead letters reset.
    #[schema(example = 3)]
    pub count: i64,
}

/// Recover missed events
///
/// Re-queues every event since `since` (at most 14 days back) that this subscription's event
/// filter matches and that it has not received successfully: events it has no delivery for
/// (it was disabled, or created later) get one, dead-lettered deliveries get a fresh cycle.
/// Pending and succeeded deliveries are left alone.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/recover",
    operation_id = "recoverWebhookEvents",
    tag = "Webhooks",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = RecoverRequest,
    responses(
        (status = 202, description = "Queued; how many deliveries", body = RecoverResult),
        (status = 400, description = "Invalid body, or `since` more than 14 days ago (`validation_error`)", body = ErrorBody),
        (status = 404, description = "No such subscription in this organization", body = ErrorBody),
        (status = 409, description = "The subscription is disabled (`conflict`)", body = ErrorBody),
    )
)]
pub async fn recover(
    auth: Auth<ManageWebhooks>,
    mut tx: Tx,
    Path(id): Path<i64>,
    Json(body): Json<RecoverRequest>,
) -> ApiResult<(StatusCode, JsonResponse<RecoverResult>)> {
    let org = auth.organization_id;
    let webhook = enabled_webhook(&mut tx, org, id).await?;
    if body.since < Utc::now() - Duration::days(RECOVER_MAX_DAYS) {
        return Err(ApiError::validation("since", format!("must be at most {RECOVER_MAX_DAYS} days ago")));
    }
    let count = sqlx::query_scalar!(
        r#"WITH missing AS (
               INSERT INTO webhook_deliveries (organization_id, webhook_id, event_id)
               SELECT e.organization_id, $2, e.id FROM events e
               WHERE e.organization_id = $1 AND e.type = ANY($3) AND e.created_at >= $4
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = $2 AND d.event_id = e.id)
               ON CONFLICT (webhook_id, event_id) DO NOTHING
               RETURNING id
           ), reset AS (
               UPDATE webhook_deliveries d
               SET status = 'pending', cycle_attempts = 0, next_attempt_at = now(), locked_until = NULL
               FROM events e
               WHERE d.organization_id = $1 AND d.webhook_id = $2 AND d.status = 'dead_letter'
                 AND e.id = d.event_id AND e.type = ANY($3) AND e.created_at >= $4
               RETURNING d.id
           ), cleared AS (
               DELETE FROM webhook_dead_letters WHERE delivery_id IN (SELECT id FROM reset)
           )
           SELECT (SELECT count(*) FROM missing) + (SELECT count(*) FROM reset) AS "count!""#,
        org,
        id,
        &webhook.events,
        body.since,
    )
    .fetch_one(&mut *tx)
    .await?;
    if count > 0 {
        // The write layer wakes the dispatchers once this commits.
        crate::events::wake::mark_queued();
    }
    tracing::info!(webhook_id = id, count, "webhook recovery queued");
    Ok((StatusCode::ACCEPTED, JsonResponse(RecoverResult { count })))
}
