//! Authentication fused with rate limiting.
//!
//! `X-API-Key` → shape and checksum (no database) → SHA-256 → the key cache, else one statement
//! that finds the live key *and* leases part of its one-minute window's budget
//! (`auth::store::authenticate_and_lease`). The budget lives in one counter row shared by all
//! instances, so together they never grant more than the limit; small limits lease one request
//! at a time (an exact shared counter), large ones up to 100, sparing the round trip. A cached key
//! is trusted for at most a second, and a key change (revocation, expiry) is pushed to every
//! instance by NOTIFY as it commits (`key_cache`). A key over its limit is turned away from memory
//! until its window resets, asking the database again at most once a second (so a revocation
//! turns its `429` into `401` at once).
//!
//! Failed authentications are never counted against a key, and a per-address throttle bounds
//! what a flood of bad keys can cost. A key that fails its shape or checksum costs no database
//! lookup and counts for nothing; only well-formed keys the database does not know count. Past
//! the threshold, an address's requests with keys not recently seen valid are refused without a
//! database lookup, while keys that authenticated recently keep working. The address is the
//! client's as `client_address` resolves it (behind a trusted proxy, the forwarded one), counted
//! per IPv4 address or IPv6 /64. Every map here is capped: when the throttle's is full, an
//! address it does not hold is throttled rather than let through uncounted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::client_address;
use super::key_cache::KeyCache;
use super::rate_limit::{self, Window};
use crate::auth::{keys, store, AuthenticatedKey, Permission};
use crate::http::error::ApiError;
use crate::state::AppState;

/// Failed authentications one address may make per minute before it is throttled.
pub const FAILED_AUTH_PER_MINUTE: u32 = 100;
const MAX_TRACKED_ADDRESSES: usize = 100_000;
/// Keys that authenticated within this many seconds pass a throttled address.
const KNOWN_GOOD_SECONDS: i64 = 600;
const MAX_KNOWN_GOOD: usize = 100_000;
/// Keys whose `lastUsedAt` waits for the next batched write (only keys that authenticated).
const MAX_LAST_USED: usize = 100_000;

/// The most requests one lease may take from a window's budget.
pub const MAX_LEASE: i32 = 100;
/// The longest a request waits for another request's lease of the same key.
const TURN_WAIT: Duration = Duration::from_millis(500);

pub struct Authenticator {
    default_limit: u32,
    pub cache: std::sync::Arc<KeyCache>,
    /// `lastUsedAt` values waiting for the next batched write.
    last_used: Mutex<HashMap<i64, DateTime<Utc>>>,
    /// Failed authentications per address in the current minute.
    failures: Mutex<(i64, HashMap<IpAddr, u32>)>,
    /// Hashes of keys that authenticated recently → until when they count as known.
    known_good: Mutex<HashMap<[u8; 32], i64>>,
}

impl Authenticator {
    pub fn new(default_limit: u32) -> Self {
        Authenticator {
            default_limit,
            cache: Default::default(),
            last_used: Mutex::new(HashMap::new()),
            failures: Mutex::new((0, HashMap::new())),
            known_good: Mutex::new(HashMap::new()),
        }
    }

    fn is_known_good(&self, hash: &[u8; 32], now: i64) -> bool {
        let map = self.known_good.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash).is_some_and(|&until| until > now)
    }

    fn set_known_good(&self, hash: [u8; 32], good: bool, now: i64) {
        let mut map = self.known_good.lock().unwrap_or_else(|e| e.into_inner());
        if !good {
            map.remove(&hash);
            return;
        }
        if map.len() >= MAX_KNOWN_GOOD && !map.contains_key(&hash) {
            map.retain(|_, until| *until > now);
            if map.len() >= MAX_KNOWN_GOOD {
                return;
            }
        }
        map.insert(hash, now + KNOWN_GOOD_SECONDS);
    }

    /// Whether requests from `addr` with keys not known to be good are refused this minute.
    fn throttled(&self, addr: Option<IpAddr>, minute: i64) -> bool {
        let Some(addr) = addr.map(crate::net::throttle_unit) else { return false };
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.0 != minute {
            *f = (minute, HashMap::new());
        }
        match f.1.get(&addr) {
            Some(&n) => n >= FAILED_AUTH_PER_MINUTE,
            None => f.1.len() >= MAX_TRACKED_ADDRESSES,
        }
    }

    /// Counts a well-formed key that the database did not know.
    fn record_failure(&self, addr: Option<IpAddr>, minute: i64) {
        let Some(addr) = addr.map(crate::net::throttle_unit) else { return };
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.0 != minute {
            *f = (minute, HashMap::new());
        }
        if f.1.len() < MAX_TRACKED_ADDRESSES || f.1.contains_key(&addr) {
            *f.1.entry(addr).or_insert(0) += 1;
        }
    }

    fn touch(&self, key_id: i64) {
        let mut map = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() < MAX_LAST_USED || map.contains_key(&key_id) {
            map.insert(key_id, Utc::now());
        }
    }

    /// Writes the `lastUsedAt` values gathered since the last call, in one statement.
    pub async fn flush_last_used(&self, db: &sqlx::PgPool) -> Result<(), sqlx::Error> {
        let batch: Vec<(i64, DateTime<Utc>)> = {
            let mut map = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
            map.drain().collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        let (ids, ats): (Vec<i64>, Vec<DateTime<Utc>>) = batch.into_iter().unzip();
        store::record_last_used(db, &ids, &ats).await
    }

    pub fn default_limit(&self) -> u32 {
        self.default_limit
    }
}

/// Runs the `lastUsedAt` flush every few seconds until shutdown, and once more at the end.
pub async fn last_used_flusher(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => break,
        }
        if let Err(e) = state.auth.flush_last_used(&state.db).await {
            tracing::warn!(error = %e, "could not record key last use");
        }
    }
    let _ = state.auth.flush_last_used(&state.db).await;
}

/// The database path: find the key and lease budget; `Err` is the response to send.
async fn lease(
    state: &AppState,
    hash: [u8; 32],
    now: i64,
    addr: Option<IpAddr>,
    minute: i64,
) -> Result<(AuthenticatedKey, Window), Response> {
    if state.auth.throttled(addr, minute) && !state.auth.is_known_good(&hash, now) {
        state.metrics.incr("klinivo_auth_throttled_total", 1);
        return Err(ApiError::AuthThrottled.into_response());
    }
    if let Some(window) = state.auth.cache.over_limit(&hash, now) {
        return Err(rate_limit::too_many(&window, now));
    }
    // Read before asking: a key change that commits while the lease is under way drops the
    // cache, and then what this lease returns must not be cached (`KeyCache::generation`).
    let generation = state.auth.cache.generation();
    let default_limit = i32::try_from(state.auth.default_limit).unwrap_or(i32::MAX);
    let found = store::authenticate_and_lease(&state.db, &hash, default_limit, MAX_LEASE)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let Some(found) = found else {
        state.auth.record_failure(addr, minute);
        state.auth.set_known_good(hash, false, now);
        state.auth.cache.forget(&hash);
        return Err(ApiError::InvalidApiKey.into_response());
    };
    state.auth.set_known_good(hash, true, now);
    let limit = u32::try_from(found.limit).unwrap_or(u32::MAX);
    if found.granted <= 0 {
        let window = Window::after(limit, found.count.max(found.limit), found.window_start);
        state.auth.cache.remember_over_limit(hash, &window, generation);
        return Err(rate_limit::too_many(&window, now));
    }
    let key = AuthenticatedKey {
        key_id: found.key_id,
        organization_id: found.organization_id,
        key_prefix: found.key_prefix,
        permissions: found.permissions.iter().filter_map(|p| Permission::parse(p)).collect(),
        rate_limit_per_minute: limit,
    };
    let window = state.auth.cache.store(
        hash,
        key.clone(),
        found.expires_at,
        limit,
        found.count,
        found.granted,
        found.window_start.timestamp(),
        generation,
    );
    Ok((key, window))
}

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let now = Utc::now().timestamp();
    let minute = now / 60;
    let addr = client_address::of(&req);
    let Some(raw) = req.headers().get("x-api-key") else {
        return ApiError::MissingApiKey.into_response();
    };
    // A header that is not even text is a wrong key, not a missing one. Malformed keys cost
    // nothing to refuse, so they are not counted by the throttle.
    let Ok(secret) = raw.to_str().map(str::trim) else {
        return ApiError::InvalidApiKey.into_response();
    };
    if secret.is_empty() {
        return ApiError::MissingApiKey.into_response();
    }
    if !keys::is_well_formed(secret) {
        return ApiError::InvalidApiKey.into_response();
    }
    let hash = keys::hash(secret);
    let (key, window) = match state.auth.cache.take(&hash, Utc::now()) {
        Some(hit) => hit,
        None => {
            // A lease normally takes milliseconds. One that does not (the database is
            // struggling) must not make every later request for the key queue behind it: past
            // TURN_WAIT, each asks on its own, as if there were no turn.
            let _turn = tokio::time::timeout(TURN_WAIT, state.auth.cache.turn(&hash)).await.ok();
            let found = match state.auth.cache.take(&hash, Utc::now()) {
                Some(hit) => Ok(hit),
                None => lease(&state, hash, now, addr, minute).await,
            };
            match found {
                Ok(found) => found,
                Err(response) => return response,
            }
        }
    };
    state.auth.touch(key.key_id);
    tracing::Span::current().record("key_prefix", key.key_prefix.as_str());
    req.extensions_mut().insert(key.clone());
    let mut response = next.run(req).await;
    rate_limit::set_headers(response.headers_mut(), &window);
    // For the layers outside this one (the audit log).
    response.extensions_mut().insert(key);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_throttle_map_throttles_new_addresses() {
        let auth = Authenticator::new(600);
        let minute = 1;
        for i in 0..MAX_TRACKED_ADDRESSES as u32 {
            auth.record_failure(Some(IpAddr::from(i.to_be_bytes())), minute);
        }
        let newcomer = Some(IpAddr::from([203, 0, 113, 77]));
        assert!(auth.throttled(newcomer, minute), "a full map let a new address through");
        // Tracked addresses under the threshold are not throttled.
        assert!(!auth.throttled(Some(IpAddr::from(5u32.to_be_bytes())), minute));
        // A new minute starts empty.
        assert!(!auth.throttled(newcomer, minute + 1));
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_count() {
        let auth = Authenticator::new(600);
        for i in 0..FAILED_AUTH_PER_MINUTE {
            let addr: IpAddr = format!("2001:db8:0:1::{:x}", i + 1).parse().unwrap();
            auth.record_failure(Some(addr), 7);
        }
        assert!(auth.throttled(Some("2001:db8:0:1:ffff::1".parse().unwrap()), 7));
        assert!(!auth.throttled(Some("2001:db8:0:2::1".parse().unwrap()), 7));
    }
}
