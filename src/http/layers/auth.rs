//! Authentication fused with rate limiting.
//!
//! `X-API-Key` → shape and checksum (no database) → SHA-256 → the key cache, else one statement
//! that finds the live key *and* leases part of its one-minute window's budget
//! (`auth::store::authenticate_and_lease`). The budget lives in one counter row shared by all
//! instances, so together they never grant more than the limit; small limits lease one request
//! at a time (an exact shared counter), large ones a share sized to the key's traffic
//! (`KeyCache::lease_size`), sparing the round trip. A cached key
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

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::client_address;
use super::rate_limit;
use crate::auth::window::Window;
use crate::auth::{keys, store, AuthenticatedKey, Permission};
use crate::http::error::ApiError;
use crate::state::AppState;

/// The longest a request waits for another request's lease of the same key.
const TURN_WAIT: Duration = Duration::from_millis(500);

/// The database path: find the key and lease budget; `Err` is the response to send. `ahead`:
/// asked for before the lease in hand is used up, for no request in particular.
async fn lease(
    state: &AppState,
    hash: [u8; 32],
    now: i64,
    addr: Option<IpAddr>,
    minute: i64,
    ahead: bool,
) -> Result<(AuthenticatedKey, Window), Response> {
    if state.auth.throttled(addr, minute) && !state.auth.is_known_good(&hash, now) {
        state.metrics.incr("klinivo_auth_throttled_total", 1);
        // The throttle counts in minutes aligned to the minute: it ends with this one.
        return Err(ApiError::AuthThrottled { retry_after: (minute + 1) * 60 - now }.into_response());
    }
    if let Some(window) = state.auth.cache.over_limit(&hash, now) {
        return Err(rate_limit::too_many(&window, now));
    }
    // Read before asking: a key change that commits while the lease is under way drops the
    // cache, and then what this lease returns must not be cached (`KeyCache::generation`).
    let generation = state.auth.cache.generation();
    let default_limit = i32::try_from(state.auth.default_limit()).unwrap_or(i32::MAX);
    let size = i32::try_from(state.auth.cache.lease_size(&hash)).unwrap_or(i32::MAX);
    let found = store::authenticate_and_lease(&state.db, &hash, default_limit, size)
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
        ahead,
    );
    Ok((key, window))
}

/// Leases the key's next requests in the background while half of its lease is left, so that
/// a busy key's requests do not all wait for the round trip when the lease runs out: with one
/// key on every connection, they did (bench/README.md, "Leasing ahead"). It takes the key's
/// turn, as a request would.
fn lease_ahead(state: &AppState, hash: [u8; 32], now: i64, addr: Option<IpAddr>, minute: i64) {
    let state = state.clone();
    tokio::spawn(async move {
        let _turn = tokio::time::timeout(TURN_WAIT, state.auth.cache.turn(&hash)).await.ok();
        if lease(&state, hash, now, addr, minute, true).await.is_err() {
            state.auth.cache.ahead_failed(&hash);
        }
    });
}

pub async fn authenticate<F: Future<Output = Response>>(
    state: &AppState,
    mut req: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
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
        Some((key, window, ahead)) => {
            if ahead {
                lease_ahead(state, hash, now, addr, minute);
            }
            (key, window)
        }
        None => {
            // A lease normally takes milliseconds. One that does not (the database is
            // struggling) must not make every later request for the key queue behind it: past
            // TURN_WAIT, each asks on its own, as if there were no turn.
            let _turn = tokio::time::timeout(TURN_WAIT, state.auth.cache.turn(&hash)).await.ok();
            let found = match state.auth.cache.take(&hash, Utc::now()) {
                Some((key, window, _)) => Ok((key, window)),
                None => lease(state, hash, now, addr, minute, false).await,
            };
            match found {
                Ok(found) => found,
                Err(response) => return response,
            }
        }
    };
    state.auth.touch(key.key_id);
    req.extensions_mut().insert(key.clone());
    let mut response = next(req).await;
    rate_limit::set_headers(response.headers_mut(), &window);
    // For the layers outside this one (the audit log).
    response.extensions_mut().insert(key);
    response
}
