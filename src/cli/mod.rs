//! The command line: `serve`, `migrate`, `org`, `key`, `user`, `clinic import`, `demo`, `openapi`.
//! Machine-readable results go to stdout (scripts capture them with `$(...)`); everything for
//! humans goes to stderr.

mod clinic;
mod database;
mod error;
mod keys;
mod serve;
mod users;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use error::CliError;

#[derive(Parser)]
#[command(name = "klinivo", version, about = "The Klinivo public API server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API and the webhook dispatcher.
    Serve,
    /// Run only the webhook dispatcher (and the event log purge), until SIGTERM.
    Worker,
    /// Apply database migrations.
    Migrate,
    /// Manage organizations.
    Org {
        #[command(subcommand)]
        command: keys::OrgCommand,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        command: keys::KeyCommand,
    },
    /// Manage console users (owners and admins of an organization).
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// Clinic set-up: locations, providers and their working hours.
    Clinic {
        #[command(subcommand)]
        command: clinic::ClinicCommand,
    },
    /// Seed a demo clinic into an organization, or into a new one whose full-permission key is
    /// then printed alone on stdout.
    Demo {
        /// Seed this existing organization instead (prints nothing on stdout).
        #[arg(long)]
        org: Option<uuid::Uuid>,
    },
    /// Write the OpenAPI document to a file (default: openapi.json).
    Openapi {
        #[arg(default_value = "openapi.json")]
        path: std::path::PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("klinivo: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(crate::telemetry::flush_thread)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("klinivo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), CliError> = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve::run(config).await,
            Command::Worker => worker::run(config).await,
            Command::Migrate => database::migrate_only(&config).await,
            Command::Org { command } => keys::org(&config, command).await,
            Command::Key { command } => keys::key(&config, command).await,
            Command::User { command } => users::user(&config, command).await,
            Command::Clinic { command } => clinic::clinic(&config, command).await,
            Command::Demo { org } => clinic::demo(&config, org).await,
            Command::Openapi { path } => write_openapi(&path),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("klinivo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The OpenAPI document exactly as `GET /api/v1/openapi.json` serves it.
pub fn openapi_json() -> String {
    let mut text = serde_json::to_string_pretty(&crate::api::openapi_document()).unwrap_or_default();
    text.push('\n');
    text
}

fn write_openapi(path: &std::path::Path) -> Result<(), CliError> {
    std::fs::write(path, openapi_json()).map_err(|source| CliError::File {
        action: "write",
        path: path.into(),
        source,
    })?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// A new organization with the full demo clinic and a full-permission key (`klinivo demo`'s data).
pub async fn demo_org_with_key(
    pool: &sqlx::PgPool,
) -> Result<(crate::clinic::demo::DemoSummary, crate::auth::keys::NewKey), CliError> {
    clinic::demo_org_with_key(pool).await
}
