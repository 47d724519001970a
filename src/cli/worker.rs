//! `klinivo worker`: only the webhook dispatcher and the event purge, no HTTP server — for
//! running delivery capacity apart from the API. Stops on SIGTERM after in-flight deliveries.

use tokio_util::sync::CancellationToken;

use super::database;
use crate::config::Config;
use crate::state::AppState;

pub async fn run(config: Config) -> Result<(), super::error::CliError> {
    let database = database::open(&config).await?;
    let state = AppState::new(database.pool.clone(), config);
    let stop = CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        crate::server::shutdown_signal().await;
        trigger.cancel();
    });
    tracing::info!("webhook worker started");
    for task in crate::delivery::spawn(&state.db, &state.config, &state.metrics, &state.wake.local, stop) {
        let _ = task.await;
    }
    database.close().await;
    tracing::info!("webhook worker stopped");
    Ok(())
}
