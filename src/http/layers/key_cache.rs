//! Authenticated keys, cached for at most a second, with the rate-limit budget leased to this
//! instance. A cached key serves requests without a database round trip while its lease lasts;
//! a change to a key (revocation, expiry, permissions, limit) is announced by a trigger on
//! `klinivo_keys` and drops the whole cache at once on every instance, and the one-second bound
//! holds even if a notification is lost.

use std::collections::HashMap;
use std::sync::Mutex;
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

    /// Records a fresh lease (one request of which the caller is about to use).
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
        let entry = Entry {
            key,
            checked: Instant::now(),
            expires_at,
            limit,
            leased,
            tokens: granted.max(1) as u32 - 1,
            window_start,
        };
        let window = window_of(&entry);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
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
