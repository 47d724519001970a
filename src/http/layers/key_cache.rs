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
//! counter row. A request waits at most half a second for its turn (`auth::TURN_WAIT`): when
//! the database is slow to answer, requests ask on their own rather than in a queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::rate_limit::Window;
use crate::auth::AuthenticatedKey;

/// The longest a cached key is trusted without asking the database again.
pub const KEY_TTL: Duration = Duration::from_secs(1);
pub const CHANNEL: &str = "klinivo_keys";
const MAX_ENTRIES: usize = 100_000;

struct Entry {
    key: AuthenticatedKey,
    checked: Instant,
    expires_at: Option<DateTime<Utc>>,
    limit: u32,
    /// Requests leased in the window by all instances at our last lease.
    leased: i32,
    /// Of our lease, how many requests are left.
    tokens: u32,
    window_start: i64,
}

#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
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
    /// key unexpired, the window current, and a leased request left.
    pub fn take(&self, hash: &[u8; 32], now: DateTime<Utc>) -> Option<(AuthenticatedKey, Window)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get_mut(hash)?;
        let fresh = entry.checked.elapsed() < KEY_TTL
            && entry.expires_at.is_none_or(|e| e > now)
            && now.timestamp() < entry.window_start + 60;
        if !fresh || entry.tokens == 0 {
            return None;
        }
        entry.tokens -= 1;
        let window = window_of(entry);
        Some((entry.key.clone(), window))
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

    /// Records a fresh lease (one request of which the caller is about to use). Requests left
    /// of the previous lease in the same window are kept: the database counted them already.
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
            tokens: (granted.max(1) as u32 - 1).saturating_add(left),
            window_start,
        };
        let window = window_of(&entry);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.checked.elapsed() < KEY_TTL);
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(hash, entry);
        }
        window
    }

    pub fn forget(&self, hash: &[u8; 32]) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(hash);
    }

    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The window as the headers tell it: what the instances leased, less what we have not used.
fn window_of(entry: &Entry) -> Window {
    let used = (entry.leased - entry.tokens as i32).max(0) as u32;
    Window { limit: entry.limit, remaining: entry.limit.saturating_sub(used), reset: entry.window_start + 60 }
}

/// Listens for key changes and drops the cache on each (and whenever the connection was lost,
/// since notifications may have been missed), until shutdown.
pub async fn listen_for_key_changes(cache: std::sync::Arc<KeyCache>, db: sqlx::PgPool, stop: CancellationToken) {
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
                    Ok(_) => cache.clear(),
                    Err(_) => break,
                },
                _ = stop.cancelled() => return,
            }
        }
        cache.clear();
    }
}
