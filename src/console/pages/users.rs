//! People (owners only): invite with a one-time set-password link, issue a new link, disable.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::record;
use crate::audit::RecordType;
use crate::console::context::{Owner, Path};
use crate::console::error::PageError;
use crate::console::forms::Posted;
use crate::console::render::{html, page, when, Chrome};
use crate::domain::accounts::users::{self, Invitation, Role};
use crate::domain::accounts::Session;
use crate::state::AppState;

struct UserRow {
    id: i64,
    email: String,
    role: &'static str,
    status: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    notice: Option<&'static str>,
    errors: Vec<String>,
    email: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "console/link_shown.html")]
struct LinkPage {
    chrome: Chrome,
    email: String,
    role: &'static str,
    link: String,
    expires: String,
}

#[derive(Deserialize)]
pub struct UsersQuery {
    done: Option<String>,
}

async fn users_page(
    state: &AppState,
    session: &Session,
    errors: Vec<String>,
    email: String,
) -> Result<UsersPage, PageError> {
    let people = users::list(&state.db, session.organization_id).await?;
    Ok(UsersPage {
        chrome: Chrome::new(session, "users"),
        users: people
            .into_iter()
            .map(|u| UserRow {
                id: u.id,
                role: u.role.as_str(),
                status: if u.disabled_at.is_some() {
                    "disabled"
                } else if u.has_password {
                    "active"
                } else {
                    "invited"
                },
                created: when(&u.created_at),
                email: u.email,
            })
            .collect(),
        notice: None,
        errors,
        email,
        role: "admin",
    })
}

pub async fn list(
    State(state): State<AppState>,
    Owner(session): Owner,
    Query(q): Query<UsersQuery>,
) -> Result<Response, PageError> {
    let mut view = users_page(&state, &session, Vec::new(), String::new()).await?;
    view.notice = match q.done.as_deref() {
        Some("disabled") => Some("Disabled: their sessions have ended."),
        _ => None,
    };
    page(&view)
}

/// The link a person follows to set their password.
pub fn link(state: &AppState, token: &str) -> String {
    format!("{}/console/set-password/{token}", state.config.public_origin())
}

fn owner(session: Session) -> Result<Session, PageError> {
    if session.role != Role::Owner {
        return Err(PageError::OwnersOnly);
    }
    Ok(session)
}

fn shown(state: &AppState, session: &Session, invitation: Invitation) -> Result<Response, PageError> {
    page(&LinkPage {
        chrome: Chrome::new(session, "users"),
        email: invitation.user.email,
        role: invitation.user.role.as_str(),
        link: link(state, &invitation.token),
        expires: when(&invitation.expires_at),
    })
}

pub async fn invite(State(state): State<AppState>, post: Posted) -> Result<Response, PageError> {
    let Posted { session, ctx, form } = post;
    let session = owner(session)?;
    let Some(role) = Role::parse(form.text("role")) else { return Err(PageError::BadForm) };
    let mut tx = state.db.begin().await?;
    match users::create(&mut tx, session.organization_id, form.text("email"), role, Some(session.user_id)).await {
        Ok(invitation) => {
            record(&mut tx, &session, &ctx, "create", RecordType::ConsoleUser, Some(invitation.user.id), 200).await?;
            tx.commit().await?;
            shown(&state, &session, invitation)
        }
        Err(e @ (crate::domain::Error::Invalid(_) | crate::domain::Error::Conflict(_))) => {
            drop(tx);
            let message = match e {
                crate::domain::Error::Invalid(f) => f.into_iter().map(|f| f.message).collect::<Vec<_>>().join(" "),
                e => e.to_string(),
            };
            let mut view = users_page(&state, &session, vec![message], form.text("email").to_string()).await?;
            view.role = role.as_str();
            Ok((StatusCode::BAD_REQUEST, html(view.render()?)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn reissue_link(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    post: Posted,
) -> Result<Response, PageError> {
    let Posted { session, ctx, .. } = post;
    let session = owner(session)?;
    let mut tx = state.db.begin().await?;
    let invitation = users::reissue_link(&mut tx, Some(session.organization_id), id).await?;
    record(&mut tx, &session, &ctx, "update", RecordType::ConsoleUser, Some(id), 200).await?;
    tx.commit().await?;
    shown(&state, &session, invitation)
}

pub async fn disable(State(state): State<AppState>, Path(id): Path<i64>, post: Posted) -> Result<Response, PageError> {
    let Posted { session, ctx, .. } = post;
    let session = owner(session)?;
    if id == session.user_id {
        return Err(PageError::Conflict("You cannot disable yourself; ask another owner.".into()));
    }
    let mut tx = state.db.begin().await?;
    users::disable(&mut tx, Some(session.organization_id), id).await?;
    record(&mut tx, &session, &ctx, "update", RecordType::ConsoleUser, Some(id), 303).await?;
    tx.commit().await?;
    Ok(Redirect::to("/console/users?done=disabled").into_response())
}
