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

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
pub use worker::{Dispatcher, Settings, Step};

/// The dispatcher and the event purge, until `stop` (in-flight deliveries finish first).
/// `wake` is this process's wake-up after a write queued deliveries (`events::wake`).
pub fn spawn(
    db: &PgPool,
    config: &Config,
    metrics: &Arc<Metrics>,
    wake: &Arc<Notify>,
    stop: CancellationToken,
) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(run_dispatcher(
            db.clone(),
            Settings::from_config(config),
            metrics.clone(),
            wake.clone(),
            stop.clone(),
        )),
        tokio::spawn(retention::run(db.clone(), metrics.clone(), stop)),
    ]
}

pub async fn run_dispatcher(
    db: PgPool,
    settings: Settings,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    match Dispatcher::new(db, settings, metrics, wake) {
        Ok(dispatcher) => dispatcher.run(stop).await,
        Err(e) => tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are not delivered"),
    }
}
