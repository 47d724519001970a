//! Waking the webhook dispatchers once a write that queued deliveries has committed.
//!
//! A `NOTIFY` inside the write's own transaction serialises commits: PostgreSQL holds one
//! database-wide lock from a notifying transaction's pre-commit until its commit record is on
//! disk, so every write with an event waited for every other one's WAL flush (bench/README.md,
//! "Figures behind the decisions"). Instead, when a write queued deliveries
//! ([`noting_deliveries`]), the write layer
//! calls [`DeliveryWake::poke`] after its commit: this
//! process's dispatcher wakes at once, and one background task sends a `NOTIFY` for the
//! dispatchers of other processes (`klinivo worker`, other instances) — from a transaction of
//! its own, committed without waiting for the WAL flush, and coalescing the pokes that arrive
//! while one is in flight. A notification is only a hint: one lost with a crash is covered by
//! the dispatchers' poll.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;

use sqlx::{PgExecutor, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::NOTIFY_CHANNEL;

tokio::task_local! {
    /// Set while a write runs (by [`noting_deliveries`]); `record` marks it when it queued any.
    static QUEUED: Cell<bool>;
}

/// Runs a write's handler, and tells whether it queued deliveries ([`mark_queued`]): only then
/// are the dispatchers worth waking after the commit.
pub async fn noting_deliveries<F: Future>(handler: F) -> (F::Output, bool) {
    QUEUED
        .scope(Cell::new(false), async move {
            let output = handler.await;
            (output, QUEUED.with(Cell::get))
        })
        .await
}

/// Notes that the running write queued deliveries (outside [`noting_deliveries`], nothing).
pub fn mark_queued() {
    let _ = QUEUED.try_with(|q| q.set(true));
}

#[derive(Clone, Default)]
pub struct DeliveryWake {
    /// This process's dispatcher waits on it (and on LISTEN for the other processes' pokes).
    pub local: Arc<Notify>,
    /// The notifier task waits on it.
    remote: Arc<Notify>,
}

impl DeliveryWake {
    /// Deliveries may be due now: call after the commit that queued them.
    pub fn poke(&self) {
        self.local.notify_one();
        self.remote.notify_one();
    }

    /// Sends one `NOTIFY` per batch of pokes until `stop`.
    pub async fn run_notifier(self, db: PgPool, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.remote.notified() => {}
                _ = stop.cancelled() => return,
            }
            if let Err(e) = notify(&db).await {
                tracing::warn!(error = %e, "cannot notify the webhook dispatchers; they find the deliveries at their next poll");
            }
        }
    }
}

/// Tells every dispatcher listening that deliveries may be due. Run it after the commit that
/// queued them (in that transaction it would hold PostgreSQL's notification lock through the
/// commit); its own commit does not wait for the WAL flush, since a notification is only a hint.
pub async fn notify(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')", NOTIFY_CHANNEL)
        .fetch_one(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_is_noted_only_when_it_queued_deliveries() {
        let (out, queued) = noting_deliveries(async { 1 }).await;
        assert_eq!((out, queued), (1, false));
        let (_, queued) = noting_deliveries(async {
            tokio::task::yield_now().await;
            mark_queued();
        })
        .await;
        assert!(queued);
        // Outside a write (a script recording events on its own connection): nothing to note.
        mark_queued();
    }
}
