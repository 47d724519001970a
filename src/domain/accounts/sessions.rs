//! Console sessions, kept in PostgreSQL: the cookie holds a random token, the table its SHA-256.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::secrets;
use super::users::Role;
use crate::domain::Result;

/// A session ends after this long without a request…
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// …and after this long whatever happens.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
/// `last_seen_at` is written at most this often, not on every request.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// A live session and the person it belongs to.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: Vec<u8>,
    pub user_id: i64,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub email: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Starts a session for a person who just signed in; returns the cookie's token.
pub async fn start(conn: &mut PgConnection, user_id: i64, client_address: Option<&str>) -> Result<String> {
    let (token, hash) = secrets::token();
    let (csrf, _) = secrets::token();
    sqlx::query!(
        "INSERT INTO console_sessions (token_hash, user_id, csrf_token, idle_expires_at, expires_at, client_address)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4), now() + make_interval(secs => $5), $6)",
        hash,
        user_id,
        csrf,
        IDLE_TIMEOUT.num_seconds() as f64,
        ABSOLUTE_TIMEOUT.num_seconds() as f64,
        client_address,
    )
    .execute(conn)
    .await?;
    Ok(token)
}

/// The live session a cookie names, if any; extends its idle expiry (written at most once a
/// minute). A disabled person's sessions are gone already, and are refused here as well.
pub async fn find(db: &PgPool, token: &str) -> Result<Option<Session>> {
    let hash = secrets::token_hash(token);
    let row = sqlx::query!(
        r#"SELECT s.user_id, u.organization_id, o.name AS organization_name, u.email, u.role, s.csrf_token,
                  s.expires_at, s.last_seen_at, now() AS "now!"
           FROM console_sessions s
           JOIN console_users u ON u.id = s.user_id
           JOIN organizations o ON o.id = u.organization_id
           WHERE s.token_hash = $1 AND s.idle_expires_at > now() AND s.expires_at > now()
             AND u.disabled_at IS NULL"#,
        hash
    )
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.now - row.last_seen_at >= TOUCH_EVERY {
        sqlx::query!(
            "UPDATE console_sessions
             SET last_seen_at = now(), idle_expires_at = LEAST(now() + make_interval(secs => $2), expires_at)
             WHERE token_hash = $1",
            hash,
            IDLE_TIMEOUT.num_seconds() as f64,
        )
        .execute(db)
        .await?;
    }
    Ok(Some(Session {
        token_hash: hash,
        user_id: row.user_id,
        organization_id: row.organization_id,
        organization_name: row.organization_name,
        email: row.email,
        role: Role::parse(&row.role).unwrap_or(Role::Admin),
        csrf_token: row.csrf_token,
        expires_at: row.expires_at,
    }))
}

/// Ends one session (sign-out).
pub async fn end(conn: &mut PgConnection, token_hash: &[u8]) -> Result<()> {
    sqlx::query!("DELETE FROM console_sessions WHERE token_hash = $1", token_hash).execute(conn).await?;
    Ok(())
}

/// Deletes the sessions past either expiry.
pub async fn purge_expired(db: &PgPool) -> Result<u64> {
    Ok(sqlx::query!("DELETE FROM console_sessions WHERE idle_expires_at <= now() OR expires_at <= now()")
        .execute(db)
        .await?
        .rows_affected())
}
