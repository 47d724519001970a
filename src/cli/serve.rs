//! `klinivo serve`.

use tokio_util::sync::CancellationToken;

use super::database;
use crate::auth::store::{self, KeySpec};
use crate::auth::Permission;
use crate::config::Config;
use crate::state::AppState;

pub async fn run(config: Config) -> Result<(), String> {
    let embedded = config.database_url.is_none();
    let database = database::open(&config).await?;
    if embedded {
        seed_on_first_start(&database.pool, &config).await?;
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("cannot listen on {} (KLINIVO_BIND): {e}", config.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, embedded_database = embedded, "listening");
    let pool = database.pool.clone();
    let state = AppState::new(pool, config);
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        crate::server::shutdown_signal().await;
        trigger.cancel();
    });
    let result = crate::server::run(state, listener, shutdown).await;
    database.close().await;
    result.map_err(|e| e.to_string())
}

/// First start of the embedded default: a demo organization and one full-permission key.
async fn seed_on_first_start(pool: &sqlx::PgPool, config: &Config) -> Result<(), String> {
    let orgs: i64 = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM organizations")
        .fetch_one(pool)
        .await
        .map_err(|e| format!("database error: {e}"))?;
    if orgs > 0 {
        eprintln!(
            "Using the embedded database in {} (create more keys with `klinivo key create`).",
            config.data_dir.display()
        );
        return Ok(());
    }
    let org = crate::cli::demo_org(pool).await?;
    let key = store::create_key(
        pool,
        KeySpec {
            organization_id: org,
            name: "demo key",
            permissions: &Permission::ALL,
            expires_at: None,
            rate_limit_per_minute: None,
            rotated_from: None,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let host = if config.bind.ip().is_unspecified() { "localhost".to_string() } else { config.bind.ip().to_string() };
    let host = if host == "127.0.0.1" { "localhost".to_string() } else { host };
    println!();
    println!("Klinivo demo organization {org} is ready. Its API key (shown only this once):");
    println!();
    println!("    {}", key.secret);
    println!();
    println!("Try it:");
    println!();
    println!("    curl -H \"X-API-Key: {}\" http://{host}:{}/api/v1/health", key.secret, config.bind.port());
    println!();
    Ok(())
}
