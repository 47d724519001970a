//! Klinivo's rerunnable benchmark: the limits of the machine (pgbench, a bare axum + sqlx
//! server, a bare webhook receiver) and Klinivo's figures, measured side by side in one run.
//! `bench-run` drives it all; see `bench/README.md`.

pub mod datagen;
pub mod history;
pub mod load;
pub mod machine;
pub mod names;
pub mod plans;
pub mod procs;
pub mod report;
pub mod webhooks;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
