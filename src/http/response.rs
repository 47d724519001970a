//! Response helpers for created resources.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `201 Created` with a `Location` header and the resource as its body.
pub struct Created<T> {
    pub location: String,
    pub body: T,
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::CREATED, axum::Json(self.body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.location) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        response
    }
}
