//! The write layer: every POST, PATCH and DELETE runs in one transaction owned here, and
//! `Idempotency-Key` requests get Stripe's semantics.
//!
//! With a key: `BEGIN` → `pg_try_advisory_xact_lock(key)` (taken: `409 idempotency_key_in_use`,
//! across all instances) → look up the stored response (same request: replay; different:
//! `422`) → `SAVEPOINT` → handler → store the response → `COMMIT`. The handler's writes, its
//! events and the stored response commit together; a 4xx rolls back to the savepoint so only
//! the response is kept; a 5xx rolls everything back and frees the key.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::auth::AuthenticatedKey;
use crate::db::tx::TxSlot;
use crate::http::error::ApiError;
use crate::http::BODY_LIMIT;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
/// Stored responses are replayed for this long.
pub const RETENTION_HOURS: i32 = 24;

pub async fn write_transaction(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if !matches!(method, Method::POST | Method::PATCH | Method::PUT | Method::DELETE) {
        return next.run(req).await;
    }
    let Some(key) = req.extensions().get::<AuthenticatedKey>().cloned() else {
        return next.run(req).await;
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

async fn run(
    state: AppState,
    key: AuthenticatedKey,
    idempotency_key: Option<String>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| ApiError::PayloadTooLarge)?;
    let mut tx = state.db.begin().await?;

    let mut request_hash = Vec::new();
    if let Some(idem) = &idempotency_key {
        request_hash = fingerprint(parts.method.as_str(), &parts.uri, &bytes);
        if !try_lock(&mut tx, key.key_id, idem).await? {
            return Err(ApiError::IdempotencyKeyInUse);
        }
        if let Some(stored) = lookup(&mut tx, key.key_id, idem).await? {
            if stored.request_hash != request_hash {
                return Err(ApiError::IdempotencyKeyMismatch);
            }
            return Ok(stored.replay());
        }
        sqlx::query("SAVEPOINT handler").execute(&mut *tx).await?;
    }

    let slot = TxSlot::new(tx);
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(slot.clone());
    let response = next.run(req).await;
    let Some(mut tx) = slot.take().await else {
        return Err(ApiError::internal("handler kept the transaction"));
    };

    let status = response.status();
    if status.is_server_error() {
        let _ = tx.rollback().await;
        return Ok(response);
    }
    let Some(idem) = idempotency_key else {
        if status.is_success() || status.is_redirection() {
            tx.commit().await?;
        } else {
            let _ = tx.rollback().await;
        }
        return Ok(response);
    };

    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.map_err(ApiError::internal)?;
    if status.is_client_error() {
        sqlx::query("ROLLBACK TO SAVEPOINT handler").execute(&mut *tx).await?;
    }
    let location = parts.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    sqlx::query!(
        "INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, status_code, response_body,
                                       response_location)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (api_key_id, idempotency_key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
             response_body = EXCLUDED.response_body, response_location = EXCLUDED.response_location,
             created_at = now()",
        key.key_id,
        idem,
        request_hash,
        status.as_u16() as i16,
        &body[..],
        location,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Response::from_parts(parts, Body::from(body)))
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

async fn try_lock(tx: &mut Transaction<'static, Postgres>, key_id: i64, idem: &str) -> Result<bool, sqlx::Error> {
    let digest = Sha256::digest(format!("{key_id}\0{idem}").as_bytes());
    let lock_id = i64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]));
    let locked: Option<bool> =
        sqlx::query_scalar!("SELECT pg_try_advisory_xact_lock($1)", lock_id).fetch_one(&mut **tx).await?;
    Ok(locked.unwrap_or(false))
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

async fn lookup(conn: &mut PgConnection, key_id: i64, idem: &str) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as!(
        Stored,
        "SELECT request_hash, status_code, response_body, response_location FROM idempotency_keys
         WHERE api_key_id = $1 AND idempotency_key = $2 AND created_at > now() - make_interval(hours => $3)",
        key_id,
        idem,
        RETENTION_HOURS
    )
    .fetch_optional(conn)
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
