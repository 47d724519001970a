//! What every console handler knows of its request: who is signed in (from the session cookie),
//! the request id, the client address and the route, for the audit log.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};

use super::error::PageError;
use crate::domain::accounts::{sessions, Role, Session};
use crate::http::layers::client_address::ClientAddress;
use crate::http::layers::request_id::RequestId;
use crate::state::AppState;

/// The session cookie: a random token; the database keeps only its hash.
pub const SESSION_COOKIE: &str = "klinivo_console";
/// Before sign-in, the double-submit token of the sign-in and set-password forms.
pub const FORM_COOKIE: &str = "klinivo_console_form";

/// The request's id, client address and `METHOD /route/{template}` (never the concrete path,
/// which may carry a set-password token).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub client_address: Option<String>,
    /// The unit sign-in failures are counted by (an IPv6 /64 counts as one address).
    pub throttle_address: String,
    pub route: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx::of(parts))
    }
}

impl Ctx {
    pub fn of(parts: &Parts) -> Ctx {
        let template = parts.extensions.get::<MatchedPath>().map(|m| m.as_str()).unwrap_or("/console");
        let address = parts.extensions.get::<ClientAddress>().map(|c| c.0);
        Ctx {
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default(),
            client_address: address.map(|a| a.to_string()),
            throttle_address: address.map(|a| crate::net::throttle_unit(a).to_string()).unwrap_or_default(),
            route: format!("{} {}", parts.method, template),
        }
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for the console's paths only; `Secure` when
/// the server is reached over HTTPS. `max_age: Some(0)` deletes it; `None` makes it last as long
/// as the browser session (the server ends sessions on its own clock).
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    if state.config.serves_https() {
        text.push_str("; Secure");
    }
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Whether text has the shape of a token of `secrets::token` (43 URL-safe characters): anything
/// else cannot be one, and is not looked up.
pub fn is_token(t: &str) -> bool {
    t.len() == 43 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A signed-in person; without a live session, GET pages redirect to the sign-in page.
pub struct SignedIn(pub Session);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        session_of(&parts.headers, state).await?.map(SignedIn).ok_or(PageError::SignIn)
    }
}

pub async fn session_of(headers: &HeaderMap, state: &AppState) -> Result<Option<Session>, PageError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    if !is_token(token) {
        return Ok(None);
    }
    Ok(sessions::find(&state.db, token).await?)
}

/// A signed-in owner: admins get a 403 page.
pub struct Owner(pub Session);

impl FromRequestParts<AppState> for Owner {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let SignedIn(session) = SignedIn::from_request_parts(parts, state).await?;
        if session.role != Role::Owner {
            return Err(PageError::OwnersOnly);
        }
        Ok(Owner(session))
    }
}

/// Ids in the path; anything that is not one is the console's `404` page, not a bare `400`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_| PageError::NotFound)
    }
}
