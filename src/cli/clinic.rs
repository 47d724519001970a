//! `klinivo clinic import` and `klinivo demo`.

use std::path::PathBuf;

use clap::Subcommand;
use uuid::Uuid;

use super::database;
use super::error::CliError;
use crate::auth::store::{self, KeySpec};
use crate::auth::Permission;
use crate::clinic::demo;
use crate::clinic::import::{self, ImportError};
use crate::config::Config;

#[derive(Subcommand)]
pub enum ClinicCommand {
    /// Import locations, providers and working hours from a clinic file (docs/clinic-import.md).
    /// Idempotent; prints a JSON summary (counts and the ids of the file's keys) on stdout.
    Import {
        /// The organization to set up.
        #[arg(long)]
        org: Uuid,
        /// The clinic file (JSON), e.g. examples/clinic.json.
        file: PathBuf,
    },
}

pub async fn clinic(config: &Config, command: ClinicCommand) -> Result<(), CliError> {
    match command {
        ClinicCommand::Import { org, file } => {
            // Everything that can be checked without the database is checked first.
            let bytes =
                std::fs::read(&file).map_err(|source| CliError::File { action: "read", path: file.clone(), source })?;
            let in_file = |source| CliError::Import { file: file.clone(), source };
            let parsed = import::parse(&bytes).map_err(in_file)?;
            import::validate(&parsed).map_err(|p| in_file(ImportError::Invalid(p)))?;
            let db = database::open(config).await?;
            let result = import::import(&db.pool, org, &parsed).await;
            db.close().await;
            let summary = result.map_err(in_file)?;
            if summary.changed_nothing() {
                eprintln!("{}: already up to date ({summary})", file.display());
            } else {
                eprintln!("imported {} into organization {org}: {summary}", file.display());
            }
            println!("{}", serde_json::json!(summary));
            Ok(())
        }
    }
}

/// `klinivo demo [--org ID]`: seeds the given organization (stdout stays empty), or creates a
/// new one with a full-permission key and prints only that key.
pub async fn demo(config: &Config, org: Option<Uuid>) -> Result<(), CliError> {
    let db = database::open(config).await?;
    let result = run_demo(&db.pool, org).await;
    db.close().await;
    result
}

async fn run_demo(pool: &sqlx::PgPool, org: Option<Uuid>) -> Result<(), CliError> {
    match org {
        Some(org) => {
            let summary = demo::seed(pool, org).await?;
            eprintln!("seeded the demo clinic into organization {org}: {summary}");
        }
        None => {
            let (summary, key) = demo_org_with_key(pool).await?;
            let org = summary.organization_id;
            eprintln!("created organization {org} with the demo clinic: {summary}");
            eprintln!("created key {} with every permission — store it now, it will not be shown again", key.prefix);
            println!("{}", key.secret);
        }
    }
    Ok(())
}

/// A new organization with the full demo clinic and one key with every permission: what
/// `klinivo demo` makes, and `serve` on its first start.
pub async fn demo_org_with_key(
    pool: &sqlx::PgPool,
) -> Result<(demo::DemoSummary, crate::auth::keys::NewKey), CliError> {
    let summary = demo::create_organization(pool, "Demo Clinic").await?;
    let key = store::create_key(
        pool,
        KeySpec {
            organization_id: summary.organization_id,
            name: "demo key",
            permissions: &Permission::ALL,
            expires_at: None,
            rate_limit_per_minute: None,
            rotated_from: None,
        },
    )
    .await?;
    tracing::info!(organization_id = %summary.organization_id, "seeded the demo clinic");
    Ok((summary, key))
}
