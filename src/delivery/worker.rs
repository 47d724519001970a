//! One delivery step: claim, attempt, record (the loop that runs many is `dispatcher`).
//!
//! `claim_batch` leases due deliveries (`FOR UPDATE SKIP LOCKED`, `locked_until` as the lease)
//! in a statement of its own; `deliver` makes the HTTP attempt with no transaction open, then
//! has the attempt and its outcome recorded in one transaction (with the outcomes of other
//! attempts that ended meanwhile: `recorder`), guarded by the lease it claimed.
//! A process killed at any point leaves at most a lease behind, which expires; two instances
//! never hold one lease, and an attempt always ends before its lease does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Notify};
use uuid::Uuid;

use super::client::{self, Outcome, WebhookClient};
use super::retry::{self, AfterFailure};
use super::signing;
use crate::config::Config;
use crate::events::{self, Event};
use crate::metrics::Metrics;

/// Time left after an attempt's timeout, within its lease, to record the outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// An attempt must end at least this long before its lease does.
const LEASE_SAFETY: Duration = Duration::from_secs(1);

/// Why a delivery step could not finish; the delivery's lease then expires and it is retried.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the webhook recorder has stopped")]
    RecorderStopped,
    /// The recorder's batch failed; its error is shared by every outcome in the batch.
    #[error("the outcome could not be recorded: {0}")]
    Record(String),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub retry_unit: Duration,
    pub allow_private: bool,
    /// Deliveries in flight at once, per process.
    pub concurrency: usize,
    /// Checked for due work at least this often, even without a notification.
    pub poll_interval: Duration,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            timeout: config.webhook_timeout,
            retry_unit: config.webhook_retry_unit,
            allow_private: config.webhook_allow_private,
            concurrency: 256,
            poll_interval: Duration::from_secs(1),
        }
    }

    pub fn lease(&self) -> Duration {
        self.timeout + LEASE_MARGIN
    }
}

/// A leased delivery with everything its attempt needs. (No `Debug`: it holds the secret.)
pub struct Claimed {
    pub id: i64,
    pub organization_id: Uuid,
    pub webhook_id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    /// The event body as delivered (and signed): built once per event for all its deliveries
    /// in a claim, and shared.
    pub body: Bytes,
    pub url: String,
    pub secret: String,
    pub attempts: i32,
    pub cycle_attempts: i32,
    /// The lease as the database holds it; the outcome is written only while it is unchanged.
    pub locked_until: DateTime<Utc>,
    /// The lease's end on this process's clock (measured from before the claim was sent).
    pub deadline: Instant,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    NothingDue,
    Succeeded,
    /// Failed; scheduled for another attempt.
    Retrying,
    /// Failed for the last time in its cycle; moved to the dead letters.
    DeadLettered,
    /// Lease released without an attempt (too little lease left, or shutting down).
    Released,
    /// The lease ran out (or the delivery was deleted) before the outcome could be written.
    LeaseLost,
}

/// Connections of the dispatcher's own pool (see [`Dispatcher::new`]).
const BOOKKEEPING_CONNECTIONS: u32 = 4;

/// Session settings of the dispatcher's pool.
///
/// `synchronous_commit = off`: see [`Dispatcher::new`].
///
/// Index lookups only: every statement of the dispatcher touches a batch of rows found by an
/// index (the due index, primary keys), so a sequential scan, or a hash or merge join that
/// reads a whole table, is never the right plan for it — but the planner picks one whenever
/// the statistics say the queue is empty, and sqlx's prepared statements then keep that plan
/// (a generic plan is reused until the next ANALYZE). That happens exactly when it hurts: on a
/// fresh database and after a quiet spell, just as a burst arrives: delivery throughput then
/// varied several-fold with the timing of autovacuum's ANALYZE (bench/README.md, "Figures behind
/// the decisions"). With these settings each statement plans to the same index lookups
/// whatever the statistics say.
const BOOKKEEPING_SETTINGS: &[(&str, &str)] = &[
    ("synchronous_commit", "off"),
    ("enable_seqscan", "off"),
    ("enable_hashjoin", "off"),
    ("enable_mergejoin", "off"),
];

#[derive(Clone)]
pub struct Dispatcher {
    /// The dispatcher's own pool, whose commits do not wait for the WAL flush.
    pub(super) db: PgPool,
    client: WebhookClient,
    pub(super) settings: Arc<Settings>,
    pub(super) metrics: Arc<Metrics>,
    /// Woken by LISTEN, and by each finished attempt (a retry may now be due sooner).
    pub(super) wake: Arc<Notify>,
    /// Outcomes waiting to be written, a batch per statement (see `recorder`).
    recorder: mpsc::Sender<super::recorder::Pending>,
}

impl Dispatcher {
    /// `wake` is notified by this process's writes after they commit (`events::wake`).
    ///
    /// The dispatcher's statements run on a small pool of its own, connected like `db` but
    /// with `synchronous_commit = off`: what it writes is leases and the outcomes of attempts,
    /// and losing the last few hundred milliseconds of them in a database crash costs at most a
    /// repeated attempt (the lease is gone or expires, and the delivery is attempted again —
    /// at least once, as webhooks always are), never a delivery. Waiting for the WAL flush on
    /// every claim and every batch of outcomes, one at a time, was what capped deliveries per
    /// second. (Events and their deliveries are written by the API's own transactions, which
    /// stay synchronous.)
    pub fn new(
        db: PgPool,
        settings: Settings,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
    ) -> Result<Dispatcher, reqwest::Error> {
        let client = WebhookClient::new(settings.timeout, settings.allow_private)?;
        let db = crate::db::pool_like(&db, BOOKKEEPING_SETTINGS, BOOKKEEPING_CONNECTIONS);
        let recorder = super::recorder::spawn(db.clone(), settings.lease());
        Ok(Dispatcher { db, client, settings: Arc::new(settings), metrics, wake, recorder })
    }

    /// Leases up to `limit` due deliveries of enabled subscriptions, oldest due first. Paused
    /// deliveries (of disabled subscriptions) are not in the due index; the subscription is
    /// checked as well, for one written while its subscription was being disabled.
    ///
    /// The statement is written so that its plan cannot depend on statistics: the due index is
    /// in claim order (the scan stops at the LIMIT), the leased rows are found by primary key
    /// (`= ANY`) and each subscription by its own (`LATERAL … OFFSET 0`). Joined the plain way,
    /// the generic plan (sqlx prepares statements, and the LIMIT is a parameter) hashed a
    /// sequential scan of the whole deliveries table on every claim, and deliveries fell further
    /// behind the larger the backlog grew.
    pub async fn claim_batch(&self, limit: i64) -> Result<Vec<Claimed>, sqlx::Error> {
        let lease = self.settings.lease();
        let started = Instant::now();
        let rows = sqlx::query!(
            r#"WITH due AS (
                   SELECT d.id FROM webhook_deliveries d
                   JOIN webhook_subscriptions s ON s.id = d.webhook_id
                   WHERE d.status = 'pending' AND NOT d.paused AND d.next_attempt_at <= now()
                     AND (d.locked_until IS NULL OR d.locked_until < now()) AND s.enabled
                   ORDER BY d.next_attempt_at, d.id
                   LIMIT $1
                   FOR UPDATE OF d SKIP LOCKED
               ), claimed AS (
                   UPDATE webhook_deliveries d
                   SET locked_until = clock_timestamp() + make_interval(secs => $2)
                   WHERE d.id = ANY (ARRAY(SELECT id FROM due))
                   RETURNING d.id, d.organization_id, d.webhook_id, d.event_id, d.attempts, d.cycle_attempts,
                             d.locked_until
               )
               SELECT c.id, c.organization_id, c.webhook_id, c.event_id, s.url, s.secret, c.attempts,
                      c.cycle_attempts, c.locked_until AS "locked_until!"
               FROM claimed c
               CROSS JOIN LATERAL (SELECT url, secret FROM webhook_subscriptions s WHERE s.id = c.webhook_id OFFSET 0) s"#,
            limit,
            lease.as_secs_f64(),
        )
        .fetch_all(&self.db)
        .await?;
        let deadline = started + lease;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // An event goes to every subscription that selects it: with 100 subscriptions a claim
        // holds the same event 100 times. Each event is read (by primary key, in a statement of
        // its own: joined into the claim, the planner's generic plan hashed a scan of the whole
        // event log) and rendered once, and its body is shared by its deliveries.
        let mut event_ids: Vec<Uuid> = rows.iter().map(|r| r.event_id).collect();
        event_ids.sort_unstable();
        event_ids.dedup();
        let events = sqlx::query!(
            r#"SELECT e.id, e.organization_id, e.type AS event_type, e.created_at, e.data::text AS "data!"
               FROM unnest($1::uuid[]) AS wanted(id) JOIN events e ON e.id = wanted.id"#,
            &event_ids,
        )
        .fetch_all(&self.db)
        .await?;
        let mut rendered: HashMap<Uuid, (String, Bytes)> = HashMap::with_capacity(events.len());
        for e in events {
            let event = Event {
                id: events::public_id(e.id),
                event_type: e.event_type,
                created_at: e.created_at,
                organization_id: e.organization_id,
                data: serde_json::from_str(&e.data).map_err(|err| sqlx::Error::Decode(Box::new(err)))?,
            };
            let body = Bytes::from(event.body());
            rendered.insert(e.id, (event.event_type, body));
        }
        let mut claimed = Vec::with_capacity(rows.len());
        for r in rows {
            // An event outlives its deliveries (a foreign key with ON DELETE CASCADE) and the
            // purge keeps every event a pending delivery refers to, so one missing here was
            // deleted by other means between the two statements, its delivery with it. There
            // is nothing left to send.
            let Some((event_type, body)) = rendered.get(&r.event_id) else {
                tracing::debug!(delivery_id = r.id, "webhook event purged after its delivery was claimed");
                continue;
            };
            claimed.push(Claimed {
                id: r.id,
                organization_id: r.organization_id,
                webhook_id: r.webhook_id,
                event_id: r.event_id,
                event_type: event_type.clone(),
                body: body.clone(),
                url: r.url,
                secret: r.secret,
                attempts: r.attempts,
                cycle_attempts: r.cycle_attempts,
                locked_until: r.locked_until,
                deadline,
            });
        }
        Ok(claimed)
    }

    /// Claims one due delivery and attempts it: the whole worker in one step (tests drive it).
    pub async fn try_deliver_one(&self) -> Result<Step, DeliveryError> {
        match self.claim_batch(1).await?.pop() {
            None => Ok(Step::NothingDue),
            Some(claimed) => self.deliver(claimed).await,
        }
    }

    /// Makes one attempt of a claimed delivery and records it with its outcome.
    pub async fn deliver(&self, claimed: Claimed) -> Result<Step, DeliveryError> {
        let left = claimed.deadline.saturating_duration_since(Instant::now()).saturating_sub(LEASE_SAFETY);
        let timeout = self.settings.timeout.min(left);
        if timeout < Duration::from_millis(100).min(self.settings.timeout) {
            self.release(&claimed).await?;
            return Ok(Step::Released);
        }
        let event_id = events::public_id(claimed.event_id);
        let at = Utc::now();
        let timestamp = at.timestamp();
        let signatures = signing::sign(&claimed.secret, &event_id, timestamp, &claimed.body);
        let headers = client::headers(&[
            ("x-klinivo-signature", signatures.klinivo),
            ("x-klinivo-event", claimed.event_type.clone()),
            ("x-klinivo-event-id", event_id.clone()),
            ("x-klinivo-delivery-id", claimed.id.to_string()),
            ("x-klinivo-attempt", (claimed.attempts + 1).to_string()),
            ("webhook-id", event_id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signatures.standard),
        ]);
        let outcome = self.client.post(&claimed.url, headers, claimed.body.clone(), timeout).await;
        self.metrics.incr("klinivo_webhook_attempts_total", 1);
        if !outcome.succeeded() {
            self.metrics.incr("klinivo_webhook_attempts_failed_total", 1);
        }
        let step = self.record_persistently(&claimed, at, &outcome).await?;
        match step {
            Step::Succeeded => self.metrics.incr("klinivo_webhook_deliveries_succeeded_total", 1),
            Step::DeadLettered => self.metrics.incr("klinivo_webhook_deliveries_dead_lettered_total", 1),
            Step::LeaseLost => self.metrics.incr("klinivo_webhook_leases_lost_total", 1),
            _ => {}
        }
        tracing::debug!(
            delivery_id = claimed.id,
            webhook_id = claimed.webhook_id,
            attempt = claimed.attempts + 1,
            status_code = outcome.status_code,
            outcome = ?step,
            "webhook attempt"
        );
        // A retry may now be due sooner than the loop planned to look.
        self.wake.notify_one();
        Ok(step)
    }

    /// Hands the attempt and the delivery's new state to the recorder and waits until they are
    /// written (with other outcomes, in one statement and one commit).
    async fn record_persistently(
        &self,
        c: &Claimed,
        at: DateTime<Utc>,
        outcome: &Outcome,
    ) -> Result<Step, DeliveryError> {
        let (status, retry_in, step) = if outcome.succeeded() {
            ("succeeded", None, Step::Succeeded)
        } else {
            match retry::after_failure(c.cycle_attempts + 1, self.settings.retry_unit) {
                AfterFailure::RetryIn(delay) => ("pending", Some(delay.as_secs_f64()), Step::Retrying),
                AfterFailure::DeadLetter => ("dead_letter", None, Step::DeadLettered),
            }
        };
        let (reply, written) = oneshot::channel();
        let pending = super::recorder::Pending {
            id: c.id,
            locked_until: c.locked_until,
            attempt: c.attempts + 1,
            status,
            retry_in,
            status_code: outcome.status_code.map(i32::from),
            error: outcome.error.clone(),
            at,
            duration_ms: i32::try_from(outcome.duration.as_millis()).unwrap_or(i32::MAX),
            reply,
        };
        self.recorder.send(pending).await.map_err(|_| DeliveryError::RecorderStopped)?;
        match written.await.map_err(|_| DeliveryError::RecorderStopped)? {
            Ok(true) => Ok(step),
            Ok(false) => {
                tracing::warn!(delivery_id = c.id, "webhook lease lost before the outcome was recorded");
                Ok(Step::LeaseLost)
            }
            Err(e) => Err(DeliveryError::Record(e)),
        }
    }

    /// Gives a claimed delivery back without attempting it.
    pub async fn release(&self, c: &Claimed) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "UPDATE webhook_deliveries SET locked_until = NULL WHERE id = $1 AND locked_until = $2",
            c.id,
            c.locked_until
        )
        .execute(&self.db)
        .await?;
        Ok(())
    }
}
