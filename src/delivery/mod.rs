//! Webhook delivery: the dispatcher that sends each pending delivery, signed, with retries and
//! dead letters (`worker`), the SSRF-safe HTTP client (`client`, `guard`), the signature
//! schemes (`signing`), the retry schedule (`retry`), the LISTEN wake-up (`listen`) and the
//! event log's retention (`retention`).

pub mod client;
pub mod guard;
mod listen;
pub mod retention;
pub mod retry;
pub mod signing;
pub mod worker;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;
pub use worker::{Dispatcher, Settings, Step};

/// The dispatcher and the event purge, until `stop` (in-flight deliveries finish first).
pub fn spawn(state: &AppState, stop: CancellationToken) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(run_dispatcher(state.clone(), stop.clone())),
        tokio::spawn(retention::run(state.db.clone(), stop)),
    ]
}

pub async fn run_dispatcher(state: AppState, stop: CancellationToken) {
    let settings = Settings::from_config(&state.config);
    match Dispatcher::new(state.db.clone(), settings, state.metrics.clone()) {
        Ok(dispatcher) => dispatcher.run(stop).await,
        Err(e) => tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are not delivered"),
    }
}
