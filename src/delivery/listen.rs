//! LISTEN for new deliveries, so the dispatcher starts on an event at once rather than at its
//! next poll. Notifications are only a hint: a lost connection (and whatever it missed) is
//! covered by the poll, and the listener reconnects by itself with a backoff.

use std::sync::Arc;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::dispatcher::Backoff;
use crate::events::NOTIFY_CHANNEL;

pub async fn forward(db: PgPool, wake: Arc<Notify>, stop: CancellationToken) {
    let mut pause = Backoff::default();
    while !stop.is_cancelled() {
        let connected = async {
            let mut listener = PgListener::connect_with(&db).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            l = connected => match l {
                Ok(l) => l,
                Err(e) => {
                    let wait = pause.next();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot LISTEN for webhook deliveries");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = stop.cancelled() => return,
                    }
                }
            },
            _ = stop.cancelled() => return,
        };
        pause.reset();
        // Anything committed while we were not listening is found by this wake-up's claim.
        wake.notify_one();
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(_)) => wake.notify_one(),
                    // The connection was lost and re-established: notifications may be missed.
                    Ok(None) => wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the LISTEN connection for webhook deliveries");
                        break;
                    }
                },
                _ = stop.cancelled() => return,
            }
        }
    }
}
