//! A subscription's deliveries: list, view with the attempt log, redeliver, and recover
//! everything it missed since an instant.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::permissions::ManageWebhooks;
use crate::domain::webhooks::deliveries::{self, ListFilter};
use crate::domain::webhooks::{Delivery, DeliveryDetail, DeliveryStatus};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Json, Path, Query};
use crate::http::pagination::{list_query, paged};
use crate::http::tx::Tx;
use crate::state::AppState;

paged!(DeliveryList = Delivery, "deliveries");

list_query! {
    pub struct ListDeliveriesQuery {
        /// Only deliveries in this state: `pending`, `succeeded` or `dead_letter`.
        #[param(value_type = Option<DeliveryStatus>)]
        pub status: Option<String>,
    }
}

impl ListDeliveriesQuery {
    fn filter(&self) -> ApiResult<ListFilter> {
        Ok(ListFilter { status: self.status.as_deref().map(DeliveryStatus::parse_filter).transpose()? })
    }
}

/// List a webhook's deliveries
///
/// By ascending id (or by `(updatedAt, id)` with `updatedSince`), optionally of one status.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "Webhooks",
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
    let filter = query.filter()?;
    let page = query.page()?;
    let mut read = crate::db::planned_read(&state.db).await?;
    Ok(JsonResponse(deliveries::list(&mut read, auth.organization_id, id, &filter, &page).await?))
}

/// Get a delivery with its attempt log
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries/{deliveryId}",
    tag = "Webhooks",
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
    Ok(JsonResponse(deliveries::get(&state.db, auth.organization_id, id, delivery_id).await?))
}

/// Redeliver a delivery
///
/// A dead-lettered or succeeded delivery gets a fresh attempt cycle (the first attempt now,
/// then the usual retries). A pending one is already queued: `409 invalid_state_transition`.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver",
    operation_id = "redeliverDelivery",
    tag = "Webhooks",
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
    let delivery = deliveries::redeliver(&mut tx, auth.organization_id, id, delivery_id).await?;
    Ok((StatusCode::ACCEPTED, JsonResponse(delivery)))
}

// The body stays here: its timestamp is read by the API's RFC 3339 rules (`http::time`).
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
    path = "/api/v1/webhooks/{id}/recover",
    operation_id = "recoverWebhookEvents",
    tag = "Webhooks",
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
    let count = deliveries::recover(&mut tx, auth.organization_id, id, body.since).await?;
    Ok((StatusCode::ACCEPTED, JsonResponse(RecoverResult { count })))
}
