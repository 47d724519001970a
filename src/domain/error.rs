//! What can go wrong with a record, in the domain's own words: the front doors (the REST API's
//! error type, and any other) map these to what their clients read.

// One invalid field of a request: its name as the client sent it, and what is wrong. (Not a doc
// comment: it would become the schema's description in the published document.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that breaks a rule; at least one field.
    #[error("{} field(s) invalid", .0.len())]
    Invalid(Vec<FieldError>),
    /// A list position this server did not hand out, or one for another ordering.
    #[error("The cursor is not valid for this list")]
    InvalidCursor,
    /// A webhook URL the delivery policy refuses; the message says why.
    #[error("{0}")]
    InvalidWebhookUrl(String),
    /// No such record in the organization (whether it exists in another is not said).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The provider is already booked (or held) for that time.
    #[error("The provider already has an appointment or a live hold in that time slot")]
    SlotUnavailable,
    /// The record's state does not allow the change.
    #[error("{0}")]
    InvalidStateTransition(String),
    /// A slot hold that can no longer be booked: booked, released or past its expiry.
    #[error("{0}")]
    HoldExpired(String),
    /// The change conflicts with another record.
    #[error("{0}")]
    Conflict(String),
    /// The database's answer, mapped by the front door (constraint names, outages).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A broken invariant; never the client's doing.
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn transition(message: impl Into<String>) -> Self {
        Error::InvalidStateTransition(message.into())
    }

    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(e.into())
    }
}
