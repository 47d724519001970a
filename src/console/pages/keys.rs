//! API keys: list, create (shown once), revoke, rotate; the same `auth::store` the CLI uses.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::{record, Shown};
use crate::audit::RecordType;
use crate::auth::store::{self, KeySpec, KeySummary, Revocation};
use crate::auth::Permission;
use crate::console::context::{Path, SignedIn};
use crate::console::error::PageError;
use crate::console::forms::{FormData, Posted};
use crate::console::render::{html, page, when, when_opt, Chrome};
use crate::state::AppState;

struct KeyRow {
    id: i64,
    name: String,
    prefix: String,
    permissions: Vec<String>,
    created: String,
    last_used: String,
    expires: String,
    rate_limit: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct KeysQuery {
    revoked: Option<String>,
}

fn status(k: &KeySummary) -> &'static str {
    if k.revoked_at.is_some() {
        "revoked"
    } else if k.expires_at.is_some_and(|e| e <= Utc::now()) {
        "expired"
    } else {
        "active"
    }
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Query(q): Query<KeysQuery>,
) -> Result<Response, PageError> {
    let keys = store::list_keys(&state.db, session.organization_id).await?;
    let default_limit = state.config.rate_limit_per_minute;
    let keys = keys
        .into_iter()
        .rev()
        .map(|k| KeyRow {
            status: status(&k),
            id: k.id,
            created: when(&k.created_at),
            last_used: when_opt(&k.last_used_at, "never"),
            expires: when_opt(&k.expires_at, "never"),
            rate_limit: match k.rate_limit_per_minute {
                Some(n) => format!("{n}/min"),
                None => format!("{default_limit}/min (default)"),
            },
            name: k.name,
            prefix: k.key_prefix,
            permissions: k.permissions,
        })
        .collect();
    // Only a prefix of the shape the server makes is echoed back.
    let notice = q
        .revoked
        .filter(|p| p.len() == 11 && p.starts_with("kv_") && p[3..].bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|p| format!("{p} is revoked."));
    page(&KeysPage { chrome: Chrome::new(&session, "keys"), keys, notice })
}

struct PermissionBox {
    name: &'static str,
    description: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "console/key_new.html")]
struct NewKeyPage {
    chrome: Chrome,
    permissions: Vec<PermissionBox>,
    name: String,
    expires_in_days: String,
    rate_limit: String,
    default_rate_limit: u32,
    errors: Vec<String>,
}

fn new_key_page(state: &AppState, chrome: Chrome, form: Option<&FormData>, errors: Vec<String>) -> NewKeyPage {
    let checked = form.map(|f| f.all("permissions")).unwrap_or_default();
    NewKeyPage {
        chrome,
        permissions: Permission::ALL
            .iter()
            .map(|p| PermissionBox {
                name: p.as_str(),
                description: p.description(),
                checked: checked.iter().any(|c| c == p.as_str()),
            })
            .collect(),
        name: form.map(|f| f.text("name").to_string()).unwrap_or_default(),
        expires_in_days: form.map(|f| f.text("expires_in_days").to_string()).unwrap_or_default(),
        rate_limit: form.map(|f| f.text("rate_limit").to_string()).unwrap_or_default(),
        default_rate_limit: state.config.rate_limit_per_minute,
        errors,
    }
}

pub async fn new_form(State(state): State<AppState>, SignedIn(session): SignedIn) -> Result<Response, PageError> {
    page(&new_key_page(&state, Chrome::new(&session, "keys"), None, Vec::new()))
}

/// An optional whole number within bounds, or what is wrong with it.
fn optional_number(text: &str, label: &str, max: u32, errors: &mut Vec<String>) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Some(n),
        _ => {
            errors.push(format!("{label} must be a whole number from 1 to {max}, or empty."));
            None
        }
    }
}

pub async fn create(State(state): State<AppState>, post: Posted) -> Result<Response, PageError> {
    let Posted { session, ctx, form } = post;
    let mut errors = Vec::new();
    let name = form.text("name").to_string();
    if let Some(problem) = store::name_problem(&name) {
        errors.push(problem.to_string());
    }
    let mut permissions = Vec::new();
    for p in form.all("permissions") {
        match Permission::parse(&p) {
            Some(p) if !permissions.contains(&p) => permissions.push(p),
            Some(_) => {}
            None => errors.push(format!("{p:?} is not a permission.")),
        }
    }
    if permissions.is_empty() {
        errors.push("Select at least one permission.".into());
    }
    let days = optional_number(form.text("expires_in_days"), "Expires in days", store::MAX_EXPIRY_DAYS, &mut errors);
    let limit = optional_number(form.text("rate_limit"), "Rate limit per minute", store::MAX_RATE_LIMIT, &mut errors);
    if !errors.is_empty() {
        let body = new_key_page(&state, Chrome::new(&session, "keys"), Some(&form), errors).render()?;
        return Ok((StatusCode::BAD_REQUEST, html(body)).into_response());
    }
    let mut tx = state.db.begin().await?;
    let (id, key) = store::create_key_in(
        &mut tx,
        KeySpec {
            organization_id: session.organization_id,
            name: &name,
            permissions: &permissions,
            expires_at: days.map(|d| Utc::now() + Duration::days(d as i64)),
            rate_limit_per_minute: limit.map(|l| l as i32),
            rotated_from: None,
        },
    )
    .await?;
    record(&mut tx, &session, &ctx, "create", RecordType::ApiKey, Some(id), 200).await?;
    tx.commit().await?;
    page(&Shown::key(Chrome::new(&session, "keys"), "API key created", key.secret))
}

#[derive(Template)]
#[template(path = "console/key_revoke.html")]
struct RevokePage {
    chrome: Chrome,
    id: i64,
    name: String,
    prefix: String,
}

#[derive(Template)]
#[template(path = "console/key_rotate.html")]
struct RotatePage {
    chrome: Chrome,
    id: i64,
    name: String,
    prefix: String,
    error: Option<String>,
}

async fn live_key(state: &AppState, org: uuid::Uuid, id: i64) -> Result<KeySummary, PageError> {
    let key = store::list_keys(&state.db, org).await?.into_iter().find(|k| k.id == id).ok_or(PageError::NotFound)?;
    if status(&key) != "active" {
        return Err(PageError::Conflict(format!("{} is {} already.", key.key_prefix, status(&key))));
    }
    Ok(key)
}

pub async fn revoke_form(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let key = live_key(&state, session.organization_id, id).await?;
    page(&RevokePage { chrome: Chrome::new(&session, "keys"), id, name: key.name, prefix: key.key_prefix })
}

pub async fn revoke(State(state): State<AppState>, Path(id): Path<i64>, post: Posted) -> Result<Response, PageError> {
    let Posted { session, ctx, .. } = post;
    let mut tx = state.db.begin().await?;
    let outcome = store::revoke_key(&mut tx, Some(session.organization_id), &id.to_string()).await?;
    let prefix = match outcome {
        Revocation::Revoked { prefix, .. } => {
            record(&mut tx, &session, &ctx, "update", RecordType::ApiKey, Some(id), 303).await?;
            prefix
        }
        Revocation::AlreadyRevoked { prefix, .. } => prefix,
    };
    tx.commit().await?;
    Ok(Redirect::to(&format!("/console/keys?revoked={prefix}")).into_response())
}

pub async fn rotate_form(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let key = live_key(&state, session.organization_id, id).await?;
    page(&RotatePage { chrome: Chrome::new(&session, "keys"), id, name: key.name, prefix: key.key_prefix, error: None })
}

/// The longest grace the console offers.
const MAX_GRACE_HOURS: i64 = 720;

pub async fn rotate(State(state): State<AppState>, Path(id): Path<i64>, post: Posted) -> Result<Response, PageError> {
    let Posted { session, ctx, form } = post;
    let grace = match form.text("grace_hours").parse::<i64>() {
        Ok(h) if (0..=MAX_GRACE_HOURS).contains(&h) => h,
        _ => {
            let key = live_key(&state, session.organization_id, id).await?;
            let body = RotatePage {
                chrome: Chrome::new(&session, "keys"),
                id,
                name: key.name,
                prefix: key.key_prefix,
                error: Some(format!("The grace period must be a whole number of hours from 0 to {MAX_GRACE_HOURS}.")),
            }
            .render()?;
            return Ok((StatusCode::BAD_REQUEST, html(body)).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    let r = store::rotate_key(&mut tx, Some(session.organization_id), &id.to_string(), Duration::hours(grace)).await?;
    record(&mut tx, &session, &ctx, "update", RecordType::ApiKey, Some(r.old_id), 200).await?;
    record(&mut tx, &session, &ctx, "create", RecordType::ApiKey, Some(r.new_id), 200).await?;
    tx.commit().await?;
    let old = if grace == 0 {
        format!("{} no longer works.", r.old_prefix)
    } else {
        format!("{} keeps working until {}, then expires.", r.old_prefix, when(&r.old_expires_at))
    };
    let mut shown = Shown::key(Chrome::new(&session, "keys"), "API key rotated", r.new.secret);
    shown.intro = format!("The new key replaces {}. {old}", r.old_prefix);
    page(&shown)
}
