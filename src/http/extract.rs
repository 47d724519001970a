//! Extractors whose failures speak the contract: JSON bodies, query strings, path ids,
//! the authenticated key with its permission, and the request's transaction.

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldError};
use crate::auth::{AuthenticatedKey, RequiredPermission};

/// A JSON body. Syntax errors are `400 invalid_json`; wrong fields, types and unknown fields
/// are `400 validation_error` naming the field; bodies over the limit are `413`.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidJson("Could not read the request body".into())
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson("The request body must be a JSON object".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::InvalidJson(format!("Malformed JSON: {inner}"))
            }
            _ => field_error(&path, &inner.to_string()),
        }
    })?;
    de.end().map_err(|e| ApiError::InvalidJson(format!("Malformed JSON: {e}")))?;
    Ok(value)
}

/// Turns a serde message into a field-level validation error.
fn field_error(path: &str, message: &str) -> ApiError {
    let message = message.split(" at line ").next().unwrap_or(message).to_string();
    let base = if path == "." { "" } else { path };
    let field = if let Some(rest) = message.strip_prefix("unknown field `") {
        // serde_path_to_error's path already ends with the unknown field's name.
        let name = rest.split('`').next().unwrap_or(rest);
        if base.is_empty() {
            name.to_string()
        } else if base == name || base.ends_with(&format!(".{name}")) {
            base.to_string()
        } else {
            format!("{base}.{name}")
        }
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        if base.is_empty() {
            name.to_string()
        } else {
            format!("{base}.{name}")
        }
    } else if base.is_empty() {
        "body".to_string()
    } else {
        base.to_string()
    };
    let message = if message.starts_with("unknown field") {
        "unknown field".to_string()
    } else if message.starts_with("missing field") {
        "is required".to_string()
    } else {
        message
    };
    ApiError::from_details(vec![FieldError::new(field, message)])
}

/// A query string; bad values are `400 validation_error` naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        // PostgreSQL text cannot hold NUL: refuse it here, for every parameter, rather than
        // let it reach a query as a 500.
        if let Some((name, _)) =
            form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::validation(name.replace('\0', ""), "must not contain NUL characters"));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let path = e.path().to_string();
            field_error(&path, &e.into_inner().to_string())
        })
    }
}

/// A numeric id in the path; anything else is `404 not_found`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_| ApiError::NotFound("Resource"))
    }
}

/// The authenticated key, checked for the permission `P` before any other work:
/// `Auth<ReadPatients>` in a handler's signature is that route's permission.
pub struct Auth<P: RequiredPermission> {
    pub key: AuthenticatedKey,
    _permission: PhantomData<P>,
}

impl<P: RequiredPermission> std::ops::Deref for Auth<P> {
    type Target = AuthenticatedKey;
    fn deref(&self) -> &AuthenticatedKey {
        &self.key
    }
}

impl<S: Send + Sync, P: RequiredPermission> FromRequestParts<S> for Auth<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let key = parts.extensions.get::<AuthenticatedKey>().cloned().ok_or(ApiError::MissingApiKey)?;
        if let Some(needed) = P::PERMISSION {
            if !key.has(needed) {
                return Err(ApiError::InsufficientPermission(needed));
            }
        }
        Ok(Auth { key, _permission: PhantomData })
    }
}
