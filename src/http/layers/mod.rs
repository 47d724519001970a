//! The steps every request passes through. Each is a plain async function handed the request
//! and the rest of the stack (`next`, called once), and `http::finish` and `http::protect` chain
//! them into one axum layer each: a layer per step would clone everything inside it and box its
//! future on every request (bench/README.md, "Layers").

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
