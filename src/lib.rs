//! Klinivo's public API server as a library: `http::app(state)` is the whole application;
//! `server::run` serves it with its background tasks; `cli` is what the binary calls.

pub mod api;
pub mod audit;
pub mod auth;
pub mod background;
pub mod cli;
pub mod clinic;
pub mod config;
pub mod console;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod events;
pub mod fhir;
pub mod http;
pub mod metrics;
pub mod net;
pub mod server;
pub mod state;
pub mod telemetry;

pub use config::Config;
pub use http::app;
pub use state::AppState;
