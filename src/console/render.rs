//! Rendering: the chrome every signed-in page shares, and how times are shown.

use askama::Template;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::error::PageError;
use crate::domain::accounts::{Role, Session};

/// The header and navigation of a signed-in page.
pub struct Chrome {
    pub organization: String,
    pub user_id: i64,
    pub is_owner: bool,
    pub csrf: String,
    /// The navigation entry of this page: `keys`, `webhooks`, `audit`, `users`, `account`.
    pub section: &'static str,
}

impl Chrome {
    pub fn new(session: &Session, section: &'static str) -> Chrome {
        Chrome {
            organization: session.organization_name.clone(),
            user_id: session.user_id,
            is_owner: session.role == Role::Owner,
            csrf: session.csrf_token.clone(),
            section,
        }
    }
}

/// A page as a response.
pub fn page(template: &impl Template) -> Result<Response, PageError> {
    Ok(html(template.render()?))
}

pub fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// `2026-01-31 12:00 UTC`: people read it; the `datetime` attribute carries the exact instant.
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn when_opt(t: &Option<DateTime<Utc>>, none: &str) -> String {
    t.as_ref().map(when).unwrap_or_else(|| none.to_string())
}
