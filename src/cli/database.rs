//! Which database a command uses: `DATABASE_URL`, or the embedded PostgreSQL in
//! `KLINIVO_DATA_DIR` (started for the command and stopped after, or joined if running).

use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::error::CliError;
use crate::config::Config;
use crate::db::{self, embedded};

pub struct Database {
    pub pool: PgPool,
    /// Set when the embedded cluster is in use (this process may own it).
    pub embedded: Option<embedded::EmbeddedPostgres>,
}

impl Database {
    pub async fn close(mut self) {
        self.pool.close().await;
        if let Some(pg) = self.embedded.as_mut() {
            pg.stop();
        }
    }
}

/// Connects (starting the embedded cluster when there is no `DATABASE_URL`) and migrates.
pub async fn open(config: &Config) -> Result<Database, CliError> {
    let (url, embedded) = match &config.database_url {
        Some(url) => (url.expose().clone(), None),
        None => {
            let pg = embedded::EmbeddedPostgres::start(&config.data_dir, embedded::Options::default()).await?;
            (pg.url().to_string(), Some(pg))
        }
    };
    let pool = connect_with_retry(&url, config.db_max_connections).await?;
    db::migrate(&pool).await?;
    Ok(Database { pool, embedded })
}

/// The database may still be starting (docker compose): retry for up to a minute.
async fn connect_with_retry(url: &str, max: u32) -> Result<PgPool, CliError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut logged = false;
    loop {
        match db::connect(url, max).await {
            Ok(pool) => return Ok(pool),
            Err(e) if Instant::now() < deadline => {
                if !logged {
                    tracing::warn!(error = %e, "database not reachable yet; retrying for up to 60 s");
                    logged = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(CliError::Connect(e)),
        }
    }
}

/// `klinivo migrate`: the migrations, then the patients' search text that only the
/// application can fold (migrations/0070), so that search is complete when it returns.
pub async fn migrate_only(config: &Config) -> Result<(), CliError> {
    let database = open(config).await?;
    eprintln!("migrations applied");
    let refolded = crate::domain::search_text::refold_stale(&database.pool).await;
    database.close().await;
    match refolded? {
        0 => {}
        n => eprintln!("search text of {n} patients re-folded"),
    }
    Ok(())
}
