//! Webhook delivery: one step — claim with a lease, attempt, record — (`worker`), the loop that
//! runs many at once (`dispatcher`), woken by LISTEN (`listen`), the batched writer of the
//! attempts' outcomes (`recorder`); the SSRF-safe HTTP client
//! (`client`, `guard`), the signature schemes (`signing`), the retry schedule (`retry`), and
//! the event log's 30-day retention (`retention`).

pub mod client;
mod dispatcher;
pub mod guard;
mod listen;
mod recorder;
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
        tokio::spawn(retention::run(state.db.clone(), state.metrics.clone(), stop)),
    ]
}

pub async fn run_dispatcher(state: AppState, stop: CancellationToken) {
    let settings = Settings::from_config(&state.config);
    match Dispatcher::new(state.db.clone(), settings, state.metrics.clone(), state.wake.local.clone()) {
        Ok(dispatcher) => dispatcher.run(stop).await,
        Err(e) => tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are not delivered"),
    }
}
