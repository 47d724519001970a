//! `klinivo user create|list|disable|reset`: console users, for the operator.

use clap::Subcommand;
use uuid::Uuid;

use super::database;
use super::error::CliError;
use crate::auth::store::rfc3339;
use crate::config::Config;
use crate::domain::accounts::users::{self, Invitation, Role};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a console user of an organization; prints only their one-time set-password link
    /// (it works for 24 hours).
    Create {
        #[arg(long)]
        org: Uuid,
        #[arg(long)]
        email: String,
        /// `owner` (also invites and disables people) or `admin` (API keys and webhooks).
        #[arg(long, value_parser = ["owner", "admin"])]
        role: String,
    },
    /// List an organization's console users.
    List {
        #[arg(long)]
        org: Uuid,
    },
    /// Disable a console user by email: their sessions end at once.
    Disable { email: String },
    /// Issue a new set-password link (earlier ones stop working); prints only the link.
    Reset { email: String },
}

pub async fn user(config: &Config, command: UserCommand) -> Result<(), CliError> {
    if let UserCommand::Create { email, .. } = &command {
        if let Some(problem) = users::email_problem(&users::normalize_email(email)) {
            return Err(CliError::usage(format!("--email: {problem}")));
        }
    }
    let db = database::open(config).await?;
    let result = run(config, &db.pool, command).await;
    db.close().await;
    result
}

fn print_link(config: &Config, invitation: &Invitation) {
    eprintln!(
        "set-password link for {} ({} of {}), valid until {}; it works once:",
        invitation.user.email,
        invitation.user.role.as_str(),
        invitation.user.organization_id,
        rfc3339(invitation.expires_at)
    );
    println!("{}", set_password_link(config, &invitation.token));
}

/// The link a person follows to set their password.
pub fn set_password_link(config: &Config, token: &str) -> String {
    format!("{}/console/set-password/{token}", config.public_origin())
}

async fn run(config: &Config, pool: &sqlx::PgPool, command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Create { org, email, role } => {
            let role = Role::parse(&role).ok_or_else(|| CliError::usage("--role must be owner or admin"))?;
            let mut tx = pool.begin().await?;
            let invitation = users::create(&mut tx, org, &email, role, None).await.map_err(CliError::domain)?;
            tx.commit().await?;
            print_link(config, &invitation);
        }
        UserCommand::List { org } => {
            let people = users::list(pool, org).await.map_err(CliError::domain)?;
            println!("{:<6} {:<40} {:<6} {:<9} CREATED", "ID", "EMAIL", "ROLE", "STATUS");
            for u in people {
                let status = if u.disabled_at.is_some() {
                    "disabled"
                } else if u.has_password {
                    "active"
                } else {
                    "invited"
                };
                println!("{:<6} {:<40} {:<6} {:<9} {}", u.id, u.email, u.role.as_str(), status, rfc3339(u.created_at));
            }
        }
        UserCommand::Disable { email } => {
            let user = users::find_by_email(pool, &email).await.map_err(CliError::domain)?;
            let mut tx = pool.begin().await?;
            users::disable(&mut tx, None, user.id).await.map_err(CliError::domain)?;
            tx.commit().await?;
            eprintln!("disabled {} (user {}); their sessions have ended", user.email, user.id);
        }
        UserCommand::Reset { email } => {
            let user = users::find_by_email(pool, &email).await.map_err(CliError::domain)?;
            let mut tx = pool.begin().await?;
            let invitation = users::reissue_link(&mut tx, None, user.id).await.map_err(CliError::domain)?;
            tx.commit().await?;
            print_link(config, &invitation);
        }
    }
    Ok(())
}
