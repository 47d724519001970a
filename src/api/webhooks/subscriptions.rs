//! Webhook subscriptions: create, list, view, update, delete, rotate the secret, send a test.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;

use crate::auth::permissions::ManageWebhooks;
use crate::domain::webhooks::{
    subscriptions, CreateWebhook, Delivery, UpdateWebhook, UrlPolicy, Webhook, WebhookWithSecret,
};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Json, Path, Query};
use crate::http::pagination::{list_query, paged};
use crate::http::response::Created;
use crate::http::tx::Tx;
use crate::state::AppState;

paged!(WebhookList = Webhook, "webhook subscriptions");

list_query! {
    pub struct ListWebhooksQuery {}
}

/// The destinations this server lets a subscription name.
fn url_policy(state: &AppState) -> UrlPolicy {
    UrlPolicy { allow_private: state.config.webhook_allow_private }
}

/// Create a webhook subscription
///
/// The response carries the signing secret, shown only here (and on rotate-secret). The URL
/// must be `https://` and must not resolve to a loopback, private, link-local or otherwise
/// internal address (`invalid_webhook_url`).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "Webhooks",
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
    let created = subscriptions::create(&mut tx, auth.organization_id, &body, url_policy(&state)).await?;
    Ok(Created { location: format!("/api/v1/webhooks/{}", created.webhook.id), body: created })
}

/// List webhook subscriptions
///
/// The organization's subscriptions, by ascending id (or by `(updatedAt, id)` with `updatedSince`).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "Webhooks",
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
    let page = query.page()?;
    Ok(JsonResponse(subscriptions::list(&state.db, auth.organization_id, &page).await?))
}

/// Get a webhook subscription
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "Webhooks",
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
    Ok(JsonResponse(subscriptions::get(&state.db, auth.organization_id, id).await?))
}

/// Update a webhook subscription
///
/// Changes `url`, `events`, `description` (null clears it) and `enabled`; fields not sent stay.
/// Pending deliveries go to the new URL. Disabling pauses delivery: nothing new is queued and
/// pending deliveries wait; enabling resumes them.
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/{id}",
    tag = "Webhooks",
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
    Ok(JsonResponse(subscriptions::update(&mut tx, auth.organization_id, id, &body, url_policy(&state)).await?))
}

/// Delete a webhook subscription
///
/// The subscription and its deliveries are deleted; nothing more is sent to it.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "Webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription in this organization", body = ErrorBody),
    )
)]
pub async fn delete_webhook(auth: Auth<ManageWebhooks>, mut tx: Tx, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    subscriptions::delete(&mut tx, auth.organization_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a webhook's signing secret
///
/// Issues a new secret, shown only in this response. The old secret stops at once: every
/// attempt from now on, retries included, is signed with the new one (the signature header
/// carries exactly one `v1`).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/rotate-secret",
    operation_id = "rotateWebhookSecret",
    tag = "Webhooks",
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
    Ok(JsonResponse(subscriptions::rotate_secret(&mut tx, auth.organization_id, id).await?))
}

/// Send a test event
///
/// Records a `webhook.test` event (its `data` is the subscription) and queues it for this
/// subscription only, whatever its event filter. Returns the delivery, to follow with the
/// deliveries endpoints. A disabled subscription is `409 conflict`.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/test",
    operation_id = "sendWebhookTest",
    tag = "Webhooks",
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
    let delivery = subscriptions::send_test(&mut tx, auth.organization_id, id).await?;
    Ok((StatusCode::ACCEPTED, JsonResponse(delivery)))
}
