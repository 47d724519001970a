//! What can stop a command, with its cause kept: the message a person reads on stderr is built
//! from the variant and its source.

use std::path::PathBuf;

use crate::auth::store::KeyStoreError;
use crate::clinic::demo::DemoError;
use crate::clinic::import::ImportError;
use crate::db::embedded::EmbeddedError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A command-line argument is not acceptable; nothing was done.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{}", describe_key_error(.0))]
    Keys(#[from] KeyStoreError),
    #[error("{}: {source}", .file.display())]
    Import { file: PathBuf, source: ImportError },
    #[error(transparent)]
    Demo(#[from] DemoError),
    #[error("cannot {action} {}: {source}", .path.display())]
    File { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cannot listen on {addr} (KLINIVO_BIND): {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("the server stopped with an error: {0}")]
    Serve(#[source] std::io::Error),
}

fn describe_key_error(e: &KeyStoreError) -> String {
    match e {
        KeyStoreError::Db(e) => format!("database error: {e}"),
        other => other.to_string(),
    }
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// A refusal of the domain's, in its own words (an unknown organization or user, an email
    /// address taken, the last owner); database failures keep their cause.
    pub fn domain(e: crate::domain::Error) -> Self {
        match e {
            crate::domain::Error::Database(e) => CliError::Database(e),
            crate::domain::Error::Invalid(fields) => CliError::Usage(
                fields.into_iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; "),
            ),
            crate::domain::Error::NotFound(what) => CliError::Usage(format!("no such {what}")),
            other => CliError::Usage(other.to_string()),
        }
    }
}
