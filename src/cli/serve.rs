//! `klinivo serve`.

use tokio_util::sync::CancellationToken;

use super::database;
use super::error::CliError;
use crate::config::Config;
use crate::domain::accounts::users::{self, Role};

/// The demo clinic's console owner, created on the embedded default's first start.
pub const DEMO_OWNER: &str = "owner@demo.klinivo.test";
use crate::state::AppState;

pub async fn run(config: Config) -> Result<(), CliError> {
    let embedded = config.database_url.is_none();
    let database = database::open(&config).await?;
    if embedded {
        seed_on_first_start(&database.pool, &config).await?;
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| CliError::Listen { addr: config.bind, source })?;
    let addr = listener.local_addr().map_err(|source| CliError::Listen { addr: config.bind, source })?;
    tracing::info!(%addr, embedded_database = embedded, "listening");
    let pool = database.pool.clone();
    let state = AppState::new(pool, config);
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        crate::server::shutdown_signal().await;
        trigger.cancel();
    });
    let result = crate::server::run(state.clone(), listener, shutdown).await;
    state.reads.close().await;
    state.generic_reads.close().await;
    database.close().await;
    result.map_err(CliError::Serve)
}

/// First start of the embedded default: a demo organization and one full-permission key.
async fn seed_on_first_start(pool: &sqlx::PgPool, config: &Config) -> Result<(), CliError> {
    let orgs: i64 = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM organizations").fetch_one(pool).await?;
    if orgs > 0 {
        let known =
            sqlx::query!("SELECT id, name FROM organizations ORDER BY created_at, id LIMIT 5").fetch_all(pool).await?;
        eprintln!("Using the embedded database in {}. Organizations:", config.data_dir.display());
        for o in &known {
            eprintln!("    {}  {}", o.id, o.name);
        }
        if orgs > known.len() as i64 {
            eprintln!("    … and {} more", orgs - known.len() as i64);
        }
        eprintln!(
            "Lost the key? `klinivo key create --org <id> --name NAME --permissions all` (with this KLINIVO_DATA_DIR)."
        );
        return Ok(());
    }
    let (summary, key) = crate::cli::demo_org_with_key(pool).await?;
    let org = summary.organization_id;
    let mut tx = pool.begin().await?;
    let owner = users::create(&mut tx, org, DEMO_OWNER, Role::Owner, None).await.map_err(CliError::domain)?;
    tx.commit().await?;
    let link = super::users::set_password_link(config, &owner.token);
    let host = if config.bind.ip().is_unspecified() { "localhost".to_string() } else { config.bind.ip().to_string() };
    let host = if host == "127.0.0.1" { "localhost".to_string() } else { host };
    // Only the key goes to stdout, as with every command that creates one; the words around it
    // are for people, on stderr.
    eprintln!();
    eprintln!("Klinivo demo organization {org} is ready. Its API key, shown only this once, is on stdout:");
    eprintln!();
    println!("{}", key.secret);
    eprintln!();
    eprintln!("Try it (KEY=<the key above>):");
    eprintln!();
    eprintln!("    curl -H \"X-API-Key: $KEY\" http://{host}:{}/api/v1/health", config.bind.port());
    eprintln!();
    eprintln!("The console (Settings → Integrations: API keys, webhooks, audit log) has an owner, {DEMO_OWNER}.");
    eprintln!("Set its password within 24 hours at this one-time link, then sign in:");
    eprintln!();
    eprintln!("    {link}");
    eprintln!();
    Ok(())
}
