//! Authenticated keys, cached for at most a second, with the rate-limit budget leased to this
//! instance. A cached key serves requests without a database round trip while its lease lasts;
//! a change to a key (revocation, expiry, permissions, limit) is announced by a trigger on
//! `klinivo_keys` and drops the whole cache at once on every instance, and the one-second bound
//! holds even if a notification is lost.
//!
//! Each instance asks the database for one key's lease one request at a time ([`KeyCache::turn`]):
//! when a busy key's lease runs out, the requests in flight wait for the one lease under way
//! instead of each taking a lease of its own. Parallel leases would each take a share of the
//! window's budget and all but the last would be forgotten, so a key with a limit of 1,000 a
//! minute could see `429` after a few hundred requests; they would also queue on the key's one
//! counter row. A request waits at most half a second for its turn (`http::layers::auth::TURN_WAIT`): when
//! the database is slow to answer, requests ask on their own rather than in a queue.
//!
//! A lease is sized to the key's traffic on this instance ([`KeyCache::lease_size`]): about
//! [`LEASE_SPAN`] of it, at least [`MIN_LEASE`] and at most [`MAX_LEASE`] requests (and never
//! more than the statement allows: a twentieth of the limit). A quiet key keeps small leases, so
//! instances sharing it hold little of its budget unused; a busy one asks a few times a second
//! rather than every few milliseconds, when the round trip would outlast the lease.
//!
//! Keys over their limit are remembered here too, so that a flood over the limit is refused
//! from memory; each is asked about again after [`KEY_TTL`] and dropped with the rest on a key
//! change, so a revoked key's `429` becomes `401` at once. A lease that was under way when a key
//! change dropped the cache is not stored ([`KeyCache::generation`]): its answer may predate the
//! change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::window::Window;
use super::AuthenticatedKey;

/// The longest a cached key is trusted without asking the database again.
pub const KEY_TTL: Duration = Duration::from_secs(1);
pub const CHANNEL: &str = "klinivo_keys";
const MAX_ENTRIES: usize = 100_000;
const MAX_OVER_LIMIT: usize = 10_000;
/// The smallest lease asked for (a key's limit may make it smaller).
pub const MIN_LEASE: u32 = 100;
/// The largest lease asked for.
pub const MAX_LEASE: u32 = 5_000;
/// How much of a key's traffic one lease should cover (bench/README.md, "Leasing ahead").
pub const LEASE_SPAN: Duration = Duration::from_millis(250);

struct Entry {
    key: AuthenticatedKey,
    checked: Instant,
    expires_at: Option<DateTime<Utc>>,
    limit: u32,
    /// Requests leased in the window by all instances at our last lease.
    leased: i32,
    /// Of our lease, how many requests are left.
    tokens: u32,
    /// How many requests the last lease granted.
    granted: u32,
    /// The next lease is being asked for ahead of need.
    refreshing: bool,
    /// Requests served since `checked`, the last lease: the key's rate on this instance.
    served: u32,
    window_start: i64,
}

/// A key over its limit: refused from memory until `reset`, re-checked after [`KEY_TTL`].
struct OverLimit {
    limit: u32,
    reset: i64,
    checked: Instant,
}

#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    over_limit: Mutex<HashMap<[u8; 32], OverLimit>>,
    /// Bumped by every [`KeyCache::clear`]; a lease read under an older generation is not stored.
    generation: AtomicU64,
    /// Keys whose lease is being asked for on this instance, and the turn to ask.
    leasing: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
}

/// The right to ask the database for one key's lease; dropped when the lease is stored.
pub struct Turn<'a> {
    cache: &'a KeyCache,
    hash: [u8; 32],
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut leasing = self.cache.leasing.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map holds the lock now: no one is waiting for this key.
        if leasing.get(&self.hash).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            leasing.remove(&self.hash);
        }
    }
}

impl KeyCache {
    /// Serves one request from the cache: the key and its window, if the entry is fresh, the
    /// key unexpired, the window current, and a leased request left. The flag says that the
    /// caller should lease again now, ahead of need ([`KeyCache::store_ahead`]): half of a lease
    /// of several requests is used, and no one is asking yet.
    pub fn take(&self, hash: &[u8; 32], now: DateTime<Utc>) -> Option<(AuthenticatedKey, Window, bool)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get_mut(hash)?;
        let fresh = entry.checked.elapsed() < KEY_TTL
            && entry.expires_at.is_none_or(|e| e > now)
            && now.timestamp() < entry.window_start + 60;
        if !fresh || entry.tokens == 0 {
            return None;
        }
        entry.tokens -= 1;
        entry.served = entry.served.saturating_add(1);
        let ahead = entry.granted > 1 && entry.tokens <= entry.granted / 2 && !entry.refreshing;
        entry.refreshing |= ahead;
        let window = window_of(entry);
        Some((entry.key.clone(), window, ahead))
    }

    /// How many requests to ask for in the next lease of `hash`: what this instance served of
    /// the key in the last [`LEASE_SPAN`], going by the rate since its last lease, within
    /// [`MIN_LEASE`]..=[`MAX_LEASE`]. A key not cached starts at the smallest.
    pub fn lease_size(&self, hash: &[u8; 32]) -> u32 {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = entries.get(hash) else {
            return MIN_LEASE;
        };
        let elapsed = entry.checked.elapsed().max(Duration::from_millis(1));
        let wanted = u128::from(entry.served) * LEASE_SPAN.as_micros() / elapsed.as_micros();
        u32::try_from(wanted).unwrap_or(u32::MAX).clamp(MIN_LEASE, MAX_LEASE)
    }

    /// A lease asked for ahead of need failed: the next request that finds the lease half used
    /// asks again (or, once it is all used, waits for its own).
    pub fn ahead_failed(&self, hash: &[u8; 32]) {
        if let Some(entry) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get_mut(hash) {
            entry.refreshing = false;
        }
    }

    /// Waits for this instance's turn to lease for `hash`. After it, `take` again first: the
    /// request ahead may have stored a lease this one can use.
    pub async fn turn(&self, hash: &[u8; 32]) -> Turn<'_> {
        let lock = {
            let mut leasing = self.leasing.lock().unwrap_or_else(|e| e.into_inner());
            leasing.entry(*hash).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        Turn { cache: self, hash: *hash, guard: Some(guard) }
    }

    /// Records a fresh lease (one request of which the caller is about to use, unless it was
    /// asked for ahead of need: `ahead`). Requests left of the previous lease in the same
    /// window are kept: the database counted them already.
    #[allow(clippy::too_many_arguments)]
    pub fn store(
        &self,
        hash: [u8; 32],
        key: AuthenticatedKey,
        expires_at: Option<DateTime<Utc>>,
        limit: u32,
        leased: i32,
        granted: i32,
        window_start: i64,
        generation: u64,
        ahead: bool,
    ) -> Window {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let left = entries
            .get(&hash)
            .filter(|old| old.window_start == window_start && old.key.key_id == key.key_id)
            .map_or(0, |old| old.tokens);
        let entry = Entry {
            key,
            checked: Instant::now(),
            expires_at,
            limit,
            leased,
            tokens: (granted.max(1) as u32 - u32::from(!ahead)).saturating_add(left),
            granted: granted.max(1) as u32,
            refreshing: false,
            served: 0,
            window_start,
        };
        let window = window_of(&entry);
        // Compared under the lock that `clear` takes, so a clear cannot slip in between.
        if self.generation.load(Ordering::Acquire) != generation {
            return window;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.checked.elapsed() < KEY_TTL);
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(hash, entry);
        }
        window
    }

    /// The generation to pass to `store` and `remember_over_limit`: read it before asking the
    /// database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The window of a key known to be over its limit, if it still is and was checked recently.
    pub fn over_limit(&self, hash: &[u8; 32], now: i64) -> Option<Window> {
        let mut map = self.over_limit.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(hash) {
            Some(o) if now < o.reset && o.checked.elapsed() < KEY_TTL => {
                Some(Window { limit: o.limit, remaining: 0, reset: o.reset })
            }
            Some(_) => {
                map.remove(hash);
                None
            }
            None => None,
        }
    }

    pub fn remember_over_limit(&self, hash: [u8; 32], window: &Window, generation: u64) {
        let mut map = self.over_limit.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= MAX_OVER_LIMIT && !map.contains_key(&hash) {
            map.retain(|_, o| o.checked.elapsed() < KEY_TTL);
            if map.len() >= MAX_OVER_LIMIT {
                return;
            }
        }
        map.insert(hash, OverLimit { limit: window.limit, reset: window.reset, checked: Instant::now() });
    }

    pub fn forget(&self, hash: &[u8; 32]) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(hash);
        self.over_limit.lock().unwrap_or_else(|e| e.into_inner()).remove(hash);
    }

    /// Drops every cached key and over-limit mark (a key changed somewhere).
    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut over_limit = self.over_limit.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        over_limit.clear();
    }
}

/// The window as the headers tell it: what the instances leased, less what we have not used.
fn window_of(entry: &Entry) -> Window {
    let used = (entry.leased - entry.tokens as i32).max(0) as u32;
    Window { limit: entry.limit, remaining: entry.limit.saturating_sub(used), reset: entry.window_start + 60 }
}

/// Listens for key changes and drops the cache on each (and whenever the connection was lost,
/// since notifications may have been missed), until shutdown.
///
/// The listener's connection is also the first to learn that the database went away: losing it
/// marks the database down (`db::health`), so requests answer `503` at once rather than after the
/// pool's acquire timeout; the prober marks it up again when it answers.
pub async fn listen_for_key_changes(
    cache: std::sync::Arc<KeyCache>,
    db: sqlx::PgPool,
    health: std::sync::Arc<crate::db::health::DbHealth>,
    stop: CancellationToken,
) {
    loop {
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "key-change listener cannot connect; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.cancelled() => return,
                }
            }
        };
        if listener.listen(CHANNEL).await.is_err() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        cache.clear();
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(_)) => cache.clear(),
                    // The connection was lost (the next call reconnects): notifications may
                    // have been missed, and the database may be gone.
                    Ok(None) => {
                        cache.clear();
                        health.mark_down();
                    }
                    Err(_) => {
                        health.mark_down();
                        break;
                    }
                },
                _ = stop.cancelled() => return,
            }
        }
        cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuthenticatedKey {
        AuthenticatedKey {
            key_id: 1,
            organization_id: uuid::Uuid::nil(),
            key_prefix: "kv_abcdefgh".into(),
            permissions: Vec::new(),
            rate_limit_per_minute: 10,
        }
    }

    #[test]
    fn the_next_lease_is_asked_for_once_half_of_one_is_used() {
        let cache = KeyCache::default();
        let now = Utc::now();
        let window_start = now.timestamp() - now.timestamp() % 60;
        let generation = cache.generation();
        // A lease of 10: the request that asked uses one, 9 are left.
        cache.store([1; 32], key(), None, 1000, 10, 10, window_start, generation, false);
        let ahead: Vec<bool> = (0..6).map(|_| cache.take(&[1; 32], now).unwrap().2).collect();
        assert_eq!(ahead, [false, false, false, true, false, false], "asked once, at 5 left");
        // The lease asked ahead adds its 10 to the 3 left, none used by the asking.
        cache.store([1; 32], key(), None, 1000, 20, 10, window_start, generation, true);
        let left = (0..).take_while(|_| cache.take(&[1; 32], now).is_some()).count();
        assert_eq!(left, 13);
        // A failed lease ahead lets the next request ask again.
        cache.store([1; 32], key(), None, 1000, 30, 8, window_start, generation, false);
        let ahead: Vec<bool> = (0..4).map(|_| cache.take(&[1; 32], now).unwrap().2).collect();
        assert_eq!(ahead, [false, false, true, false]);
        cache.ahead_failed(&[1; 32]);
        assert!(cache.take(&[1; 32], now).unwrap().2);
    }

    #[test]
    fn leases_follow_the_keys_traffic() {
        let cache = KeyCache::default();
        let now = Utc::now();
        let window_start = now.timestamp() - now.timestamp() % 60;
        assert_eq!(cache.lease_size(&[1; 32]), MIN_LEASE, "a key not seen yet");
        cache.store([1; 32], key(), None, 1_000_000, 100, 100, window_start, cache.generation(), false);
        for _ in 0..50 {
            cache.take(&[1; 32], now).unwrap();
        }
        // 50 requests within a few microseconds: far more than MAX_LEASE in a LEASE_SPAN.
        assert_eq!(cache.lease_size(&[1; 32]), MAX_LEASE);
        std::thread::sleep(LEASE_SPAN * 2);
        // 50 requests in half a second: 25 a span, less than the smallest lease.
        assert_eq!(cache.lease_size(&[1; 32]), MIN_LEASE);
        cache.store([1; 32], key(), None, 1_000_000, 200, 100, window_start, cache.generation(), true);
        assert_eq!(cache.lease_size(&[1; 32]), MIN_LEASE, "a new lease starts counting afresh");
    }

    #[test]
    fn a_key_limited_to_one_request_per_lease_never_leases_ahead() {
        let cache = KeyCache::default();
        let now = Utc::now();
        let window_start = now.timestamp() - now.timestamp() % 60;
        cache.store([1; 32], key(), None, 10, 1, 1, window_start, cache.generation(), true);
        assert!(!cache.take(&[1; 32], now).unwrap().2);
        assert!(cache.take(&[1; 32], now).is_none());
    }

    #[test]
    fn a_lease_that_straddles_a_key_change_is_not_stored() {
        let cache = KeyCache::default();
        let now = Utc::now();
        let window_start = now.timestamp() - now.timestamp() % 60;
        let generation = cache.generation();
        cache.clear(); // a revocation's notification arrives while the lease is under way
        cache.store([1; 32], key(), None, 10, 5, 5, window_start, generation, false);
        assert!(cache.take(&[1; 32], now).is_none(), "a key cached from before the change");
        let over = Window { limit: 10, remaining: 0, reset: window_start + 60 };
        cache.remember_over_limit([1; 32], &over, generation);
        assert!(cache.over_limit(&[1; 32], now.timestamp()).is_none());

        let generation = cache.generation();
        cache.store([1; 32], key(), None, 10, 5, 5, window_start, generation, false);
        assert!(cache.take(&[1; 32], now).is_some());
        cache.remember_over_limit([2; 32], &over, generation);
        assert!(cache.over_limit(&[2; 32], now.timestamp()).is_some());
        cache.clear();
        assert!(cache.take(&[1; 32], now).is_none());
        assert!(cache.over_limit(&[2; 32], now.timestamp()).is_none(), "a key change must end a cached 429");
    }
}
