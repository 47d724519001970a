//! Background tasks every `klinivo serve` runs, each stopped by the same token.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::http::layers::idempotency;
use crate::state::AppState;

pub fn spawn(state: AppState, stop: CancellationToken) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(crate::auth::authenticator::last_used_flusher(state.auth.clone(), state.db.clone(), stop.clone())),
        tokio::spawn(crate::auth::key_cache::listen_for_key_changes(
            state.auth.cache.clone(),
            state.db.clone(),
            state.db_health.clone(),
            stop.clone(),
        )),
        tokio::spawn(state.audit.clone().run_writer(state.db.clone(), stop.clone())),
        tokio::spawn(crate::db::health::run_prober(state.db_health.clone(), state.db.clone(), stop.clone())),
        tokio::spawn(purge_loop(state.clone(), stop.clone())),
        tokio::spawn(state.wake.clone().run_notifier(state.db.clone(), stop.clone())),
        tokio::spawn(crate::domain::search_text::run(state.db.clone(), stop.clone())),
        tokio::spawn(crate::fhir::export::runner::run(state.clone(), stop.clone())),
        tokio::spawn(audit_partitions_loop(state.clone(), stop.clone())),
    ];
    // The dispatcher and the event log's retention.
    tasks.extend(crate::delivery::spawn(&state.db, &state.config, &state.metrics, &state.wake.local, stop));
    tasks
}

/// Counts the idempotency records [`purge_loop`] deletes.
pub const IDEMPOTENCY_KEYS_DELETED: &str = "klinivo_retention_idempotency_keys_deleted_total";

/// Hourly: expired idempotency records, and the console's expired sessions, used or expired
/// set-password links and past sign-in throttle windows, and expired FHIR exports.
async fn purge_loop(state: AppState, stop: CancellationToken) {
    loop {
        let console = async {
            use crate::domain::accounts::{sessions, throttle, users};
            Ok::<u64, crate::domain::Error>(
                sessions::purge_expired(&state.db).await?
                    + users::purge_links(&state.db).await?
                    + throttle::purge(&state.db).await?
                    + crate::fhir::export::store::purge_expired(&state.db).await?,
            )
        };
        match console.await {
            Ok(n) if n > 0 => {
                tracing::info!(purged = n, "expired console sessions, links, throttle windows and FHIR exports purged")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "console purge failed"),
        }
        match idempotency::purge_expired(&state.db).await {
            Ok(n) if n > 0 => {
                state.metrics.incr(IDEMPOTENCY_KEYS_DELETED, n);
                tracing::info!(purged = n, "expired idempotency keys purged")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "idempotency purge failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Counts the audit-log partitions [`audit_partitions_loop`] dropped.
pub const AUDIT_PARTITIONS_DROPPED: &str = "klinivo_retention_audit_partitions_dropped_total";

/// At start and then hourly: the audit log's partitions and retention (`audit::partitions`).
async fn audit_partitions_loop(state: AppState, stop: CancellationToken) {
    loop {
        match crate::audit::partitions::maintain(&state.db, chrono::Utc::now(), state.config.audit_retention).await {
            Ok(m) => {
                state.metrics.incr(AUDIT_PARTITIONS_DROPPED, m.dropped.len() as u64);
                if !m.prepared.is_empty() || m.opened.is_some() || !m.dropped.is_empty() {
                    tracing::info!(
                        prepared = ?m.prepared,
                        opened = ?m.opened,
                        dropped = ?m.dropped,
                        "audit log partitions maintained"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "audit log partition maintenance failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.cancelled() => return,
        }
    }
}
