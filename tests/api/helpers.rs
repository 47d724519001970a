//! The test harness.
//!
//! PostgreSQL: `DATABASE_URL` if set (used as a server on which databases are created), else a
//! throwaway cluster started once per test process in a temporary directory (stopped when the
//! process exits). A template database is migrated once; each test gets a fresh clone, so tests
//! are isolated and fast. `TestApp::spawn()` runs the real server on port 0 against it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use klinivo::auth::store::{self, KeySpec};
use klinivo::auth::Permission;
use klinivo::db::embedded::{EmbeddedPostgres, Options};
use klinivo::{AppState, Config};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The PostgreSQL server the tests use, and the template every test database is cloned from.
pub struct TestCluster {
    /// `postgres://…/` without a database name.
    server_url: String,
    template: String,
    _embedded: Option<std::sync::Mutex<EmbeddedPostgres>>,
}

static CLUSTER: OnceCell<TestCluster> = OnceCell::const_new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

fn stale_dirs_cleanup(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.strip_prefix("klinivo-tests-").and_then(|p| p.parse::<i32>().ok()) {
            // SAFETY: signal 0 only checks for existence.
            if unsafe { libc::kill(pid, 0) } != 0 {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

async fn cluster() -> &'static TestCluster {
    CLUSTER
        .get_or_init(|| async {
            let (server_url, embedded) = match std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()) {
                Some(url) => (with_database(&url, "postgres"), None),
                None => {
                    let tmp = std::env::temp_dir();
                    stale_dirs_cleanup(&tmp);
                    let dir: PathBuf = tmp.join(format!("klinivo-tests-{}", std::process::id()));
                    let pg = EmbeddedPostgres::start(&dir, Options { ephemeral: true, ..Options::default() })
                        .await
                        .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL: {e}"));
                    (pg.admin_url().to_string(), Some(pg))
                }
            };
            let template = ensure_template(&server_url).await;
            TestCluster { server_url, template, _embedded: embedded.map(std::sync::Mutex::new) }
        })
        .await
}

/// Migrates a template named after the migrations' checksums, once per server.
async fn ensure_template(server_url: &str) -> String {
    let mut h = Sha256::new();
    for m in klinivo::db::MIGRATOR.iter() {
        h.update(m.version.to_be_bytes());
        h.update(&m.checksum);
    }
    let template = format!("klinivo_tpl_{}", &hex::encode(h.finalize())[..16]);
    let mut admin = PgConnection::connect(server_url).await.expect("connect to test PostgreSQL");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&template)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
    if exists.is_none() {
        let building = format!("{template}_build_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {building}")).execute(&mut admin).await.unwrap();
        let pool = PgPool::connect(&with_database(server_url, &building)).await.unwrap();
        klinivo::db::migrate(&pool).await.expect("migrations apply");
        pool.close().await;
        // Another test process may have won the race; then ours is dropped.
        if sqlx::query(&format!("ALTER DATABASE {building} RENAME TO {template}")).execute(&mut admin).await.is_err() {
            let _ = sqlx::query(&format!("DROP DATABASE {building}")).execute(&mut admin).await;
        }
    }
    template
}

/// A fresh, migrated database for one test; returns its URL.
pub async fn fresh_database() -> String {
    let cluster = cluster().await;
    let name = format!("t_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
    let name = format!("{name}_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let mut admin = PgConnection::connect(&cluster.server_url).await.unwrap();
    for attempt in 0.. {
        match sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {}", cluster.template)).execute(&mut admin).await {
            Ok(_) => break,
            // "source database is being accessed by other users": another clone is in progress.
            Err(_) if attempt < 50 => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("cannot create test database: {e}"),
        }
    }
    with_database(&cluster.server_url, &name)
}

/// A new database with nothing in it, created with `options` (`TEMPLATE template0 LC_CTYPE 'C'`
/// …); returns its URL. For tests of migrations themselves, and of other database settings.
pub async fn empty_database(options: &str) -> String {
    let cluster = cluster().await;
    let name = format!("e_{}_{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..12]);
    let mut admin = PgConnection::connect(&cluster.server_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name} {options}")).execute(&mut admin).await.unwrap();
    with_database(&cluster.server_url, &name)
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: PgPool,
    pub db_url: String,
    pub client: reqwest::Client,
    pub state: AppState,
    /// The organization every helper acts for, and a key with every permission.
    pub org_id: Uuid,
    pub key: String,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub fn test_config() -> Config {
    Config {
        rate_limit_per_minute: 100_000,
        webhook_allow_private: true,
        webhook_retry_unit: Duration::from_millis(200),
        webhook_timeout: Duration::from_millis(2_000),
        db_max_connections: 10,
        ..Config::default()
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let db_url = fresh_database().await;
        TestApp::spawn_on(db_url, configure).await
    }

    /// Runs another server instance over an existing database.
    pub async fn spawn_on(db_url: String, configure: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::spawn_full(db_url, configure, None).await
    }

    /// The real application plus extra routes mounted behind the same authentication and
    /// write-transaction layers (to test the layers with handlers that misbehave on purpose).
    pub async fn spawn_with_routes(extra: axum::Router<AppState>) -> TestApp {
        TestApp::spawn_full(fresh_database().await, |_| {}, Some(extra)).await
    }

    /// Another instance over an existing database, with the same extra routes.
    pub async fn spawn_on_with_routes(db_url: String, extra: axum::Router<AppState>) -> TestApp {
        TestApp::spawn_full(db_url, |_| {}, Some(extra)).await
    }

    async fn spawn_full(
        db_url: String,
        configure: impl FnOnce(&mut Config),
        extra: Option<axum::Router<AppState>>,
    ) -> TestApp {
        let mut config = test_config();
        configure(&mut config);
        let db = klinivo::db::connect(&db_url, config.db_max_connections).await.unwrap();
        let state = AppState::new(db.clone(), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn({
            let state = state.clone();
            let shutdown = shutdown.clone();
            async move {
                let routes = match extra {
                    Some(extra) => klinivo::http::app_routes(&state).merge(klinivo::http::protect(extra, &state)),
                    None => klinivo::http::app_routes(&state),
                };
                let app = klinivo::http::finish(routes, state.clone());
                klinivo::server::run_app(app, state, listener, shutdown).await.unwrap();
            }
        });
        let org_id = store::create_organization(&db, "Test Clinic", "UTC").await.unwrap();
        let key = create_key_in(&db, org_id, &Permission::ALL, None).await;
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp { addr, db, db_url, client, state, org_id, key, shutdown, server: Some(server) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request to `/api/v1{path}` with the full-permission key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.key, method, path)
    }

    pub fn request_as(&self, key: &str, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(&format!("/api/v1{path}"))).header("X-API-Key", key)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path).json(body).send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path).json(body).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap()
    }

    pub async fn create_org(&self, name: &str) -> Uuid {
        store::create_organization(&self.db, name, "UTC").await.unwrap()
    }

    /// A key in our organization with exactly these permissions.
    pub async fn key_with(&self, permissions: &[Permission]) -> String {
        create_key_in(&self.db, self.org_id, permissions, None).await
    }

    /// A second organization with its own full-permission key.
    pub async fn other_org(&self) -> (Uuid, String) {
        let org = self.create_org("Other Clinic").await;
        (org, create_key_in(&self.db, org, &Permission::ALL, None).await)
    }

    /// Stops the server gracefully (drains requests, flushes background tasks).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn create_key_in(db: &PgPool, org: Uuid, permissions: &[Permission], rate_limit: Option<i32>) -> String {
    store::create_key(
        db,
        KeySpec {
            organization_id: org,
            name: "test key",
            permissions,
            expires_at: None,
            rate_limit_per_minute: rate_limit,
            rotated_from: None,
        },
    )
    .await
    .unwrap()
    .secret
}

/// Reads a response as JSON, asserting its status first (the body is shown on mismatch).
pub async fn expect_json(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts an error response: status and the contract's error code.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    let body = expect_json(response, status).await;
    assert_eq!(body["error"], code, "unexpected error body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "error without message: {body}");
    body
}

/// A TCP proxy in front of the database, which a test can take down and bring back on the
/// same port to simulate an outage.
pub struct DbProxy {
    pub port: u16,
    target: SocketAddr,
    stop: Option<CancellationToken>,
}

impl DbProxy {
    pub async fn start(db_url: &str) -> DbProxy {
        let opts: sqlx::postgres::PgConnectOptions = db_url.parse().unwrap();
        let host = if opts.get_host() == "localhost" { "127.0.0.1" } else { opts.get_host() };
        let target: SocketAddr = format!("{host}:{}", opts.get_port()).parse().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = DbProxy { port, target, stop: None };
        proxy.serve(listener);
        proxy
    }

    /// The same database URL, through the proxy.
    pub fn url(&self, db_url: &str) -> String {
        // Replace the authority's host[:port] (after any user info) with the proxy's address.
        let scheme_end = db_url.find("://").map(|i| i + 3).unwrap_or(0);
        let rest = &db_url[scheme_end..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let host_start = authority.rfind('@').map(|i| i + 1).unwrap_or(0);
        format!(
            "{}{}127.0.0.1:{}{}",
            &db_url[..scheme_end],
            &authority[..host_start],
            self.port,
            &rest[authority_end..]
        )
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let stop = CancellationToken::new();
        self.stop = Some(stop.clone());
        let target = self.target;
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = tokio::select! {
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    _ = stop.cancelled() => return,
                };
                let stop = stop.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = stop.cancelled() => {}
                    }
                });
            }
        });
    }

    /// Drops every connection and stops listening.
    pub fn down(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let mut attempts = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot rebind proxy: {e}"),
            }
        };
        self.serve(listener);
    }
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal clinic written straight to the database (there is no public write API for it):
/// one location in America/New_York and one provider working there Monday–Friday 09:00–17:00.
pub struct SeededClinic {
    pub location_id: i64,
    pub provider_id: i64,
}

pub async fn seed_clinic(db: &PgPool, org: Uuid) -> SeededClinic {
    seed_clinic_in_zone(db, org, "America/New_York").await
}

pub async fn seed_clinic_in_zone(db: &PgPool, org: Uuid, timezone: &str) -> SeededClinic {
    let suffix = Uuid::new_v4().simple().to_string();
    let location_id: i64 = sqlx::query_scalar(
        "INSERT INTO locations (organization_id, import_key, name, timezone, phone, address_city, address_country)
         VALUES ($1, $2, 'Main Street Clinic', $3, '+12125550100', 'New York', 'US') RETURNING id",
    )
    .bind(org)
    .bind(format!("loc-{suffix}"))
    .bind(timezone)
    .fetch_one(db)
    .await
    .unwrap();
    let provider_id: i64 = sqlx::query_scalar(
        "INSERT INTO providers (organization_id, import_key, first_name, last_name, title, specialty, email)
         VALUES ($1, $2, 'Ada', 'Lovelace', 'MD', 'Family Medicine', 'ada@example.test') RETURNING id",
    )
    .bind(org)
    .bind(format!("prov-{suffix}"))
    .fetch_one(db)
    .await
    .unwrap();
    sqlx::query("INSERT INTO provider_locations (organization_id, provider_id, location_id) VALUES ($1, $2, $3)")
        .bind(org)
        .bind(provider_id)
        .bind(location_id)
        .execute(db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO working_hours (organization_id, provider_id, location_id, weekday, start_time, end_time)
         SELECT $1, $2, $3, d, '09:00', '17:00' FROM generate_series(1, 5) AS d",
    )
    .bind(org)
    .bind(provider_id)
    .bind(location_id)
    .execute(db)
    .await
    .unwrap();
    SeededClinic { location_id, provider_id }
}

/// A patient written straight to the database; returns its id.
pub async fn seed_patient(db: &PgPool, org: Uuid) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO patients (organization_id, first_name, last_name, date_of_birth, sex, email, phone)
         VALUES ($1, 'Grace', 'Hopper', '1985-12-09', 'female', 'grace@example.test', '+14155550123') RETURNING id",
    )
    .bind(org)
    .fetch_one(db)
    .await
    .unwrap()
}

/// An appointment written straight to the database; returns its id.
pub async fn seed_appointment(
    db: &PgPool,
    org: Uuid,
    clinic: &SeededClinic,
    patient_id: i64,
    starts_at: chrono::DateTime<chrono::Utc>,
    minutes: i64,
    status: &str,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO appointments (organization_id, patient_id, provider_id, location_id, starts_at, ends_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(org)
    .bind(patient_id)
    .bind(clinic.provider_id)
    .bind(clinic.location_id)
    .bind(starts_at)
    .bind(starts_at + chrono::Duration::minutes(minutes))
    .bind(status)
    .fetch_one(db)
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Slot holds

/// Holds `minutes` from `starts_at` with `clinic`'s provider: `POST /appointment-holds`.
pub async fn hold_slot(app: &TestApp, clinic: &SeededClinic, starts_at: &str, minutes: i64) -> Response {
    let body = serde_json::json!({"providerId": clinic.provider_id, "locationId": clinic.location_id,
                                  "startsAt": starts_at, "durationMinutes": minutes});
    app.post("/appointment-holds", &body).await
}

/// Books hold `hold_id` for `patient_id`: `POST /appointments` with `holdId` and nothing else.
pub async fn book_hold(app: &TestApp, hold_id: i64, patient_id: i64) -> Response {
    app.post("/appointments", &serde_json::json!({"holdId": hold_id, "patientId": patient_id})).await
}

/// Moves a hold's expiry into the past, as the clock would (a test cannot wait out the
/// 60-second minimum).
pub async fn expire_hold(db: &PgPool, hold_id: i64) {
    sqlx::query("UPDATE appointment_holds SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(hold_id)
        .execute(db)
        .await
        .unwrap();
}
