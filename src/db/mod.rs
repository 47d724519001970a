//! Storage: the pool, migrations, readiness, the embedded PostgreSQL, transactions.

pub mod embedded;
pub mod tx;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Opens the pool. Connections use custom plans for every execution, so the optional-filter
/// queries (`$1 IS NULL OR col = $1`) are planned with their actual values.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("klinivo")
        .options([("plan_cache_mode", "force_custom_plan")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1.min(max_connections))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
}

/// Opens the pool without waiting for the database (used by `serve`, so that it can start —
/// and report not-ready — while the database is down).
pub fn connect_lazy(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("klinivo")
        .options([("plan_cache_mode", "force_custom_plan")]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options))
}

pub async fn migrate(db: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(db).await
}

/// Ready: the database answers and has every migration this build knows.
pub async fn check_ready(db: &PgPool) -> Result<(), String> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Result<Option<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(db).await;
    match applied {
        Ok(Some(v)) if v >= latest => Ok(()),
        Ok(_) => Err("database is not migrated".into()),
        Err(_) => Err("database unreachable".into()),
    }
}
