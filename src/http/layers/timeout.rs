//! A bound on how long one request may take (reading its body included): past it the client
//! gets `503 service_unavailable` and the handler's transaction is rolled back.

use std::future::Future;
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;

pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn timeout<F: Future<Output = Response>>(req: Request, next: impl FnOnce(Request) -> F) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::ServiceUnavailable.into_response(),
    }
}
