//! Signing in and out, setting a password from a link, changing it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::audit::RecordType;
use crate::console::context::{cookie, is_token, session_of, set_cookie, SignedIn, FORM_COOKIE, SESSION_COOKIE};
use crate::console::error::PageError;
use crate::console::forms::{Posted, PublicPost};
use crate::console::render::{html, page, Chrome};
use crate::domain::accounts::{secrets, sessions, throttle, users};
use crate::state::AppState;

const WRONG: &str = "Email or password is incorrect.";

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    notice: Option<String>,
}

/// The token of the form cookie the request carries, or a new one (then `true`: set it).
fn form_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, FORM_COOKIE) {
        Some(t) if is_token(t) => (t.to_string(), false),
        _ => (secrets::token().0, true),
    }
}

fn with_form_cookie(state: &AppState, mut response: Response, token: &str, new: bool) -> Response {
    if new {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(state, FORM_COOKIE, token, Some(3600)));
    }
    response
}

pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let to = if session_of(&headers, &state).await?.is_some() { "/console/keys" } else { "/console/sign-in" };
    Ok(Redirect::to(to).into_response())
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Result<Response, PageError> {
    if session_of(&headers, &state).await?.is_some() {
        return Ok(Redirect::to("/console/keys").into_response());
    }
    let notice = match q.notice.as_deref() {
        Some("password-set") => Some("Your password is set. Sign in."),
        Some("signed-out") => Some("You are signed out."),
        Some("password-changed") => Some("Your password is changed. Sign in again."),
        _ => None,
    };
    let (token, new) = form_token(&headers);
    let response = page(&SignInPage { csrf: &token, email: "", error: None, notice })?;
    Ok(with_form_cookie(&state, response, &token, new))
}

pub async fn sign_in(State(state): State<AppState>, post: PublicPost) -> Result<Response, PageError> {
    let PublicPost { ctx, form } = post;
    let email = users::normalize_email(form.text("email"));
    let password = form.raw("password").to_string();
    let again = |status: StatusCode, error: String| -> Result<Response, PageError> {
        let body = SignInPage { csrf: form.raw("csrf"), email: &email, error: Some(error), notice: None }.render()?;
        Ok((status, html(body)).into_response())
    };
    if email.is_empty() || password.is_empty() || password.chars().count() > secrets::MAX_PASSWORD_CHARS {
        return again(StatusCode::UNAUTHORIZED, WRONG.into());
    }
    if let Some(until) = throttle::reserve(&state.db, &email, &ctx.throttle_address).await? {
        let minutes = ((until - chrono::Utc::now()).num_seconds().max(60) + 59) / 60;
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many sign-in attempts. Try again in {minutes} minutes."),
        );
    }
    let credentials = users::credentials(&state.db, &email).await?;
    let hash = credentials.as_ref().and_then(|c| c.password_hash.clone());
    let matches = tokio::task::spawn_blocking(move || secrets::verify_password(&password, hash.as_deref()))
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let known = credentials.map(|c| c.user);
    let mut tx = state.db.begin().await?;
    let user = match known {
        Some(user) if matches && user.disabled_at.is_none() => user,
        known => {
            // The attempt was counted by `reserve`.
            // A failure against a real account is its organization's business: its owners see
            // it in the audit log. Failures for addresses that are no account are only counted.
            if let Some(user) = known {
                audit(&mut tx, &ctx, &user, "denied", 401).await?;
                tx.commit().await?;
            }
            return again(StatusCode::UNAUTHORIZED, WRONG.into());
        }
    };
    throttle::succeeded(&state.db, &email, &ctx.throttle_address).await?;
    let token = sessions::start(&mut tx, user.id, ctx.client_address.as_deref()).await?;
    audit(&mut tx, &ctx, &user, "create", 303).await?;
    tx.commit().await?;
    let mut response = Redirect::to("/console/keys").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &token, None));
    headers.append(header::SET_COOKIE, set_cookie(&state, FORM_COOKIE, "", Some(0)));
    Ok(response)
}

async fn audit(
    tx: &mut sqlx::PgConnection,
    ctx: &crate::console::context::Ctx,
    user: &users::User,
    action: &'static str,
    status: u16,
) -> Result<(), PageError> {
    super::record_as(tx, (user.organization_id, user.id), ctx, action, RecordType::ConsoleSession, None, status).await
}

pub async fn sign_out(State(state): State<AppState>, post: Posted) -> Result<Response, PageError> {
    let mut tx = state.db.begin().await?;
    sessions::end(&mut tx, &post.session.token_hash).await?;
    super::record(&mut tx, &post.session, &post.ctx, "update", RecordType::ConsoleSession, None, 303).await?;
    tx.commit().await?;
    let mut response = Redirect::to("/console/sign-in?notice=signed-out").into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    Ok(response)
}

#[derive(Template)]
#[template(path = "console/set_password.html")]
struct SetPasswordPage<'a> {
    csrf: &'a str,
    token: &'a str,
    email: &'a str,
    error: Option<String>,
}

const LINK_GONE: &str =
    "This set-password link has expired or has been used. Ask an owner of your clinic for a new one.";

pub async fn set_password_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    if !is_token(&token) {
        return Err(PageError::Conflict(LINK_GONE.into()));
    }
    let user = match users::link_owner(&state.db, &token).await {
        Ok(u) => u,
        Err(crate::domain::Error::NotFound(_)) => return Err(PageError::Conflict(LINK_GONE.into())),
        Err(e) => return Err(e.into()),
    };
    let (csrf, new) = form_token(&headers);
    let response = page(&SetPasswordPage { csrf: &csrf, token: &token, email: &user.email, error: None })?;
    Ok(with_form_cookie(&state, response, &csrf, new))
}

pub async fn set_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    post: PublicPost,
) -> Result<Response, PageError> {
    let PublicPost { ctx, form } = post;
    if !is_token(&token) {
        return Err(PageError::Conflict(LINK_GONE.into()));
    }
    let user = match users::link_owner(&state.db, &token).await {
        Ok(u) => u,
        Err(crate::domain::Error::NotFound(_)) => return Err(PageError::Conflict(LINK_GONE.into())),
        Err(e) => return Err(e.into()),
    };
    let password = form.raw("password").to_string();
    let problem = if password != form.raw("repeat") {
        Some("The two passwords differ.".to_string())
    } else {
        secrets::password_problem(&password, &user.email)
    };
    if let Some(error) = problem {
        let body = SetPasswordPage { csrf: form.raw("csrf"), token: &token, email: &user.email, error: Some(error) }
            .render()?;
        return Ok((StatusCode::BAD_REQUEST, html(body)).into_response());
    }
    let hash = hash(password).await?;
    let mut tx = state.db.begin().await?;
    let user = match users::set_password_with_link(&mut tx, &token, &hash).await {
        Ok(u) => u,
        Err(crate::domain::Error::NotFound(_)) => return Err(PageError::Conflict(LINK_GONE.into())),
        Err(e) => return Err(e.into()),
    };
    record_user_change(&mut tx, &ctx, &user, 303).await?;
    tx.commit().await?;
    let mut response = Redirect::to("/console/sign-in?notice=password-set").into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    Ok(response)
}

async fn hash(password: String) -> Result<String, PageError> {
    tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?
        .map_err(|e| PageError::Internal(e.to_string()))
}

async fn record_user_change(
    tx: &mut sqlx::PgConnection,
    ctx: &crate::console::context::Ctx,
    user: &users::User,
    status: u16,
) -> Result<(), PageError> {
    audit_user(tx, ctx, user, "update", status).await
}

async fn audit_user(
    tx: &mut sqlx::PgConnection,
    ctx: &crate::console::context::Ctx,
    user: &users::User,
    action: &'static str,
    status: u16,
) -> Result<(), PageError> {
    let actor = (user.organization_id, user.id);
    super::record_as(tx, actor, ctx, action, RecordType::ConsoleUser, Some(user.id), status).await
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    chrome: Chrome,
    email: String,
    role: &'static str,
    error: Option<String>,
    changed: bool,
}

pub async fn account(SignedIn(session): SignedIn) -> Result<Response, PageError> {
    page(&AccountPage {
        email: session.email.clone(),
        role: session.role.as_str(),
        chrome: Chrome::new(&session, "account"),
        error: None,
        changed: false,
    })
}

pub async fn change_password(State(state): State<AppState>, post: Posted) -> Result<Response, PageError> {
    let Posted { session, ctx, form } = post;
    let current = form.raw("current").to_string();
    let password = form.raw("password").to_string();
    // Checking the current password is a sign-in by another door: the same throttle, the same
    // audit of failures, so an open session cannot be used to guess it.
    if let Some(until) = throttle::reserve(&state.db, &session.email, &ctx.throttle_address).await? {
        let minutes = ((until - chrono::Utc::now()).num_seconds().max(60) + 59) / 60;
        let body = AccountPage {
            email: session.email.clone(),
            role: session.role.as_str(),
            chrome: Chrome::new(&session, "account"),
            error: Some(format!("Too many attempts. Try again in {minutes} minutes.")),
            changed: false,
        }
        .render()?;
        return Ok((StatusCode::TOO_MANY_REQUESTS, html(body)).into_response());
    }
    let stored = users::password_hash(&state.db, session.user_id).await?;
    let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&current, stored.as_deref()))
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    if ok {
        throttle::succeeded(&state.db, &session.email, &ctx.throttle_address).await?;
    } else {
        let mut tx = state.db.begin().await?;
        let user = users::get(&mut tx, Some(session.organization_id), session.user_id).await?;
        audit_user(&mut tx, &ctx, &user, "denied", 400).await?;
        tx.commit().await?;
    }
    let problem = if !ok {
        Some("The current password is incorrect.".to_string())
    } else if password != form.raw("repeat") {
        Some("The two new passwords differ.".to_string())
    } else {
        secrets::password_problem(&password, &session.email)
    };
    if let Some(error) = problem {
        let body = AccountPage {
            email: session.email.clone(),
            role: session.role.as_str(),
            chrome: Chrome::new(&session, "account"),
            error: Some(error),
            changed: false,
        }
        .render()?;
        return Ok((StatusCode::BAD_REQUEST, html(body)).into_response());
    }
    let hash = hash(password).await?;
    let mut tx = state.db.begin().await?;
    // Every session of the person ends, this one too; this browser gets a fresh one.
    users::store_password(&mut tx, session.user_id, &hash).await?;
    let user = users::get(&mut tx, Some(session.organization_id), session.user_id).await?;
    record_user_change(&mut tx, &ctx, &user, 200).await?;
    let token = sessions::start(&mut tx, user.id, ctx.client_address.as_deref()).await?;
    tx.commit().await?;
    let fresh = sessions::find(&state.db, &token).await?.ok_or(PageError::SignIn)?;
    let body = AccountPage {
        email: fresh.email.clone(),
        role: fresh.role.as_str(),
        chrome: Chrome::new(&fresh, "account"),
        error: None,
        changed: true,
    }
    .render()?;
    let mut response = html(body);
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &token, None));
    Ok(response)
}
