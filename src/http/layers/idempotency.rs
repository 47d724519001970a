//! The write layer: every POST, PATCH and DELETE runs in one transaction owned here, and
//! `Idempotency-Key` requests get Stripe's semantics.
//!
//! With a key, the first round trip claims it and opens the transaction:
//! `SELECT klinivo_idempotency_claim(…); BEGIN; SAVEPOINT handler` (migration 0067). The claim
//! takes the key's advisory lock (held by the transaction, across all instances) and refuses
//! before anything runs when another request holds it (`409 idempotency_key_in_use`) or a live
//! response is stored; then the stored response answers (same request: replay; different:
//! `422`) and the handler never runs, so nothing it does outside the database happens twice.
//! Otherwise the handler runs, its response is stored, and `COMMIT`: the handler's writes, its
//! events and the stored response commit together. A 4xx rolls back to the savepoint so only
//! the response is kept; a 5xx rolls everything back and frees the key.

use std::future::Future;

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::auth::AuthenticatedKey;
use crate::http::error::ApiError;
use crate::http::tx::TxSlot;
use crate::http::BODY_LIMIT;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
/// Stored responses are replayed for this long.
pub const RETENTION_HOURS: i32 = 24;

pub async fn write_transaction<F: Future<Output = Response>>(
    state: &AppState,
    req: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let method = req.method().clone();
    if !matches!(method, Method::POST | Method::PATCH | Method::PUT | Method::DELETE) {
        return next(req).await;
    }
    let Some(key) = req.extensions().get::<AuthenticatedKey>().cloned() else {
        return next(req).await;
    };
    let idempotency_key = if matches!(method, Method::POST | Method::PATCH) {
        match req.headers().get(HEADER).map(validate_key) {
            None => None,
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => return e.into_response(),
        }
    } else {
        None
    };
    match run(state, key, idempotency_key, req, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn validate_key(value: &HeaderValue) -> Result<String, ApiError> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ApiError::validation("Idempotency-Key", "must be 1 to 255 printable ASCII characters"));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

async fn run<F: Future<Output = Response>>(
    state: &AppState,
    key: AuthenticatedKey,
    idempotency_key: Option<String>,
    req: Request,
    next: impl FnOnce(Request) -> F,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| ApiError::PayloadTooLarge)?;
    let mut request_hash = Vec::new();
    let tx = match &idempotency_key {
        Some(idem) => {
            request_hash = fingerprint(parts.method.as_str(), &parts.uri, &bytes);
            match claim(state, &key, idem, &request_hash).await? {
                Claim::Run(tx) => tx,
                Claim::Answered(response) => return Ok(response),
            }
        }
        None => crate::db::begin_with(&state.db, "BEGIN".into()).await?,
    };

    let slot = TxSlot::new(tx);
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(slot.clone());
    let (response, queued) = crate::events::wake::noting_deliveries(next(req)).await;
    let Some(mut tx) = slot.take().await else {
        return Err(ApiError::internal("handler kept the transaction"));
    };

    let status = response.status();
    let Some(idem) = idempotency_key else {
        if status.is_success() || status.is_redirection() {
            tx.commit().await?;
            if queued {
                state.wake.poke();
            }
        } else {
            let _ = tx.rollback().await;
        }
        return Ok(response);
    };
    if status.is_server_error() {
        let _ = tx.rollback().await;
        return Ok(response);
    }

    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.map_err(ApiError::internal)?;
    if status.is_client_error() {
        sqlx::query("ROLLBACK TO SAVEPOINT handler").execute(&mut *tx).await?;
    }
    let location = parts.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    // The claim found no live response and the lock has been held since, so nothing can be
    // stored but an expired response, which this one replaces.
    let stored = sqlx::query!(
        "INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, status_code, response_body,
                                       response_location)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (api_key_id, idempotency_key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
             response_body = EXCLUDED.response_body, response_location = EXCLUDED.response_location,
             created_at = now()
         WHERE idempotency_keys.created_at <= now() - make_interval(hours => $7)",
        key.key_id,
        idem,
        request_hash,
        status.as_u16() as i16,
        &body[..],
        location,
        RETENTION_HOURS,
    )
    .execute(&mut *tx)
    .await?;
    if stored.rows_affected() != 1 {
        let _ = tx.rollback().await;
        return Err(ApiError::internal("a live response was stored under the key's lock"));
    }
    tx.commit().await?;
    if queued && !status.is_client_error() {
        state.wake.poke();
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// What claiming a key decided: run the handler in this transaction, or answer already.
enum Claim {
    Run(sqlx::Transaction<'static, sqlx::Postgres>),
    Answered(Response),
}

/// SQLSTATEs raised by `klinivo_idempotency_claim`.
const IN_USE: &str = "KL409";
const STORED: &str = "KL200";

/// Claims the key and opens the transaction in one round trip; when a response is stored,
/// answers from it (a second round trip, paid only by retries).
async fn claim(state: &AppState, key: &AuthenticatedKey, idem: &str, request_hash: &[u8]) -> Result<Claim, ApiError> {
    // Only an integer and the key as hex digits are spliced in: nothing a client sends can
    // change the statement.
    let begin = format!(
        "SELECT klinivo_idempotency_claim({}, convert_from(decode('{}', 'hex'), 'UTF8'), {}, {RETENTION_HOURS}); \
         BEGIN; SAVEPOINT handler",
        key.key_id,
        hex::encode(idem),
        lock_id(key.key_id, idem)
    );
    // A stored response may expire between the claim and its lookup; then the key is free and
    // the next claim runs the request.
    for _ in 0..2 {
        match crate::db::begin_with(&state.db, begin.clone()).await {
            Ok(tx) => return Ok(Claim::Run(tx)),
            Err(e) => match raised(&e) {
                Some(IN_USE) => return Err(ApiError::IdempotencyKeyInUse),
                Some(STORED) => match lookup(&state.db, key.key_id, idem).await? {
                    Some(stored) if stored.request_hash == request_hash => return Ok(Claim::Answered(stored.replay())),
                    Some(_) => return Err(ApiError::IdempotencyKeyMismatch),
                    None => continue,
                },
                _ => return Err(e.into()),
            },
        }
    }
    Err(ApiError::IdempotencyKeyInUse)
}

fn raised(e: &sqlx::Error) -> Option<&'static str> {
    let code = e.as_database_error()?.code()?;
    [IN_USE, STORED].into_iter().find(|c| *c == code)
}

/// Method, path and body; the body's JSON is canonicalised (object keys sorted) so that
/// a client re-serialising the same request is still "the same request".
fn fingerprint(method: &str, uri: &axum::http::Uri, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(uri.path().as_bytes());
    h.update([0]);
    h.update(uri.query().unwrap_or("").as_bytes());
    h.update([0]);
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => canonical(&value, &mut h),
        Err(_) => h.update(body),
    }
    h.finalize().to_vec()
}

fn canonical(value: &serde_json::Value, h: &mut Sha256) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            h.update(b"{");
            for (k, v) in entries {
                h.update(serde_json::to_string(k).unwrap_or_default().as_bytes());
                h.update(b":");
                canonical(v, h);
                h.update(b",");
            }
            h.update(b"}");
        }
        serde_json::Value::Array(items) => {
            h.update(b"[");
            for v in items {
                canonical(v, h);
                h.update(b",");
            }
            h.update(b"]");
        }
        other => h.update(other.to_string().as_bytes()),
    }
}

/// The advisory lock that serialises requests with one key (across instances).
fn lock_id(key_id: i64, idem: &str) -> i64 {
    let digest = Sha256::digest(format!("{key_id}\0{idem}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

struct Stored {
    request_hash: Vec<u8>,
    status_code: i16,
    response_body: Vec<u8>,
    response_location: Option<String>,
}

impl Stored {
    fn replay(self) -> Response {
        let status = StatusCode::from_u16(self.status_code as u16).unwrap_or(StatusCode::OK);
        let mut response = (status, self.response_body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        if let Some(location) = self.response_location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        response
    }
}

async fn lookup(db: &sqlx::PgPool, key_id: i64, idem: &str) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as!(
        Stored,
        "SELECT request_hash, status_code, response_body, response_location FROM idempotency_keys
         WHERE api_key_id = $1 AND idempotency_key = $2 AND created_at > now() - make_interval(hours => $3)",
        key_id,
        idem,
        RETENTION_HOURS
    )
    .fetch_optional(db)
    .await
}

/// Deletes stored responses older than the retention; run periodically in the background.
pub async fn purge_expired(db: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
        RETENTION_HOURS
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
