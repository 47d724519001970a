//! The tower layers every request passes through.

pub mod audit;
pub mod auth;
pub mod client_address;
pub mod db_gate;
pub mod front;
pub mod idempotency;
pub mod method;
pub mod rate_limit;
pub mod request_id;
pub mod timeout;
