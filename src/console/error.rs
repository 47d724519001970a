//! What can go wrong on a console page, rendered as a page (never JSON, never a stack trace).

use std::future::Future;

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::store::KeyStoreError;
use crate::domain;

#[derive(Debug)]
pub enum PageError {
    /// No live session: to the sign-in page.
    SignIn,
    /// Nothing by that id in the person's organization (whether it exists elsewhere is not said).
    NotFound,
    /// A page only owners may use.
    OwnersOnly,
    /// A form without its CSRF token, or from another site.
    Refused,
    /// A post that is not a form this console sends.
    BadForm,
    /// A change the record's state does not allow; the message says why.
    Conflict(String),
    /// The database cannot be reached.
    Unavailable,
    /// A broken invariant; logged without details of the request.
    Internal(String),
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::SignIn => return Redirect::to("/console/sign-in").into_response(),
            PageError::NotFound => (StatusCode::NOT_FOUND, "Not found", "There is nothing here, or it belongs to another organization."),
            PageError::OwnersOnly => (StatusCode::FORBIDDEN, "Owners only", "Only an owner of the organization can manage its people."),
            PageError::Refused => (
                StatusCode::FORBIDDEN,
                "Request refused",
                "The form did not come from this console, or its page was too old. Go back, reload the page and try again.",
            ),
            PageError::BadForm => (StatusCode::BAD_REQUEST, "Bad request", "That request is not a form this console sends."),
            PageError::Conflict(m) => (StatusCode::CONFLICT, "Not possible", m.as_str()),
            PageError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The database cannot be reached. Try again in a moment.",
            ),
            PageError::Internal(e) => {
                tracing::error!(error = %e, "console page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "The request failed. Try again.")
            }
        };
        let body = ErrorPage { title, message }.render().unwrap_or_else(|_| title.to_string());
        let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
        }
        response
    }
}

/// Under `/console`: an error answered by a layer or fallback in the API's JSON (an unknown
/// method, an outage) becomes the console's page, with the console's headers.
pub async fn json_errors_as_pages<F: Future<Output = Response>>(
    req: axum::extract::Request,
    next: impl FnOnce(axum::extract::Request) -> F,
) -> Response {
    let path = req.uri().path();
    if path != "/console" && !path.starts_with("/console/") {
        return next(req).await;
    }
    let response = next(req).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json || response.status().as_u16() < 400 {
        return response;
    }
    let error = match response.status() {
        axum::http::StatusCode::NOT_FOUND => PageError::NotFound,
        axum::http::StatusCode::SERVICE_UNAVAILABLE => PageError::Unavailable,
        axum::http::StatusCode::METHOD_NOT_ALLOWED | axum::http::StatusCode::NOT_IMPLEMENTED => PageError::BadForm,
        s if s.is_server_error() => PageError::Internal(format!("a layer answered {s}")),
        _ => PageError::BadForm,
    };
    let mut page = error.into_response();
    let headers = page.headers_mut();
    headers
        .insert(header::CONTENT_SECURITY_POLICY, axum::http::HeaderValue::from_static(super::CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, axum::http::HeaderValue::from_static("DENY"));
    *page.status_mut() = response.status();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            page.headers_mut().insert(name, v.clone());
        }
    }
    page
}

impl From<domain::Error> for PageError {
    fn from(e: domain::Error) -> PageError {
        match e {
            domain::Error::NotFound(_) => PageError::NotFound,
            domain::Error::Database(e) => e.into(),
            domain::Error::Invalid(fields) => {
                PageError::Conflict(fields.into_iter().map(|f| f.message).collect::<Vec<_>>().join(" "))
            }
            domain::Error::InvalidStateTransition(m)
            | domain::Error::Conflict(m)
            | domain::Error::HoldExpired(m)
            | domain::Error::InvalidWebhookUrl(m) => PageError::Conflict(m),
            e @ (domain::Error::InvalidCursor | domain::Error::SlotUnavailable) => PageError::Conflict(e.to_string()),
            domain::Error::Internal(e) => PageError::Internal(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> PageError {
        if crate::db::health::is_unreachable(&e) {
            PageError::Unavailable
        } else {
            PageError::Internal(e.to_string())
        }
    }
}

impl From<KeyStoreError> for PageError {
    fn from(e: KeyStoreError) -> PageError {
        match e {
            KeyStoreError::UnknownKey(_) | KeyStoreError::UnknownOrganization(_) => PageError::NotFound,
            KeyStoreError::RevokedKey { .. } | KeyStoreError::ExpiredKey { .. } => PageError::Conflict(e.to_string()),
            KeyStoreError::Db(e) => e.into(),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> PageError {
        PageError::Internal(format!("template: {e}"))
    }
}
