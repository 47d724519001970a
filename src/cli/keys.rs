//! `klinivo org create` and `klinivo key create|list|revoke|rotate`.

use chrono::{Duration, Utc};
use clap::Subcommand;
use uuid::Uuid;

use super::database;
use super::error::CliError;
use crate::auth::store::{self, rfc3339, KeySpec, Revocation};
use crate::auth::Permission;
use crate::config::Config;

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organization; prints only its id.
    Create {
        #[arg(long)]
        name: String,
        /// IANA time zone, e.g. Europe/Berlin.
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a key; prints only the key (shown this once).
    Create {
        #[arg(long)]
        org: Uuid,
        #[arg(long)]
        name: String,
        /// Comma-separated permissions, or `all`.
        #[arg(long)]
        permissions: String,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=store::MAX_EXPIRY_DAYS as i64))]
        expires_in_days: Option<u32>,
        /// Requests per minute for this key (default: KLINIVO_RATE_LIMIT_PER_MINUTE).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=store::MAX_RATE_LIMIT as i64))]
        rate_limit: Option<u32>,
    },
    /// List an organization's keys (never the secrets).
    List {
        #[arg(long)]
        org: Uuid,
    },
    /// Revoke a key by its prefix (kv_xxxxxxxx) or id; refused at once on every instance. A key
    /// revoked already is left as it is (exit 0, and stderr says when it was revoked).
    Revoke { prefix_or_id: String },
    /// Issue a replacement with the same name, permissions, limit and expiry, by prefix or id;
    /// prints only the new key. The old key keeps working for the grace period, then expires.
    Rotate {
        prefix_or_id: String,
        /// Hours the old key stays valid (0 = expire now).
        #[arg(long, default_value_t = 24)]
        grace_hours: u32,
    },
}

pub async fn org(config: &Config, command: OrgCommand) -> Result<(), CliError> {
    match command {
        OrgCommand::Create { name, timezone } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 200 {
                return Err(CliError::usage("--name must be 1 to 200 characters"));
            }
            if timezone.parse::<chrono_tz::Tz>().is_err() {
                return Err(CliError::usage(format!(
                    "--timezone {timezone:?} is not an IANA time zone (e.g. Europe/Berlin)"
                )));
            }
            let db = database::open(config).await?;
            let result = store::create_organization(&db.pool, name, &timezone).await;
            db.close().await;
            let id = result?;
            eprintln!("created organization {name:?}");
            println!("{id}");
            Ok(())
        }
    }
}

pub async fn key(config: &Config, command: KeyCommand) -> Result<(), CliError> {
    // Validate arguments before touching the database.
    let permissions = match &command {
        KeyCommand::Create { permissions, name, .. } => {
            if store::name_problem(name).is_some() {
                return Err(CliError::usage("--name must be 1 to 200 characters"));
            }
            Some(Permission::parse_list(permissions).map_err(CliError::Usage)?)
        }
        _ => None,
    };
    let db = database::open(config).await?;
    let result = run_key(&db.pool, command, permissions).await;
    db.close().await;
    result
}

async fn run_key(
    pool: &sqlx::PgPool,
    command: KeyCommand,
    permissions: Option<Vec<Permission>>,
) -> Result<(), CliError> {
    match command {
        KeyCommand::Create { org, name, expires_in_days, rate_limit, .. } => {
            let permissions = permissions.unwrap_or_default();
            let key = store::create_key(
                pool,
                KeySpec {
                    organization_id: org,
                    name: name.trim(),
                    permissions: &permissions,
                    expires_at: expires_in_days.map(|d| Utc::now() + Duration::days(d as i64)),
                    rate_limit_per_minute: rate_limit.map(|r| r as i32),
                    rotated_from: None,
                },
            )
            .await?;
            eprintln!("created key {} — store it now, it will not be shown again", key.prefix);
            println!("{}", key.secret);
        }
        KeyCommand::List { org } => {
            let keys = store::list_keys(pool, org).await?;
            println!(
                "{:<6} {:<12} {:<24} {:<8} {:<25} {:<25} PERMISSIONS",
                "ID", "PREFIX", "NAME", "STATUS", "EXPIRES", "LAST USED"
            );
            let now = Utc::now();
            for k in keys {
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.expires_at.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "active"
                };
                let fmt = |t: Option<chrono::DateTime<Utc>>| t.map(rfc3339).unwrap_or_else(|| "-".into());
                println!(
                    "{:<6} {:<12} {:<24} {:<8} {:<25} {:<25} {}",
                    k.id,
                    k.key_prefix,
                    k.name,
                    status,
                    fmt(k.expires_at),
                    fmt(k.last_used_at),
                    k.permissions.join(",")
                );
            }
        }
        KeyCommand::Revoke { prefix_or_id } => {
            match store::revoke_key(&mut *pool.acquire().await?, None, prefix_or_id.trim()).await? {
                Revocation::Revoked { prefix, .. } => eprintln!("revoked {prefix}"),
                Revocation::AlreadyRevoked { prefix, at, .. } => {
                    eprintln!("{prefix} was already revoked at {}; nothing changed", rfc3339(at))
                }
            }
        }
        KeyCommand::Rotate { prefix_or_id, grace_hours } => {
            let grace = Duration::hours(grace_hours as i64);
            let mut tx = pool.begin().await?;
            let r = store::rotate_key(&mut tx, None, prefix_or_id.trim(), grace).await?;
            tx.commit().await?;
            let old = &r.old_prefix;
            eprintln!("replaced {old} (id {}) with {} (id {})", r.old_id, r.new.prefix, r.new_id);
            if r.old_expires_at <= Utc::now() {
                eprintln!("{old} no longer works");
            } else {
                eprintln!("{old} keeps working until {}, then expires", rfc3339(r.old_expires_at));
            }
            let expiry = match r.new_expires_at {
                Some(at) => format!("expires at {}", rfc3339(at)),
                None => "never expires".to_string(),
            };
            match r.rotated_before_at {
                Some(at) => eprintln!(
                    "{} {expiry}, as {old} did before it was first rotated (at {})",
                    r.new.prefix,
                    rfc3339(at)
                ),
                None => eprintln!("{} {expiry}, as {old} did", r.new.prefix),
            }
            eprintln!("store the new key now, it will not be shown again");
            println!("{}", r.new.secret);
        }
    }
    Ok(())
}
