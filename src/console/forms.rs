//! Posted forms, and the two checks every state-changing one passes before its handler runs:
//! the `Origin` (or `Sec-Fetch-Site`) says the form came from this server's own pages, and its
//! hidden `csrf` field matches the session's token (or, before sign-in, the form cookie's).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap};

use super::context::{cookie, session_of, Ctx, FORM_COOKIE};
use super::error::PageError;
use crate::domain::accounts::secrets::same_secret;
use crate::domain::accounts::Session;
use crate::state::AppState;

/// Forms are small; anything larger is refused before it is read.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Fields per form at most (the webhook form has one box per event type).
const MAX_FIELDS: usize = 64;

/// A form's fields in the order sent; a name may repeat (checkboxes).
#[derive(Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    fn parse(body: &[u8]) -> Result<FormData, PageError> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(body).take(MAX_FIELDS + 1).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        // PostgreSQL text cannot hold NUL, and no field of these forms needs it.
        if pairs.len() > MAX_FIELDS || pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(PageError::BadForm);
        }
        Ok(FormData(pairs))
    }

    /// The first value of a field, trimmed; `""` when absent.
    pub fn text(&self, name: &str) -> &str {
        self.raw(name).trim()
    }

    /// The first value of a field as sent (passwords are not trimmed).
    pub fn raw(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// Every value of a repeated field (checked boxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

/// Whether the request says it came from a page of this server: its `Origin` is this server's
/// (as configured, or as the `Host` the browser used), or, without an `Origin`, the browser's
/// `Sec-Fetch-Site` says `same-origin`. A request that says neither is refused.
fn same_origin(headers: &HeaderMap, state: &AppState) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if origin == state.config.public_origin() {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        return !host.is_empty() && (origin == format!("http://{host}") || origin == format!("https://{host}"));
    }
    headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("same-origin")
}

async fn read_form(req: Request, state: &AppState) -> Result<(Ctx, HeaderMap, FormData), PageError> {
    let (mut parts, body) = req.into_parts();
    let ctx = Ctx::from_request_parts(&mut parts, state).await.unwrap_or_else(|never| match never {});
    if !same_origin(&parts.headers, state) {
        return Err(PageError::Refused);
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(PageError::BadForm);
    }
    let req = Request::from_parts(parts, body);
    let headers = req.headers().clone();
    let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES).await.map_err(|_| PageError::BadForm)?;
    Ok((ctx, headers, FormData::parse(&Bytes::from(bytes))?))
}

/// A form posted by a signed-in person, its origin and CSRF token checked.
pub struct Posted {
    pub session: Session,
    pub ctx: Ctx,
    pub form: FormData,
}

impl FromRequest<AppState> for Posted {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (ctx, headers, form) = read_form(req, state).await?;
        let session = session_of(&headers, state).await?.ok_or(PageError::SignIn)?;
        if !same_secret(form.raw("csrf"), &session.csrf_token) {
            return Err(PageError::Refused);
        }
        Ok(Posted { session, ctx, form })
    }
}

/// A form posted before sign-in (sign-in, set-password): its origin checked, and its `csrf`
/// field equal to the form cookie the page set (double submit), so another site cannot sign a
/// browser in to an account of its choosing.
pub struct PublicPost {
    pub ctx: Ctx,
    pub form: FormData,
}

impl FromRequest<AppState> for PublicPost {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (ctx, headers, form) = read_form(req, state).await?;
        let expected = cookie(&headers, FORM_COOKIE).unwrap_or("");
        if expected.is_empty() || !same_secret(form.raw("csrf"), expected) {
            return Err(PageError::Refused);
        }
        Ok(PublicPost { ctx, form })
    }
}
