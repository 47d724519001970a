//! The dispatcher loop: as many attempts in flight as there are free slots, woken by LISTEN,
//! by finished attempts and by the next due retry, polling as a fallback; on `stop` it claims
//! nothing more and lets the attempts in flight finish.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::worker::{Dispatcher, Step};

/// Free slots a busy dispatcher gathers before it claims, and for how long at most.
const CLAIM_MIN: usize = 32;
const CLAIM_GATHER: Duration = Duration::from_millis(2);

impl Dispatcher {
    /// Seconds until the next pending delivery falls due (future ones only), if any.
    async fn next_due_in(&self) -> Result<Option<f64>, sqlx::Error> {
        sqlx::query_scalar!(
            r#"SELECT EXTRACT(EPOCH FROM (min(next_attempt_at) - now()))::float8 AS "secs"
               FROM webhook_deliveries WHERE status = 'pending' AND NOT paused AND next_attempt_at > now()"#
        )
        .fetch_one(&self.db)
        .await
    }

    /// Runs until `stop`: claims as many due deliveries as there are free slots and attempts
    /// them concurrently; sleeps until notified, until the next retry is due, or one poll
    /// interval. On `stop` it claims nothing more and waits for the attempts in flight.
    pub async fn run(self, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let listener = tokio::spawn(super::listen::forward(self.db.clone(), self.wake.clone(), stop.clone()));
        let mut in_flight = JoinSet::new();
        let mut pause = Backoff::default();
        loop {
            while in_flight.try_join_next().is_some() {}
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => permit,
                _ = stop.cancelled() => break,
            };
            let Ok(first) = first else { break };
            // Claim for a batch of free slots rather than for each one as it frees: a claim
            // statement costs about the same for 1 row as for 100, and claims run one at a time.
            // When busy, wait up to CLAIM_GATHER for CLAIM_MIN free slots; when idle, every slot
            // is free at once and nothing waits.
            let mut permits = vec![first];
            let gather_until = tokio::time::Instant::now() + CLAIM_GATHER;
            loop {
                while let Ok(p) = slots.clone().try_acquire_owned() {
                    permits.push(p);
                }
                if permits.len() >= CLAIM_MIN.min(self.settings.concurrency) {
                    break;
                }
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => permits.push(p),
                        Err(_) => break,
                    },
                    _ = tokio::time::sleep_until(gather_until) => break,
                    _ = stop.cancelled() => break,
                }
            }
            let wanted = permits.len();
            match self.claim_batch(wanted as i64).await {
                Ok(batch) => {
                    pause.reset();
                    let got = batch.len();
                    for (claimed, permit) in batch.into_iter().zip(permits.drain(..)) {
                        let me = self.clone();
                        let stop = stop.clone();
                        in_flight.spawn(async move {
                            let _permit = permit;
                            let result =
                                if stop.is_cancelled() { me.release(&claimed).await.map(|_| Step::Released).map_err(Into::into) } else { me.deliver(claimed).await };
                            if let Err(e) = result {
                                me.metrics.incr("klinivo_webhook_dispatcher_errors_total", 1);
                                tracing::warn!(error = %e, "webhook delivery step failed; the lease will expire and it will be retried");
                            }
                        });
                    }
                    drop(permits);
                    if got < wanted {
                        self.wait_for_work(&stop).await;
                    }
                }
                Err(e) => {
                    drop(permits);
                    self.metrics.incr("klinivo_webhook_dispatcher_errors_total", 1);
                    let wait = pause.next();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "webhook dispatcher cannot claim deliveries");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.cancelled() => break,
                    }
                }
            }
        }
        while in_flight.join_next().await.is_some() {}
        let _ = listener.await;
        tracing::info!("webhook dispatcher stopped");
    }

    async fn wait_for_work(&self, stop: &CancellationToken) {
        let mut sleep = self.settings.poll_interval;
        if let Ok(Some(secs)) = self.next_due_in().await {
            if secs.is_finite() {
                sleep = sleep.min(Duration::from_secs_f64(secs.max(0.0)));
            }
        }
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = stop.cancelled() => {}
        }
    }
}

/// Exponential pause after database errors: 250 ms doubling up to 5 s.
#[derive(Default)]
pub(super) struct Backoff {
    failures: u32,
}

impl Backoff {
    pub(super) fn next(&mut self) -> Duration {
        let wait = Duration::from_millis(250) * (1u32 << self.failures.min(5));
        self.failures += 1;
        wait.min(Duration::from_secs(5))
    }

    pub(super) fn reset(&mut self) {
        self.failures = 0;
    }
}
