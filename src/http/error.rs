//! The one error type: its variants are the contract's error codes.
//!
//! Database and internal errors become a logged 500 whose body says nothing of the cause.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::Permission;

pub use crate::domain::FieldError;

/// The JSON body of every non-2xx response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": "not_found", "message": "Patient not found"}))]
pub struct ErrorBody {
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<FieldError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{message}")]
    Validation { message: String, details: Vec<FieldError> },
    #[error("The cursor is not valid for this list")]
    InvalidCursor,
    #[error("{0}")]
    InvalidWebhookUrl(String),
    #[error("Missing API key: send it in the X-API-Key header")]
    MissingApiKey,
    #[error("Invalid or expired API key")]
    InvalidApiKey,
    #[error("This API key lacks the {0} permission")]
    InsufficientPermission(Permission),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("No such route")]
    RouteNotFound,
    #[error("Method not allowed for this route")]
    MethodNotAllowed,
    #[error("The provider already has an appointment or a live hold in that time slot")]
    SlotUnavailable,
    #[error("{0}")]
    InvalidStateTransition(String),
    #[error("{0}")]
    HoldExpired(String),
    #[error("A request with this Idempotency-Key is still being processed")]
    IdempotencyKeyInUse,
    #[error("{0}")]
    Conflict(String),
    #[error("Request body exceeds the 1 MiB limit")]
    PayloadTooLarge,
    #[error("This Idempotency-Key was used with a different request")]
    IdempotencyKeyMismatch,
    #[error("Rate limit exceeded; retry after the window resets")]
    RateLimited,
    /// The failed-authentication throttle; the seconds until its minute ends.
    #[error("Too many failed authentication attempts from this address; slow down")]
    AuthThrottled { retry_after: i64 },
    /// Too much work of one kind under way for this key (exports); retry after the seconds given.
    #[error("{message}")]
    Busy { message: String, retry_after: i64 },
    #[error("The service is temporarily unavailable")]
    ServiceUnavailable,
    /// `ServiceUnavailable` because the database cannot be reached (`db::health`).
    #[error("The service is temporarily unavailable")]
    DatabaseUnreachable,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let detail = FieldError::new(field, message);
        ApiError::Validation { message: format!("{}: {}", detail.field, detail.message), details: vec![detail] }
    }

    pub fn from_details(details: Vec<FieldError>) -> Self {
        let message = match details.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", details.len()),
        };
        ApiError::Validation { message, details }
    }

    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn transition(message: impl Into<String>) -> Self {
        ApiError::InvalidStateTransition(message.into())
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            InvalidJson(_) | Validation { .. } | InvalidCursor | InvalidWebhookUrl(_) => StatusCode::BAD_REQUEST,
            MissingApiKey | InvalidApiKey => StatusCode::UNAUTHORIZED,
            InsufficientPermission(_) => StatusCode::FORBIDDEN,
            NotFound(_) | RouteNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            SlotUnavailable | InvalidStateTransition(_) | HoldExpired(_) | IdempotencyKeyInUse | Conflict(_) => {
                StatusCode::CONFLICT
            }
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            IdempotencyKeyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited | AuthThrottled { .. } | Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServiceUnavailable | DatabaseUnreachable => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            InvalidJson(_) => "invalid_json",
            Validation { .. } => "validation_error",
            InvalidCursor => "invalid_cursor",
            InvalidWebhookUrl(_) => "invalid_webhook_url",
            MissingApiKey => "missing_api_key",
            InvalidApiKey => "invalid_api_key",
            InsufficientPermission(_) => "insufficient_permission",
            NotFound(_) | RouteNotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            SlotUnavailable => "slot_unavailable",
            InvalidStateTransition(_) => "invalid_state_transition",
            HoldExpired(_) => "hold_expired",
            IdempotencyKeyInUse => "idempotency_key_in_use",
            Conflict(_) => "conflict",
            PayloadTooLarge => "payload_too_large",
            IdempotencyKeyMismatch => "idempotency_key_mismatch",
            RateLimited | AuthThrottled { .. } | Busy { .. } => "rate_limit_exceeded",
            ServiceUnavailable | DatabaseUnreachable => "service_unavailable",
            Internal(_) => "internal_error",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let details = match self {
            ApiError::Validation { details, .. } => Some(details.clone()),
            _ => None,
        };
        let message = match self {
            ApiError::Internal(_) => "An internal error occurred; it has been logged".to_string(),
            other => other.to_string(),
        };
        ErrorBody { error: self.code(), message, details }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            // Logged here, inside the request's span; the cause never reaches the client.
            ApiError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            ApiError::ServiceUnavailable => tracing::warn!("service unavailable"),
            ApiError::DatabaseUnreachable => tracing::warn!("service unavailable: database unreachable"),
            _ => {}
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        match self {
            ApiError::AuthThrottled { retry_after } | ApiError::Busy { retry_after, .. } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.clamp(1, 60)));
            }
            ApiError::ServiceUnavailable | ApiError::DatabaseUnreachable => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_UNAVAILABLE));
                if matches!(self, ApiError::DatabaseUnreachable) {
                    response.extensions_mut().insert(crate::db::health::Unreachable);
                }
            }
            _ => {}
        }
        response
    }
}

/// `Retry-After` of a `503`: long enough for a database failover or restart to show.
pub const RETRY_AFTER_UNAVAILABLE: &str = "2";

/// Whether the request may succeed as it is if retried later: the database is unreachable,
/// or it refused for now (serialization failure, deadlock, too many connections, I/O trouble).
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("58") || matches!(code.as_ref(), "40001" | "40P01" | "53300"))
        }
        sqlx::Error::PoolClosed | sqlx::Error::BeginFailed => true,
        _ => false,
    }
}

/// The domain's errors are the contract's codes; its database errors are mapped as below.
impl From<crate::domain::Error> for ApiError {
    fn from(e: crate::domain::Error) -> Self {
        use crate::domain::Error as E;
        match e {
            E::Invalid(details) => ApiError::from_details(details),
            E::InvalidCursor => ApiError::InvalidCursor,
            E::InvalidWebhookUrl(message) => ApiError::InvalidWebhookUrl(message),
            E::NotFound(what) => ApiError::NotFound(what),
            E::SlotUnavailable => ApiError::SlotUnavailable,
            E::InvalidStateTransition(message) => ApiError::InvalidStateTransition(message),
            E::HoldExpired(message) => ApiError::HoldExpired(message),
            E::Conflict(message) => ApiError::Conflict(message),
            E::Database(e) => ApiError::from(e),
            E::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// Maps constraint names and connection failures to the contract; everything else is a 500.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => {
                match db.constraint() {
                    // An active appointment in the way, or (the claims) a live hold.
                    Some("appointments_no_overlap" | "slot_claims_no_overlap") => return ApiError::SlotUnavailable,
                    Some("consultations_one_per_appointment") => {
                        return ApiError::Conflict("This appointment already has a consultation".into())
                    }
                    _ => {}
                }
                match db.code().as_deref() {
                    // unique_violation
                    Some("23505") => ApiError::Conflict("A record with these values already exists".into()),
                    // exclusion_violation on any other constraint
                    Some("23P01") => ApiError::SlotUnavailable,
                    _ if crate::db::health::is_unreachable(&e) => ApiError::DatabaseUnreachable,
                    _ if retryable(&e) => ApiError::ServiceUnavailable,
                    _ => ApiError::internal(e),
                }
            }
            _ if crate::db::health::is_unreachable(&e) => ApiError::DatabaseUnreachable,
            _ if retryable(&e) => ApiError::ServiceUnavailable,
            _ => ApiError::internal(e),
        }
    }
}
