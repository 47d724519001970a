//! The write layer: every POST, PATCH and DELETE runs in one transaction owned here, and
//! `Idempotency-Key` requests get Stripe's semantics.
//!
//! With a key, in five round trips for a first request (as many as a bare write with its event
//! and stored response): `BEGIN; pg_try_advisory_xact_lock(key); SAVEPOINT` in one → the
//! handler's statements → store the response, unless the lock was taken (`409
//! idempotency_key_in_use`, across all instances) or a live response is already stored → `COMMIT`.
//! When one is stored, the run is rolled back to the savepoint and the stored response decides:
//! same request, replay; different, `422`. The handler's writes, its events and the stored
//! response commit together; a 4xx rolls back to the savepoint so only the response is kept; a
//! 5xx rolls everything back and frees the key.
//!
//! Checking for a stored response after the handler rather than before saves a round trip on
//! every first request; a replay pays for it instead, by running the handler and undoing it
//! (every effect of a handler is a database write in this transaction, so nothing escapes).

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

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
    let mut request_hash = Vec::new();
    let tx = match &idempotency_key {
        Some(idem) => {
            request_hash = fingerprint(parts.method.as_str(), &parts.uri, &bytes);
            // One round trip: the transaction, the key's lock (its outcome kept in a
            // transaction-local setting, read back when the response is stored) and the
            // savepoint a 4xx or a replay rolls back to. Only an integer is spliced in.
            let begin = format!(
                "BEGIN; SELECT set_config('{LOCK_SETTING}', pg_try_advisory_xact_lock({})::text, true); \
                 SAVEPOINT handler",
                lock_id(key.key_id, idem)
            );
            crate::db::begin_with(&state.db, begin).await?
        }
        None => crate::db::begin_with(&state.db, "BEGIN".into()).await?,
    };

    let slot = TxSlot::new(tx);
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(slot.clone());
    let (response, queued) = crate::events::wake::noting_deliveries(next.run(req)).await;
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
    let outcome = sqlx::query!(
        r#"WITH stored AS (
               INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, status_code, response_body,
                                             response_location)
               SELECT $1, $2, $3, $4, $5, $6 WHERE current_setting($8)::boolean
               ON CONFLICT (api_key_id, idempotency_key) DO UPDATE
               SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
                   response_body = EXCLUDED.response_body, response_location = EXCLUDED.response_location,
                   created_at = now()
               WHERE idempotency_keys.created_at <= now() - make_interval(hours => $7)
               RETURNING 1
           )
           SELECT current_setting($8)::boolean AS "locked!",
                  EXISTS (SELECT FROM stored) AS "stored!""#,
        key.key_id,
        idem,
        request_hash,
        status.as_u16() as i16,
        &body[..],
        location,
        RETENTION_HOURS,
        LOCK_SETTING,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !outcome.locked {
        // Another request with this key holds it: whatever the handler did is undone.
        let _ = tx.rollback().await;
        return Err(ApiError::IdempotencyKeyInUse);
    }
    if outcome.stored {
        tx.commit().await?;
        if queued && !status.is_client_error() {
            state.wake.poke();
        }
        return Ok(Response::from_parts(parts, Body::from(body)));
    }
    // A response is already stored for this key: undo this run and answer from it.
    sqlx::query("ROLLBACK TO SAVEPOINT handler").execute(&mut *tx).await?;
    let stored = lookup(&mut tx, key.key_id, &idem).await?;
    let _ = tx.rollback().await;
    match stored {
        Some(stored) if stored.request_hash == request_hash => Ok(stored.replay()),
        Some(_) => Err(ApiError::IdempotencyKeyMismatch),
        None => Err(ApiError::internal("stored response vanished under the key's lock")),
    }
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

/// The transaction-local setting that holds whether this request got the key's lock.
const LOCK_SETTING: &str = "klinivo.idempotency_lock";

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
