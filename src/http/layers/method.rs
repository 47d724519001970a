//! The HTTP methods the server knows. Anything else is `405 method_not_allowed` before any other
//! work, and is counted and logged as `other`: a method is client input of any length, so it
//! never becomes a metrics label or a log field as sent.

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;

/// The method as a bounded label: one of the methods served, or `other`.
pub fn label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

pub async fn known_only(req: Request, next: Next) -> Response {
    if label(req.method()) == "other" {
        return ApiError::MethodNotAllowed.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(label(&Method::PATCH), "PATCH");
        assert_eq!(label(&Method::TRACE), "other");
        assert_eq!(label(&Method::from_bytes(b"XKQZXKQZ").unwrap()), "other");
    }
}
