//! Webhook delivery measured end to end: a local receiver that answers 200 at once and notes
//! when each event arrives, subscriptions pointing at it, and a producer that records events
//! (`klinivo::events::record`, one per small transaction) at a set rate and notes each commit.
//! Latency is commit → arrival on one monotonic clock (producer and receiver share a process).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use klinivo::events::{self, EventType};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::load::percentile;
use crate::BoxError;

/// `(phase, subscription, event) → first arrival`, and the count of repeated deliveries.
type Arrivals = (HashMap<(u32, u32, Uuid), Instant>, u64);

#[derive(Clone, Default)]
pub struct Receiver {
    arrivals: Arc<Mutex<Arrivals>>,
}

impl Receiver {
    /// Listens on a free loopback port: `POST /hook/{phase}/{sub}` records, `POST /limit` only answers.
    pub async fn start() -> Result<(Receiver, u16), BoxError> {
        let receiver = Receiver::default();
        let app = Router::new()
            .route("/hook/{phase}/{sub}", post(hook))
            .route("/limit", post(|| async { StatusCode::OK }))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((receiver, port))
    }

    fn phase(&self, phase: u32) -> (Vec<(Uuid, Instant)>, u64) {
        let guard = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        let list = guard.0.iter().filter(|((p, _, _), _)| *p == phase).map(|((_, _, e), at)| (*e, *at)).collect();
        (list, guard.1)
    }

    fn count(&self, phase: u32) -> usize {
        let guard = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.keys().filter(|(p, _, _)| *p == phase).count()
    }
}

async fn hook(
    State(r): State<Receiver>,
    Path((phase, sub)): Path<(u32, u32)>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let at = Instant::now();
    let id = headers
        .get("x-klinivo-event-id")
        .or_else(|| headers.get("webhook-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| serde_json::from_str::<serde_json::Value>(&body).ok()?.get("id")?.as_str().map(str::to_string));
    if let Some(event) = id.as_deref().and_then(events::parse_public_id) {
        let mut guard = r.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        let (first, repeats) = &mut *guard;
        match first.entry((phase, sub, event)) {
            std::collections::hash_map::Entry::Occupied(_) => *repeats += 1,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(at);
            }
        }
    }
    StatusCode::OK
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    pub subscriptions: u32,
    pub target_events_per_s: f64,
    pub events: usize,
    pub events_per_s: f64,
    pub expected_deliveries: usize,
    pub delivered: usize,
    pub repeats: u64,
    pub deliveries_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// How the subscriptions were made: `api` (POST /api/v1/webhooks) or `sql` (API missing).
    pub subscriptions_via: String,
    pub note: String,
}

pub struct Bench<'a> {
    /// Used by the producers too: give it 50 connections or more.
    pub db: &'a PgPool,
    pub api_base: String,
    pub key: String,
    pub org: Uuid,
    pub receiver: Receiver,
    pub receiver_port: u16,
}

fn sample_patient(n: usize) -> serde_json::Value {
    json!({
        "id": n, "externalId": format!("MRN-{n:08}"), "firstName": "Maria", "lastName": "Garcia",
        "dateOfBirth": "1984-03-12", "sex": "female", "email": "maria.garcia84@mail.example.com",
        "phone": "+13125550187",
        "address": {"line1": "1420 Lake Shore Dr", "line2": "Apt 12", "city": "Chicago", "region": "IL",
                    "postalCode": "60610", "country": "US"},
        "createdAt": "2026-11-28T09:30:00Z", "updatedAt": "2026-11-28T09:30:00Z"
    })
}

impl Bench<'_> {
    /// Turns off every subscription of the organization and makes `n` new ones for `phase`.
    async fn subscribe(&self, phase: u32, n: u32) -> Result<String, BoxError> {
        sqlx::query("UPDATE webhook_subscriptions SET enabled = false WHERE organization_id = $1 AND enabled")
            .bind(self.org)
            .execute(self.db)
            .await?;
        let client = reqwest::Client::new();
        let mut via = "api";
        for sub in 0..n {
            let url = format!("http://127.0.0.1:{}/hook/{phase}/{sub}", self.receiver_port);
            let body = json!({"url": url, "events": ["patient.created"], "description": format!("bench {phase}/{sub}"), "enabled": true});
            let status = if via == "api" {
                let r = client
                    .post(format!("{}/api/v1/webhooks", self.api_base))
                    .header("X-API-Key", &self.key)
                    .header("Idempotency-Key", Uuid::new_v4().to_string())
                    .json(&body)
                    .send()
                    .await?;
                let status = r.status();
                if status.is_success() {
                    continue;
                }
                if status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
                    return Err(format!("POST /api/v1/webhooks answered {status}: {}", r.text().await?).into());
                }
                status
            } else {
                StatusCode::NOT_FOUND
            };
            // The webhooks API is not there (yet): write the subscription as it would.
            let _ = status;
            via = "sql";
            let secret = format!("whsec_{}", base64_of_random());
            sqlx::query(
                "INSERT INTO webhook_subscriptions (organization_id, url, events, description, enabled, secret)
                 VALUES ($1, $2, ARRAY['patient.created'], $3, true, $4)",
            )
            .bind(self.org)
            .bind(&url)
            .bind(format!("bench {phase}/{sub}"))
            .bind(secret)
            .execute(self.db)
            .await?;
        }
        Ok(via.to_string())
    }

    /// Records `patient.created` events at `rate` per second for `duration` from `workers`
    /// concurrent producers; returns each event's commit instant.
    async fn produce(&self, rate: f64, duration: Duration, workers: usize) -> Result<HashMap<Uuid, Instant>, BoxError> {
        let commits = Arc::new(Mutex::new(HashMap::new()));
        let deadline = Instant::now() + duration;
        let mut tasks = Vec::new();
        for w in 0..workers {
            let db = self.db.clone();
            let org = self.org;
            let commits = commits.clone();
            let period = Duration::from_secs_f64(workers as f64 / rate);
            tasks.push(tokio::spawn(async move {
                // Spread the workers' ticks over one period.
                tokio::time::sleep(period.mul_f64(w as f64 / workers as f64)).await;
                let mut tick = tokio::time::interval(period);
                let mut n = w;
                while Instant::now() < deadline {
                    tick.tick().await;
                    let mut tx = db.begin().await?;
                    let id = events::record(&mut tx, org, EventType::PatientCreated, &sample_patient(n)).await?;
                    tx.commit().await?;
                    let at = Instant::now();
                    // As Klinivo's write layer does after a handler's commit (from another
                    // process, so through LISTEN, as a `klinivo worker` would be woken).
                    events::wake::notify(&db).await?;
                    commits.lock().unwrap_or_else(|e| e.into_inner()).insert(id, at);
                    n += workers;
                }
                Ok::<_, sqlx::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let map = std::mem::take(&mut *commits.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(map)
    }

    /// Is anything delivering? One subscription, one event, up to `wait`.
    pub async fn probe(&self, wait: Duration) -> Result<Option<String>, BoxError> {
        let via = self.subscribe(0, 1).await?;
        self.produce(10.0, Duration::from_millis(100), 1).await?;
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.receiver.count(0) > 0 {
                return Ok(Some(via));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(None)
    }

    /// One measurement: `subs` subscriptions, events at `rate`/s for `duration`, then up to
    /// `drain` for the last deliveries.
    pub async fn phase(
        &self,
        phase: u32,
        subs: u32,
        rate: f64,
        duration: Duration,
        drain: Duration,
    ) -> Result<PhaseResult, BoxError> {
        let via = self.subscribe(phase, subs).await?;
        let started = Instant::now();
        // Enough producers that commit latency (fsync) does not cap the rate: each has
        // `workers / rate` seconds per transaction.
        let workers = ((rate / 20.0).ceil() as usize).clamp(4, 48);
        let commits = self.produce(rate, duration, workers).await?;
        let produced_in = started.elapsed().as_secs_f64();
        let expected = commits.len() * subs as usize;
        let deadline = Instant::now() + drain;
        while self.receiver.count(phase) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (arrivals, repeats) = self.receiver.phase(phase);
        let mut latencies: Vec<f64> = Vec::with_capacity(arrivals.len());
        let first_commit = commits.values().min().copied();
        let mut last_arrival = None;
        for (event, at) in &arrivals {
            if let Some(committed) = commits.get(event) {
                latencies.push(at.saturating_duration_since(*committed).as_secs_f64() * 1000.0);
                last_arrival = Some(last_arrival.map_or(*at, |l: Instant| l.max(*at)));
            }
        }
        latencies.sort_by(|a, b| a.total_cmp(b));
        let delivered = latencies.len();
        let span = match (first_commit, last_arrival) {
            (Some(f), Some(l)) => l.saturating_duration_since(f).as_secs_f64(),
            _ => 0.0,
        };
        let unique_events: HashSet<&Uuid> = arrivals.iter().map(|(e, _)| e).collect();
        let mut notes = Vec::new();
        let events_per_s = commits.len() as f64 / produced_in.max(1e-9);
        if events_per_s < 0.9 * rate {
            notes.push(format!("the producer reached only {events_per_s:.0} of {rate:.0} events/s"));
        }
        if delivered < expected {
            notes.push(format!(
                "{} deliveries missing after {} s of drain ({} events reached)",
                expected - delivered,
                drain.as_secs(),
                unique_events.len()
            ));
        }
        let note = notes.join("; ");
        Ok(PhaseResult {
            subscriptions: subs,
            target_events_per_s: rate,
            events: commits.len(),
            events_per_s,
            expected_deliveries: expected,
            delivered,
            repeats,
            deliveries_per_s: if span > 0.0 { delivered as f64 / span } else { 0.0 },
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
            max_ms: latencies.last().copied().unwrap_or(0.0),
            subscriptions_via: via,
            note,
        })
    }
}

fn base64_of_random() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The standard protocol: for each subscription count, events at `min(max_rate, offered / subs)`
/// per second for `duration`, so 1 subscription sees 1,000 events/s and 100 subscriptions are
/// offered 10,000 deliveries/s. Returns `(available, note, phases)`.
pub async fn measure(
    bench: &Bench<'_>,
    subscription_counts: &[u32],
    max_rate: f64,
    offered: f64,
    duration: Duration,
    drain: Duration,
) -> Result<(bool, String, Vec<PhaseResult>), BoxError> {
    let Some(via) = bench.probe(Duration::from_secs(15)).await? else {
        return Ok((
            false,
            "no delivery arrived within 15 s of an event (is the webhook dispatcher built in, and \
             KLINIVO_WEBHOOK_ALLOW_PRIVATE=true?)"
                .into(),
            Vec::new(),
        ));
    };
    let note = if via == "sql" {
        "subscriptions written with SQL: POST /api/v1/webhooks is not available".to_string()
    } else {
        String::new()
    };
    let mut phases = Vec::new();
    for (i, &subs) in subscription_counts.iter().enumerate() {
        let rate = max_rate.min(offered / subs.max(1) as f64);
        eprintln!("bench: webhooks, {subs} subscription(s), {rate:.0} events/s for {} s", duration.as_secs());
        phases.push(bench.phase(i as u32 + 1, subs, rate, duration, drain).await?);
    }
    sqlx::query("UPDATE webhook_subscriptions SET enabled = false WHERE organization_id = $1 AND enabled")
        .bind(bench.org)
        .execute(bench.db)
        .await?;
    Ok((true, note, phases))
}
