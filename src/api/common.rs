//! What several resources' handlers share.

use axum::extract::FromRequest;
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::http::extract::parse_json;

/// The body of an action that takes no input (`POST …/start`): none at all, or `{}`. Anything
/// else is refused like any other body: malformed JSON is `invalid_json`, a field is
/// `validation_error` naming it.
pub struct NoBody;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyObject {}

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = <bytes::Bytes as FromRequest<S>>::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidJson("Could not read the request body".into())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(NoBody);
        }
        let EmptyObject {} = parse_json(&bytes)?;
        Ok(NoBody)
    }
}
