//! Response helpers: bodies that show clinical records, and created resources.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::audit::{Disclose, Disclosure};

/// A body that shows clinical records: `Records(record)` is `200 OK` with it as JSON,
/// `Records(Created { .. })` a creation. Either hands the audit layer what the body showed
/// ([`Disclosure`]), taken from the model as it is serialized.
pub struct Records<T>(pub T);

impl<T: Serialize + Disclose> IntoResponse for Records<T> {
    fn into_response(self) -> Response {
        let disclosure = Disclosure::of(&self.0);
        let mut response = axum::Json(self.0).into_response();
        response.extensions_mut().insert(disclosure);
        response
    }
}

impl<T: Serialize + Disclose> IntoResponse for Records<Created<T>> {
    fn into_response(self) -> Response {
        let disclosure = Disclosure::of(&self.0.body);
        let mut response = self.0.into_response();
        response.extensions_mut().insert(disclosure);
        response
    }
}

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

/// `204 No Content` on a route about clinical records: tells the audit layer the response
/// showed none, so that its entry names the record of the path alone.
pub struct NoContent;

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.extensions_mut().insert(Disclosure::default());
        response
    }
}
