//! Webhooks: endpoints (add, enable/disable, events, rotate the secret, send a test), their
//! deliveries with the attempt log, redeliver and recover. The domain's own rules and messages,
//! the same as the API's.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::{record, Shown};
use crate::audit::RecordType;
use crate::console::context::{Path, SignedIn};
use crate::console::error::PageError;
use crate::console::forms::Posted;
use crate::console::render::{html, page, when, when_opt, Chrome};
use crate::domain::webhooks::{
    deliveries, subscriptions, CreateWebhook, DeliveryStatus, SubscribableEventType, UpdateWebhook, UrlPolicy, Webhook,
};
use crate::domain::{self, PageRequest};
use crate::events::wake::noting_deliveries;
use crate::state::AppState;

fn url_policy(state: &AppState) -> UrlPolicy {
    UrlPolicy { allow_private: state.config.webhook_allow_private }
}

/// The messages of a refused change, for the form.
fn messages(e: domain::Error) -> Result<Vec<String>, PageError> {
    match e {
        domain::Error::Invalid(fields) => {
            Ok(fields.into_iter().map(|f| format!("{}: {}", f.field, f.message)).collect())
        }
        domain::Error::InvalidWebhookUrl(m) => Ok(vec![m]),
        e => Err(e.into()),
    }
}

struct EventBox {
    name: &'static str,
    description: &'static str,
    checked: bool,
}

fn event_boxes(checked: &[String]) -> Vec<EventBox> {
    SubscribableEventType::all()
        .map(|t| EventBox {
            name: t.as_str(),
            description: t.description(),
            checked: checked.iter().any(|c| c == t.as_str()),
        })
        .collect()
}

struct WebhookRow {
    id: i64,
    url: String,
    description: Option<String>,
    events: Vec<String>,
    enabled: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    webhooks: Vec<WebhookRow>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct CursorQuery {
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Query(q): Query<CursorQuery>,
) -> Result<Response, PageError> {
    let request = PageRequest::new(Some(100), q.cursor.as_deref(), None).map_err(|_| PageError::NotFound)?;
    let found = subscriptions::list(&state.db, session.organization_id, &request).await?;
    let webhooks = found
        .data
        .into_iter()
        .map(|w| WebhookRow {
            id: w.id,
            created: when(&w.created_at),
            url: w.url,
            description: w.description,
            events: w.events,
            enabled: w.enabled,
        })
        .collect();
    page(&WebhooksPage { chrome: Chrome::new(&session, "webhooks"), webhooks, next_cursor: found.next_cursor })
}

#[derive(Template)]
#[template(path = "console/webhook_new.html")]
struct NewWebhookPage {
    chrome: Chrome,
    url: String,
    description: String,
    events: Vec<EventBox>,
    errors: Vec<String>,
}

pub async fn new_form(SignedIn(session): SignedIn) -> Result<Response, PageError> {
    page(&NewWebhookPage {
        chrome: Chrome::new(&session, "webhooks"),
        url: String::new(),
        description: String::new(),
        events: event_boxes(&[]),
        errors: Vec::new(),
    })
}

pub async fn create(State(state): State<AppState>, post: Posted) -> Result<Response, PageError> {
    let Posted { session, ctx, form } = post;
    let input = CreateWebhook {
        url: form.text("url").to_string(),
        events: form.all("events"),
        description: Some(form.text("description").to_string()).filter(|d| !d.is_empty()),
        enabled: None,
    };
    let mut tx = state.db.begin().await?;
    match subscriptions::create(&mut tx, session.organization_id, &input, url_policy(&state)).await {
        Ok(created) => {
            let id = created.webhook.id;
            record(&mut tx, &session, &ctx, "create", RecordType::Webhook, Some(id), 200).await?;
            tx.commit().await?;
            page(&Shown::webhook_secret(Chrome::new(&session, "webhooks"), "Endpoint added", id, created.secret))
        }
        Err(e) => {
            let body = NewWebhookPage {
                chrome: Chrome::new(&session, "webhooks"),
                url: input.url,
                description: input.description.unwrap_or_default(),
                events: event_boxes(&input.events),
                errors: messages(e)?,
            }
            .render()?;
            Ok((StatusCode::BAD_REQUEST, html(body)).into_response())
        }
    }
}

struct DeliveryRow {
    id: i64,
    event_type: String,
    status: String,
    attempts: i32,
    last: String,
    created: String,
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct WebhookPage {
    chrome: Chrome,
    webhook: Webhook,
    created: String,
    notice: Option<&'static str>,
    events: Vec<EventBox>,
    errors: Vec<String>,
    since_default: String,
    statuses: Vec<(&'static str, &'static str)>,
    status: &'static str,
    deliveries: Vec<DeliveryRow>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct DetailQuery {
    status: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

/// The filter's choices: any, or each status a delivery can have (`DeliveryStatus`).
const STATUSES: [(&str, &str); 4] =
    [("", "Any"), ("pending", "Pending"), ("succeeded", "Succeeded"), ("dead_letter", "Dead letter")];

/// What the last action did, from a fixed list (nothing from the request is echoed).
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "test" => "A test event is queued; it appears below.",
        "enabled" => "Enabled: new events are delivered, and paused deliveries resume.",
        "disabled" => "Disabled: no new deliveries; pending ones wait until it is enabled again.",
        "events" => "The events are saved.",
        "recovered" => "The missed events are queued; they appear below.",
        "redelivered" => "Queued again: it is attempted at once.",
        _ => return None,
    })
}

async fn detail_page(
    state: &AppState,
    session: &crate::domain::accounts::Session,
    id: i64,
    q: &DetailQuery,
    errors: Vec<String>,
    checked: Option<Vec<String>>,
) -> Result<WebhookPage, PageError> {
    let webhook = subscriptions::get(&state.db, session.organization_id, id).await?;
    let status = STATUSES.iter().map(|s| s.0).find(|s| Some(*s) == q.status.as_deref()).unwrap_or("");
    let filter =
        deliveries::ListFilter { status: if status.is_empty() { None } else { DeliveryStatus::parse(status) } };
    let request = PageRequest::new(Some(50), q.cursor.as_deref(), None).map_err(|_| PageError::NotFound)?;
    let mut read = state.db.acquire().await?;
    let found = deliveries::list(&mut read, session.organization_id, id, &filter, &request).await?;
    let rows = found
        .data
        .into_iter()
        .rev()
        .map(|d| DeliveryRow {
            id: d.id,
            last: match (d.last_status_code, &d.last_error) {
                (_, Some(e)) => e.clone(),
                (Some(code), None) => format!("HTTP {code}"),
                (None, None) => "—".into(),
            },
            created: when(&d.created_at),
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
        })
        .collect();
    let checked = checked.unwrap_or_else(|| webhook.events.clone());
    Ok(WebhookPage {
        chrome: Chrome::new(session, "webhooks"),
        created: when(&webhook.created_at),
        notice: notice(q.done.as_deref()),
        events: event_boxes(&checked),
        errors,
        since_default: (Utc::now() - chrono::Duration::hours(24)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        statuses: STATUSES.to_vec(),
        status,
        deliveries: rows,
        next_cursor: found.next_cursor,
        webhook,
    })
}

pub async fn detail(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, PageError> {
    page(&detail_page(&state, &session, id, &q, Vec::new(), None).await?)
}

fn back(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/console/webhooks/{id}?done={done}")).into_response()
}

/// Runs a change that may queue deliveries in one transaction with its audit entry, then wakes
/// the dispatchers if it did.
async fn commit(
    state: &AppState,
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    queued: bool,
) -> Result<(), PageError> {
    tx.commit().await?;
    if queued {
        state.wake.poke();
    }
    Ok(())
}

async fn update(
    state: &AppState,
    post: &Posted,
    id: i64,
    input: UpdateWebhook,
) -> Result<Result<(), Vec<String>>, PageError> {
    let mut tx = state.db.begin().await?;
    let (result, queued) =
        noting_deliveries(subscriptions::update(&mut tx, post.session.organization_id, id, &input, url_policy(state)))
            .await;
    match result {
        Ok(_) => {
            record(&mut tx, &post.session, &post.ctx, "update", RecordType::Webhook, Some(id), 303).await?;
            commit(state, tx, queued).await?;
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(messages(e)?)),
    }
}

pub async fn set_enabled(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    post: Posted,
) -> Result<Response, PageError> {
    let enabled = match post.form.text("enabled") {
        "true" => true,
        "false" => false,
        _ => return Err(PageError::BadForm),
    };
    let input = UpdateWebhook { url: None, events: None, description: None, enabled: Some(Some(enabled)) };
    match update(&state, &post, id, input).await? {
        Ok(()) => Ok(back(id, if enabled { "enabled" } else { "disabled" })),
        Err(errors) => Err(PageError::Conflict(errors.join(" "))),
    }
}

pub async fn set_events(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    post: Posted,
) -> Result<Response, PageError> {
    let events = post.form.all("events");
    let input = UpdateWebhook { url: None, events: Some(Some(events.clone())), description: None, enabled: None };
    match update(&state, &post, id, input).await? {
        Ok(()) => Ok(back(id, "events")),
        Err(errors) => {
            let q = DetailQuery { status: None, cursor: None, done: None };
            let body = detail_page(&state, &post.session, id, &q, errors, Some(events)).await?.render()?;
            Ok((StatusCode::BAD_REQUEST, html(body)).into_response())
        }
    }
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    post: Posted,
) -> Result<Response, PageError> {
    let Posted { session, ctx, .. } = post;
    let mut tx = state.db.begin().await?;
    let rotated = subscriptions::rotate_secret(&mut tx, session.organization_id, id).await?;
    record(&mut tx, &session, &ctx, "update", RecordType::Webhook, Some(id), 200).await?;
    tx.commit().await?;
    let mut shown =
        Shown::webhook_secret(Chrome::new(&session, "webhooks"), "Signing secret rotated", id, rotated.secret);
    shown.intro = "Deliveries are signed with this new secret from now on; update your receiver.".into();
    page(&shown)
}

pub async fn send_test(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    post: Posted,
) -> Result<Response, PageError> {
    let Posted { session, ctx, .. } = post;
    let mut tx = state.db.begin().await?;
    let (result, queued) = noting_deliveries(subscriptions::send_test(&mut tx, session.organization_id, id)).await;
    let delivery = result?;
    record(&mut tx, &session, &ctx, "create", RecordType::WebhookDelivery, Some(delivery.id), 303).await?;
    commit(&state, tx, queued).await?;
    Ok(back(id, "test"))
}

/// A UTC instant as typed: RFC 3339, or `YYYY-MM-DDTHH:MM[:SS]` (UTC).
fn parse_since(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

pub async fn recover(State(state): State<AppState>, Path(id): Path<i64>, post: Posted) -> Result<Response, PageError> {
    let Some(since) = parse_since(post.form.text("since")) else {
        let q = DetailQuery { status: None, cursor: None, done: None };
        let errors = vec!["Since: enter a UTC time such as 2026-01-31T09:00:00Z.".to_string()];
        let body = detail_page(&state, &post.session, id, &q, errors, None).await?.render()?;
        return Ok((StatusCode::BAD_REQUEST, html(body)).into_response());
    };
    let Posted { session, ctx, .. } = post;
    let mut tx = state.db.begin().await?;
    let (result, queued) = noting_deliveries(deliveries::recover(&mut tx, session.organization_id, id, since)).await;
    match result {
        Ok(_) => {
            record(&mut tx, &session, &ctx, "update", RecordType::Webhook, Some(id), 303).await?;
            commit(&state, tx, queued).await?;
            Ok(back(id, "recovered"))
        }
        Err(e) => {
            drop(tx);
            let errors = messages(e)?;
            let q = DetailQuery { status: None, cursor: None, done: None };
            let body = detail_page(&state, &session, id, &q, errors, None).await?.render()?;
            Ok((StatusCode::BAD_REQUEST, html(body)).into_response())
        }
    }
}

struct AttemptRow {
    number: i32,
    at: String,
    status_code: String,
    error: String,
    duration: String,
}

#[derive(Template)]
#[template(path = "console/delivery.html")]
struct DeliveryPage {
    chrome: Chrome,
    webhook_id: i64,
    id: i64,
    event_type: String,
    event_id: String,
    status: String,
    attempts: i32,
    next_attempt: String,
    notice: Option<&'static str>,
    rows: Vec<AttemptRow>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn delivery(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path((webhook_id, id)): Path<(i64, i64)>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let detail = deliveries::get(&state.db, session.organization_id, webhook_id, id).await?;
    let d = detail.delivery;
    page(&DeliveryPage {
        chrome: Chrome::new(&session, "webhooks"),
        webhook_id,
        id,
        next_attempt: when_opt(&d.next_attempt_at, "—"),
        event_type: d.event_type,
        event_id: d.event_id,
        status: d.status,
        attempts: d.attempts,
        notice: notice(q.done.as_deref()),
        rows: detail
            .attempt_log
            .into_iter()
            .map(|a| AttemptRow {
                number: a.attempt,
                at: a.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                status_code: a.status_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
                error: a.error.unwrap_or_else(|| "—".into()),
                duration: format!("{} ms", a.duration_ms),
            })
            .collect(),
    })
}

pub async fn redeliver(
    State(state): State<AppState>,
    Path((webhook_id, id)): Path<(i64, i64)>,
    post: Posted,
) -> Result<Response, PageError> {
    let Posted { session, ctx, .. } = post;
    let mut tx = state.db.begin().await?;
    let (result, queued) =
        noting_deliveries(deliveries::redeliver(&mut tx, session.organization_id, webhook_id, id)).await;
    result?;
    record(&mut tx, &session, &ctx, "update", RecordType::WebhookDelivery, Some(id), 303).await?;
    commit(&state, tx, queued).await?;
    Ok(Redirect::to(&format!("/console/webhooks/{webhook_id}/deliveries/{id}?done=redelivered")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_filter_is_a_delivery_status() {
        for (value, _) in STATUSES.iter().filter(|(v, _)| !v.is_empty()) {
            assert!(DeliveryStatus::parse(value).is_some(), "{value}");
        }
        assert_eq!(STATUSES.len() - 1, DeliveryStatus::REQUEUEABLE.len() + 1);
    }
}
