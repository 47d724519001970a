//! Whether the database can be reached, as the last requests found it.
//!
//! When PostgreSQL is down, every pooled request would wait the pool's whole acquire timeout
//! (the pool retries refused connections until then) before failing: requests pile up and
//! clients time out. Instead, the first failure that says the database is unreachable marks it
//! down; while it is down, requests that need it are answered `503` at once, and one prober
//! connects directly (outside the pool) every [`PROBE_EVERY`] until it answers, then marks it up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const PROBE_EVERY: Duration = Duration::from_millis(250);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct DbHealth {
    down: AtomicBool,
    changed: Notify,
}

/// Put on a response whose request failed because the database was unreachable.
#[derive(Debug, Clone, Copy)]
pub struct Unreachable;

impl DbHealth {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    pub fn mark_down(&self) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!("database unreachable; answering 503 until it is back");
            self.changed.notify_one();
        }
    }

    fn mark_up(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("database reachable again");
        }
    }
}

/// Whether `e` says the database cannot be reached at all (as opposed to refusing a statement,
/// or being too busy for one): the connection broke or could not be opened. Opening one can also
/// be refused for want of the database (3D000), of its permission to connect (55000: "not
/// currently accepting connections") or of valid credentials (class 28, a rotated password):
/// for the request, all the same outage.
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("28")
                || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "3D000" | "55000")
        }),
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// Probes the database while it is marked down, until `stop`.
pub async fn run_prober(health: std::sync::Arc<DbHealth>, db: PgPool, stop: CancellationToken) {
    loop {
        if !health.is_down() {
            tokio::select! {
                _ = health.changed.notified() => {}
                _ = stop.cancelled() => return,
            }
            continue;
        }
        let options = db.connect_options();
        let probe = async {
            let mut conn = PgConnection::connect_with(&options).await?;
            conn.ping().await?;
            conn.close().await
        };
        match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
            Ok(Ok(())) => health.mark_up(),
            _ => {
                tokio::select! {
                    _ = tokio::time::sleep(PROBE_EVERY) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
}
