//! What authentication remembers between requests: the key cache with its leases, the
//! failed-authentication throttle per client address, keys known to be good, and `lastUsedAt`
//! values waiting for their batched write. The HTTP layer (`http::layers::auth`) consults it;
//! every map here is capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::key_cache::KeyCache;
use super::store;

/// Failed authentications one address may make per minute before it is throttled.
pub const FAILED_AUTH_PER_MINUTE: u32 = 100;
const MAX_TRACKED_ADDRESSES: usize = 100_000;
/// Keys that authenticated within this many seconds pass a throttled address.
const KNOWN_GOOD_SECONDS: i64 = 600;
const MAX_KNOWN_GOOD: usize = 100_000;
/// Keys whose `lastUsedAt` waits for the next batched write (only keys that authenticated).
const MAX_LAST_USED: usize = 100_000;

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

    pub fn is_known_good(&self, hash: &[u8; 32], now: i64) -> bool {
        let map = self.known_good.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash).is_some_and(|&until| until > now)
    }

    pub fn set_known_good(&self, hash: [u8; 32], good: bool, now: i64) {
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
    pub fn throttled(&self, addr: Option<IpAddr>, minute: i64) -> bool {
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
    pub fn record_failure(&self, addr: Option<IpAddr>, minute: i64) {
        let Some(addr) = addr.map(crate::net::throttle_unit) else { return };
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.0 != minute {
            *f = (minute, HashMap::new());
        }
        if f.1.len() < MAX_TRACKED_ADDRESSES || f.1.contains_key(&addr) {
            *f.1.entry(addr).or_insert(0) += 1;
        }
    }

    pub fn touch(&self, key_id: i64) {
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
pub async fn last_used_flusher(auth: Arc<Authenticator>, db: PgPool, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => break,
        }
        if let Err(e) = auth.flush_last_used(&db).await {
            tracing::warn!(error = %e, "could not record key last use");
        }
    }
    let _ = auth.flush_last_used(&db).await;
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
