//! The limit Klinivo is measured against: a bare axum + sqlx server over the same database,
//! doing the least each request can do, tuned as well as a bare server can be: a warm pool
//! (every connection opened before the first request, no ping on acquire) and statements
//! prepared once per connection (sqlx caches them).
//!
//!   GET  /plain                    static JSON (no database)
//!   GET  /select/{id}              one SELECT of a patient by primary key, as JSON
//!   GET  /select-direct/{id}       the same SELECT on connections kept outside sqlx's pool, so
//!                                  that none is pinged when it is given back (Klinivo's reads by
//!                                  id do the same: `db::direct`)
//!   POST /insert                   one INSERT of the patient in the body, as JSON
//!   GET  /auth-select/{id}         key lookup by hash, then the SELECT
//!   GET  /auth-count-select/{id}   Klinivo's fused key lookup + rate-limit count, then the SELECT
//!   POST /tx3                      one transaction: INSERT patient, its outbox event, an
//!                                  idempotency record (Klinivo's POST /patients without HTTP layers)
//!   POST /same-sql/patients        exactly the statements `POST /api/v1/patients` with an
//!                                  Idempotency-Key sends, in the same round trips: the key's
//!                                  claim with BEGIN and the savepoint, the INSERT, the outbox
//!                                  event, the stored response, COMMIT
//!
//! `bench-bare [ADDR]` (or BENCH_BARE_BIND), DATABASE_URL, BENCH_POOL (default 16), BENCH_ORG
//! (default: the first organization), BENCH_KEY_ID (default: first key).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use klinivo::events::{self, EventType};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone)]
struct App {
    db: PgPool,
    /// The same number of connections as the pool, handed out without a ping on return.
    direct: std::sync::Arc<Direct>,
    org: Uuid,
    key_id: i64,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Patient {
    id: i64,
    external_id: Option<String>,
    first_name: String,
    last_name: String,
    date_of_birth: Option<NaiveDate>,
    sex: String,
    email: Option<String>,
    phone: Option<String>,
    #[sqlx(flatten)]
    address: Address,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, Default, sqlx::FromRow)]
#[serde(rename_all = "camelCase", default)]
struct Address {
    #[sqlx(rename = "address_line1")]
    line1: Option<String>,
    #[sqlx(rename = "address_line2")]
    line2: Option<String>,
    #[sqlx(rename = "address_city")]
    city: Option<String>,
    #[sqlx(rename = "address_region")]
    region: Option<String>,
    #[sqlx(rename = "address_postal_code")]
    postal_code: Option<String>,
    #[sqlx(rename = "address_country")]
    country: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewPatient {
    first_name: String,
    last_name: String,
    date_of_birth: Option<NaiveDate>,
    sex: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    #[serde(default)]
    address: Address,
}

struct Direct {
    url: String,
    idle: std::sync::Mutex<Vec<sqlx::PgConnection>>,
    permits: tokio::sync::Semaphore,
}

/// A connection out of [`Direct`], back in it when dropped, even half-way through a statement
/// (a client that went away): sqlx reads what is left before the connection's next statement.
struct Lent<'a>(&'a Direct, Option<sqlx::PgConnection>);

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.1.take() {
            self.0.idle.lock().unwrap().push(conn);
        }
    }
}

impl Direct {
    async fn open(url: &str, size: usize) -> Result<Self, sqlx::Error> {
        use sqlx::Connection;
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(sqlx::PgConnection::connect(url).await?);
        }
        Ok(Direct {
            url: url.to_string(),
            idle: std::sync::Mutex::new(idle),
            permits: tokio::sync::Semaphore::new(size),
        })
    }

    async fn select(&self, org: Uuid, id: i64) -> Reply {
        use sqlx::Connection;
        let _permit = self.permits.acquire().await.map_err(fail)?;
        let conn = self.idle.lock().unwrap().pop();
        let conn = match conn {
            Some(c) => c,
            None => sqlx::PgConnection::connect(&self.url).await.map_err(fail)?,
        };
        let mut lent = Lent(self, Some(conn));
        let conn = lent.1.as_mut().expect("lent");
        let row = sqlx::query_as::<_, Patient>(SELECT).bind(org).bind(id).fetch_optional(&mut *conn).await;
        if row.is_err() {
            // Not given back: the next select opens a fresh one.
            lent.1 = None;
        }
        match row.map_err(fail)? {
            Some(p) => Ok((StatusCode::OK, Json(serde_json::to_value(p).map_err(fail)?))),
            None => Err((StatusCode::NOT_FOUND, Json(json!({"error": "not_found", "message": "no such patient"})))),
        }
    }
}

macro_rules! columns {
    () => {
        "id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1, \
         address_line2, address_city, address_region, address_postal_code, address_country, created_at, updated_at"
    };
}

const SELECT: &str = concat!("SELECT ", columns!(), " FROM patients WHERE organization_id = $1 AND id = $2");

const INSERT: &str = concat!(
    "INSERT INTO patients (organization_id, first_name, last_name, date_of_birth, sex, email, phone,
         address_line1, address_line2, address_city, address_region, address_postal_code, address_country,
         search_text, search_stale)
     VALUES ($1, $2, $3, $4, coalesce($5, 'unknown'), $6, $7, $8, $9, $10, $11, $12, $13, $14, false)
     RETURNING ",
    columns!()
);

// The statements of `POST /api/v1/patients`, as `domain::patients` and the write layer
// (`http::layers::idempotency`) send them.
const KLINIVO_INSERT: &str =
    "INSERT INTO patients (organization_id, external_id, first_name, last_name, date_of_birth, sex, email, phone,
                               address_line1, address_line2, address_city, address_region, address_postal_code,
                               address_country, search_text, search_stale)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, false)
         RETURNING id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1,
                   address_line2, address_city, address_region, address_postal_code, address_country,
                   created_at, updated_at";
const KLINIVO_STORE: &str =
    "INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, status_code, response_body,
                                       response_location)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (api_key_id, idempotency_key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
             response_body = EXCLUDED.response_body, response_location = EXCLUDED.response_location,
             created_at = now()
         WHERE idempotency_keys.created_at <= now() - make_interval(hours => $7)";

type Reply = Result<(StatusCode, Json<Value>), (StatusCode, Json<Value>)>;

fn fail(e: impl std::fmt::Display) -> (StatusCode, Json<Value>) {
    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "internal_error", "message": e.to_string()})))
}

async fn select(db: &PgPool, org: Uuid, id: i64) -> Reply {
    match sqlx::query_as::<_, Patient>(SELECT).bind(org).bind(id).fetch_optional(db).await.map_err(fail)? {
        Some(p) => Ok((StatusCode::OK, Json(serde_json::to_value(p).map_err(fail)?))),
        None => Err((StatusCode::NOT_FOUND, Json(json!({"error": "not_found", "message": "no such patient"})))),
    }
}

async fn insert<'c>(conn: impl sqlx::PgExecutor<'c>, org: Uuid, p: &NewPatient) -> Result<Patient, sqlx::Error> {
    let a = &p.address;
    sqlx::query_as::<_, Patient>(INSERT)
        .bind(org)
        .bind(&p.first_name)
        .bind(&p.last_name)
        .bind(p.date_of_birth)
        .bind(&p.sex)
        .bind(&p.email)
        .bind(&p.phone)
        .bind(&a.line1)
        .bind(&a.line2)
        .bind(&a.city)
        .bind(&a.region)
        .bind(&a.postal_code)
        .bind(&a.country)
        .bind(klinivo::domain::search_text::of(&p.first_name, &p.last_name, p.email.as_deref(), p.phone.as_deref()))
        .fetch_one(conn)
        .await
}

/// `POST /api/v1/patients` with an Idempotency-Key, without Klinivo's stack: the same
/// statements in the same round trips, in one transaction.
async fn same_sql_patients(State(app): State<App>, headers: HeaderMap, body: axum::body::Bytes) -> Reply {
    let p: NewPatient = serde_json::from_slice(&body).map_err(fail)?;
    let idem = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let idem = if idem.is_empty() { Uuid::new_v4().to_string() } else { idem };
    let request_hash = Sha256::digest(&body);
    let lock = i64::from_be_bytes(Sha256::digest(format!("{}\0{idem}", app.key_id))[..8].try_into().unwrap_or([0; 8]));
    let claim = format!(
        "SELECT klinivo_idempotency_claim({}, convert_from(decode('{}', 'hex'), 'UTF8'), {lock}, 24); \
         BEGIN; SAVEPOINT handler",
        app.key_id,
        hex::encode(&idem),
    );
    let mut tx = app.db.begin_with(claim).await.map_err(fail)?;
    let a = &p.address;
    let search_text =
        klinivo::domain::search_text::of(&p.first_name, &p.last_name, p.email.as_deref(), p.phone.as_deref());
    let row = sqlx::query_as::<_, Patient>(KLINIVO_INSERT)
        .bind(app.org)
        .bind(None::<String>)
        .bind(&p.first_name)
        .bind(&p.last_name)
        .bind(p.date_of_birth)
        .bind(p.sex.as_deref().unwrap_or("unknown"))
        .bind(&p.email)
        .bind(&p.phone)
        .bind(&a.line1)
        .bind(&a.line2)
        .bind(&a.city)
        .bind(&a.region)
        .bind(&a.postal_code)
        .bind(&a.country)
        .bind(search_text)
        .fetch_one(&mut *tx)
        .await
        .map_err(fail)?;
    events::record(&mut tx, app.org, EventType::PatientCreated, &row).await.map_err(fail)?;
    let response = serde_json::to_vec(&row).map_err(fail)?;
    sqlx::query(KLINIVO_STORE)
        .bind(app.key_id)
        .bind(&idem)
        .bind(&request_hash[..])
        .bind(201i16)
        .bind(&response)
        .bind(format!("/api/v1/patients/{}", row.id))
        .bind(24i32)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    tx.commit().await.map_err(fail)?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(row).map_err(fail)?)))
}

fn api_key(headers: &HeaderMap) -> Result<[u8; 32], (StatusCode, Json<Value>)> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !klinivo::auth::keys::is_well_formed(key) {
        return Err((StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_api_key"}))));
    }
    Ok(klinivo::auth::keys::hash(key))
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_api_key"})))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is required")?;
    let bind = std::env::args().nth(1).or_else(|| std::env::var("BENCH_BARE_BIND").ok());
    let bind = bind.unwrap_or_else(|| "127.0.0.1:8090".into());
    let pool_size = std::env::var("BENCH_POOL").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    // Warm and never idle-closed: every connection is open before the first request, none is
    // pinged when it is taken out, none is retired while the run lasts.
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(pool_size)
        .min_connections(pool_size)
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect(&url)
        .await?;
    let warm = futures_util::future::try_join_all((0..pool_size).map(|_| db.acquire())).await?;
    drop(warm);
    let org = match std::env::var("BENCH_ORG").ok() {
        Some(o) => o.parse()?,
        None => sqlx::query_scalar("SELECT id FROM organizations ORDER BY created_at LIMIT 1").fetch_one(&db).await?,
    };
    let key_id = match std::env::var("BENCH_KEY_ID").ok() {
        Some(k) => k.parse()?,
        None => sqlx::query_scalar("SELECT coalesce(min(id), 0) FROM api_keys").fetch_one(&db).await?,
    };
    let direct = std::sync::Arc::new(Direct::open(&url, pool_size as usize).await?);
    let app = Router::new()
        .route("/plain", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/select/{id}",
            get(|State(app): State<App>, Path(id): Path<i64>| async move { select(&app.db, app.org, id).await }),
        )
        .route(
            "/select-direct/{id}",
            get(|State(app): State<App>, Path(id): Path<i64>| async move { app.direct.select(app.org, id).await }),
        )
        .route(
            "/insert",
            post(|State(app): State<App>, Json(p): Json<NewPatient>| async move {
                let row = insert(&app.db, app.org, &p).await.map_err(fail)?;
                Ok::<_, (StatusCode, Json<Value>)>((
                    StatusCode::CREATED,
                    Json(serde_json::to_value(row).map_err(fail)?),
                ))
            }),
        )
        .route(
            "/auth-select/{id}",
            get(|State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>| async move {
                let hash = api_key(&headers)?;
                let found: Option<(i64, Uuid)> = sqlx::query_as(
                    "SELECT id, organization_id FROM api_keys
                     WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
                )
                .bind(&hash[..])
                .fetch_optional(&app.db)
                .await
                .map_err(fail)?;
                let (_, org) = found.ok_or_else(unauthorized)?;
                select(&app.db, org, id).await
            }),
        )
        .route(
            "/auth-count-select/{id}",
            get(|State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>| async move {
                let hash = api_key(&headers)?;
                let found = klinivo::auth::store::authenticate_and_lease(&app.db, &hash, 1_000_000_000, 1)
                    .await
                    .map_err(fail)?;
                let key = found.ok_or_else(unauthorized)?;
                select(&app.db, key.organization_id, id).await
            }),
        )
        .route(
            "/tx3",
            post(|State(app): State<App>, headers: HeaderMap, Json(p): Json<NewPatient>| async move {
                let idem = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let mut tx = app.db.begin().await.map_err(fail)?;
                let row = insert(&mut *tx, app.org, &p).await.map_err(fail)?;
                events::record(&mut tx, app.org, EventType::PatientCreated, &row).await.map_err(fail)?;
                let body = serde_json::to_vec(&row).map_err(fail)?;
                sqlx::query(
                    "INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_hash, status_code,
                         response_body, response_location) VALUES ($1, $2, $3, 201, $4, $5)",
                )
                .bind(app.key_id)
                .bind(if idem.is_empty() { Uuid::new_v4().to_string() } else { idem })
                .bind(&[0u8; 32][..])
                .bind(&body)
                .bind(format!("/api/v1/patients/{}", row.id))
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                Ok::<_, (StatusCode, Json<Value>)>((
                    StatusCode::CREATED,
                    Json(serde_json::to_value(row).map_err(fail)?),
                ))
            }),
        )
        .route("/same-sql/patients", post(same_sql_patients))
        .with_state(App { db, org, key_id, direct });
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!("bench-bare listening on {bind}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal");
            tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        })
        .await?;
    Ok(())
}
