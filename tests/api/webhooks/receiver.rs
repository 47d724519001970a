//! A webhook receiver on 127.0.0.1:0 that records every request (headers and raw body) and
//! answers as the test tells it; and signature verification exactly as integrators do it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How the receiver answers a request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// Waits, then answers with the status (a client with a shorter timeout gives up first).
    SleepThen(Duration, u16),
    /// `302 Found` to this location.
    Redirect(String),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
    in_flight: AtomicUsize,
    max_in_flight_per_delivery: Mutex<HashMap<String, (usize, usize)>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Receiver {
    /// Answers `200` to everything.
    pub async fn start() -> Receiver {
        Receiver::answering(Reply::Status(200)).await
    }

    pub async fn answering(reply: Reply) -> Receiver {
        let shared = Arc::new(Shared::default());
        *shared.default.lock().unwrap() = Some(reply);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let shutdown = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
        });
        Receiver { addr, shared, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// From now on, answer every request with `reply`.
    pub fn set_reply(&self, reply: Reply) {
        *self.shared.default.lock().unwrap() = Some(reply);
    }

    /// Answer the next requests with these, in order, then fall back to the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The highest number of requests for one delivery id handled at the same time.
    pub fn max_concurrent_per_delivery(&self) -> usize {
        self.shared.max_in_flight_per_delivery.lock().unwrap().values().map(|(_, max)| *max).max().unwrap_or(0)
    }

    /// Waits until at least `n` requests arrived; returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let arrived = crate::helpers::eventually(timeout, || async { self.count() >= n }).await;
        assert!(arrived, "expected {n} requests within {timeout:?}, got {}", self.count());
        self.requests()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Decrements the in-flight counters even when the client gives up and the handler is dropped.
struct InFlight {
    shared: Arc<Shared>,
    delivery: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(entry) = self.shared.max_in_flight_per_delivery.lock().unwrap().get_mut(&self.delivery) {
            entry.0 -= 1;
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let delivery = headers.get("x-klinivo-delivery-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    {
        let mut map = shared.max_in_flight_per_delivery.lock().unwrap();
        let entry = map.entry(delivery.clone()).or_insert((0, 0));
        entry.0 += 1;
        entry.1 = entry.1.max(entry.0);
    }
    let _guard = InFlight { shared: shared.clone(), delivery };
    shared.requests.lock().unwrap().push(Received { headers, body, at });
    let reply = shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or_else(|| shared.default.lock().unwrap().clone())
        .unwrap_or(Reply::Status(200));
    match reply {
        Reply::Status(code) => status(code).into_response(),
        Reply::SleepThen(wait, code) => {
            tokio::time::sleep(wait).await;
            status(code).into_response()
        }
        Reply::Redirect(location) => (StatusCode::FOUND, [("location", location)]).into_response(),
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

/// A port nothing listens on (bound, then released).
pub async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// The public docs' Python snippet, line for line: `t` and `v1` from the header, HMAC-SHA256
/// keyed with the secret string's bytes over `t + "." + body`, hex, constant-time compare.
pub fn verify_klinivo(payload: &[u8], header: &str, secret: &str) -> bool {
    let parts: HashMap<&str, &str> = header.split(',').filter_map(|p| p.split_once('=')).collect();
    let (Some(timestamp), Some(signature)) = (parts.get("t"), parts.get("v1")) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    let expected = hex::encode(mac.finalize().into_bytes());
    // compare_digest on the hex strings, as the snippet does (constant time is moot in a test).
    *signature == expected
}

/// Standard Webhooks verification: key = base64 of the secret after `whsec_`; signed content
/// `webhook-id.webhook-timestamp.body`; any `v1,<base64>` entry of the space-separated list
/// may match; the timestamp must be within 5 minutes.
pub fn verify_standard(headers: &HeaderMap, payload: &[u8], secret: &str) -> bool {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) =
        (get("webhook-id"), get("webhook-timestamp"), get("webhook-signature"))
    else {
        return false;
    };
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return false;
    }
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(payload);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    signatures.split(' ').any(|s| s.split_once(',').is_some_and(|(version, sig)| version == "v1" && sig == expected))
}
