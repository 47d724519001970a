//! What every request passes before the rest of the stack: a method the server does not know is
//! `405` at once (`method`); the client's address is attached (`client_address`); while the
//! database is known to be down, a request that needs it is `503` at once (`db_gate`); and every
//! response, these included, carries the headers every answer carries.

use std::future::Future;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::{client_address, db_gate, method};
use crate::http::error::ApiError;
use crate::state::AppState;

pub async fn front<F: Future<Output = Response>>(
    state: &AppState,
    mut req: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    if method::label(req.method()) == "other" {
        return with_headers(ApiError::MethodNotAllowed.into_response());
    }
    client_address::attach(state, &mut req);
    if let Some(refused) = db_gate::refuse(state, &req) {
        return with_headers(refused);
    }
    let response = next(req).await;
    db_gate::note(state, &response);
    with_headers(response)
}

/// Responses are never cached (they can carry patient data), never sniffed, and send
/// no referrer; a page that chose its own referrer policy keeps it.
fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}
