//! Console users and their set-password links.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::secrets;
use crate::domain::{Error, Result};

/// How long a set-password link works.
pub const LINK_LIFETIME: Duration = Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything an admin may do, and invites and disables people.
    Owner,
    /// Manages the organization's API keys and webhooks.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub organization_id: Uuid,
    pub email: String,
    pub role: Role,
    pub has_password: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

struct UserRow {
    id: i64,
    organization_id: Uuid,
    email: String,
    role: String,
    has_password: bool,
    disabled_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            id: r.id,
            organization_id: r.organization_id,
            email: r.email,
            // The column's CHECK allows only the two.
            role: Role::parse(&r.role).unwrap_or(Role::Admin),
            has_password: r.has_password,
            disabled_at: r.disabled_at,
            created_at: r.created_at,
        }
    }
}

/// An email address as stored and compared: trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Whether an address looks like one (one `@`, something on both sides, a dot in the domain, no
/// spaces); the set-password link is what proves it.
pub fn email_problem(email: &str) -> Option<&'static str> {
    let ok = (3..=254).contains(&email.len())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.contains('@') && domain.contains('.')
               && !domain.starts_with('.') && !domain.ends_with('.'));
    (!ok).then_some("Enter an email address such as name@clinic.example.")
}

/// A person just created or given a new link: the link's token exists nowhere else.
pub struct Invitation {
    pub user: User,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Creates a person of `org` and their first set-password link.
pub async fn create(
    conn: &mut PgConnection,
    org: Uuid,
    email: &str,
    role: Role,
    created_by: Option<i64>,
) -> Result<Invitation> {
    let email = normalize_email(email);
    if let Some(problem) = email_problem(&email) {
        return Err(Error::invalid("email", problem));
    }
    let exists =
        sqlx::query_scalar!("SELECT 1 AS one FROM organizations WHERE id = $1", org).fetch_optional(&mut *conn).await?;
    if exists.is_none() {
        return Err(Error::NotFound("organization"));
    }
    let row = sqlx::query_as!(
        UserRow,
        r#"INSERT INTO console_users (organization_id, email, role, created_by)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (email) DO NOTHING
           RETURNING id, organization_id, email, role, password_hash IS NOT NULL AS "has_password!",
                     disabled_at, created_at"#,
        org,
        email,
        role.as_str(),
        created_by,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::Conflict("That email address already has a console account.".into()))?;
    let user = User::from(row);
    let (token, expires_at) = new_link(conn, user.id).await?;
    Ok(Invitation { user, token, expires_at })
}

async fn new_link(conn: &mut PgConnection, user_id: i64) -> Result<(String, DateTime<Utc>)> {
    let (token, hash) = secrets::token();
    let expires_at = sqlx::query_scalar!(
        "INSERT INTO console_password_links (token_hash, user_id, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING expires_at",
        hash,
        user_id,
        LINK_LIFETIME.num_seconds() as f64,
    )
    .fetch_one(conn)
    .await?;
    Ok((token, expires_at))
}

/// A new set-password link for a person of `org` (or of any organization, for the command
/// line); earlier unused links stop working. Their password is unchanged until they use it.
pub async fn reissue_link(conn: &mut PgConnection, org: Option<Uuid>, id: i64) -> Result<Invitation> {
    let user = get(&mut *conn, org, id).await?;
    if user.disabled_at.is_some() {
        return Err(Error::transition("The account is disabled."));
    }
    sqlx::query!("DELETE FROM console_password_links WHERE user_id = $1", id).execute(&mut *conn).await?;
    let (token, expires_at) = new_link(conn, id).await?;
    Ok(Invitation { user, token, expires_at })
}

/// The person a set-password link is for, while it works.
pub async fn link_owner(db: &PgPool, token: &str) -> Result<User> {
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.organization_id, u.email, u.role, u.password_hash IS NOT NULL AS "has_password!",
                  u.disabled_at, u.created_at
           FROM console_password_links l JOIN console_users u ON u.id = l.user_id
           WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now() AND u.disabled_at IS NULL"#,
        secrets::token_hash(token),
    )
    .fetch_optional(db)
    .await?;
    row.map(User::from).ok_or(Error::NotFound("set-password link"))
}

/// Uses a set-password link: stores the password's hash, ends the person's sessions and every
/// other link. The link works once.
pub async fn set_password_with_link(conn: &mut PgConnection, token: &str, password_hash: &str) -> Result<User> {
    let user_id = sqlx::query_scalar!(
        "UPDATE console_password_links l SET used_at = now()
         FROM console_users u
         WHERE l.token_hash = $1 AND u.id = l.user_id AND l.used_at IS NULL AND l.expires_at > now()
           AND u.disabled_at IS NULL
         RETURNING l.user_id",
        secrets::token_hash(token),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound("set-password link"))?;
    store_password(conn, user_id, password_hash).await?;
    get(conn, None, user_id).await
}

/// Stores a new password hash and ends every session and unused link of the person.
pub async fn store_password(conn: &mut PgConnection, user_id: i64, password_hash: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE console_users SET password_hash = $2, password_changed_at = now() WHERE id = $1",
        user_id,
        password_hash
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM console_sessions WHERE user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("DELETE FROM console_password_links WHERE user_id = $1 AND used_at IS NULL", user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What sign-in needs: the person by email, with their password hash.
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
}

pub async fn credentials(db: &PgPool, email: &str) -> Result<Option<Credentials>> {
    let row = sqlx::query!(
        "SELECT id, organization_id, email, role, password_hash, disabled_at, created_at
         FROM console_users WHERE email = $1",
        normalize_email(email)
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Credentials {
        user: User::from(UserRow {
            id: r.id,
            organization_id: r.organization_id,
            email: r.email,
            role: r.role,
            has_password: r.password_hash.is_some(),
            disabled_at: r.disabled_at,
            created_at: r.created_at,
        }),
        password_hash: r.password_hash,
    }))
}

/// The password hash of one person (to check their current password before a change).
pub async fn password_hash(db: &PgPool, user_id: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar!("SELECT password_hash FROM console_users WHERE id = $1", user_id)
        .fetch_optional(db)
        .await?
        .flatten())
}

/// One person, in `org` (or anywhere, for the command line).
pub async fn get(conn: &mut PgConnection, org: Option<Uuid>, id: i64) -> Result<User> {
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT id, organization_id, email, role, password_hash IS NOT NULL AS "has_password!", disabled_at, created_at
           FROM console_users WHERE id = $1 AND ($2::uuid IS NULL OR organization_id = $2)"#,
        id,
        org
    )
    .fetch_optional(conn)
    .await?;
    row.map(User::from).ok_or(Error::NotFound("user"))
}

/// One person by email (the command line names people so).
pub async fn find_by_email(db: &PgPool, email: &str) -> Result<User> {
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT id, organization_id, email, role, password_hash IS NOT NULL AS "has_password!", disabled_at, created_at
           FROM console_users WHERE email = $1"#,
        normalize_email(email)
    )
    .fetch_optional(db)
    .await?;
    row.map(User::from).ok_or(Error::NotFound("user"))
}

/// The organization's people, oldest first. An organization has few: no paging.
pub async fn list(db: &PgPool, org: Uuid) -> Result<Vec<User>> {
    let rows = sqlx::query_as!(
        UserRow,
        r#"SELECT id, organization_id, email, role, password_hash IS NOT NULL AS "has_password!", disabled_at, created_at
           FROM console_users WHERE organization_id = $1 ORDER BY id"#,
        org
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(User::from).collect())
}

/// Disables a person: their sessions and links end at once. The organization's last active
/// owner cannot be disabled (nobody could invite again). Disabling a disabled person changes
/// nothing.
pub async fn disable(conn: &mut PgConnection, org: Option<Uuid>, id: i64) -> Result<User> {
    let user = get(&mut *conn, org, id).await?;
    if user.disabled_at.is_some() {
        return Ok(user);
    }
    if user.role == Role::Owner {
        // Serializes concurrent disables of an organization's owners.
        sqlx::query!("SELECT id FROM organizations WHERE id = $1 FOR UPDATE", user.organization_id)
            .fetch_one(&mut *conn)
            .await?;
        let other_owners = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM console_users
               WHERE organization_id = $1 AND role = 'owner' AND disabled_at IS NULL AND id <> $2"#,
            user.organization_id,
            id
        )
        .fetch_one(&mut *conn)
        .await?;
        if other_owners == 0 {
            return Err(Error::transition("The organization's last owner cannot be disabled."));
        }
    }
    sqlx::query!("UPDATE console_users SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM console_sessions WHERE user_id = $1", id).execute(&mut *conn).await?;
    sqlx::query!("DELETE FROM console_password_links WHERE user_id = $1", id).execute(&mut *conn).await?;
    get(conn, org, id).await
}

/// Deletes used and expired set-password links.
pub async fn purge_links(db: &PgPool) -> Result<u64> {
    Ok(sqlx::query!("DELETE FROM console_password_links WHERE used_at IS NOT NULL OR expires_at <= now()")
        .execute(db)
        .await?
        .rows_affected())
}
