//! Storage of organizations and API keys.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::keys::{self, NewKey};
use super::Permission;

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("organization {0} not found")]
    UnknownOrganization(Uuid),
    #[error("no key with prefix or id {0:?}")]
    UnknownKey(String),
    #[error("{prefix} was revoked at {when}: it cannot be rotated (create a new key)", when = rfc3339(*.at))]
    RevokedKey { prefix: String, at: DateTime<Utc> },
    #[error("{prefix} expired at {when}: it cannot be rotated (create a new key)", when = rfc3339(*.at))]
    ExpiredKey { prefix: String, at: DateTime<Utc> },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A time as the CLI prints it: `2026-01-31T12:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One key as `klinivo key list` shows it (never the secret).
#[derive(Debug, Clone)]
pub struct KeySummary {
    pub id: i64,
    pub name: String,
    pub key_prefix: String,
    pub permissions: Vec<String>,
    pub rate_limit_per_minute: Option<i32>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The one way an organization is made (`klinivo org create`, the demo clinic, the tests);
/// inside the caller's transaction when given one.
pub async fn create_organization(
    db: impl sqlx::PgExecutor<'_>,
    name: &str,
    timezone: &str,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!("INSERT INTO organizations (name, timezone) VALUES ($1, $2) RETURNING id", name, timezone)
        .fetch_one(db)
        .await
}

pub async fn organization_exists(db: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar!("SELECT 1 AS one FROM organizations WHERE id = $1", id).fetch_optional(db).await?.is_some())
}

pub struct KeySpec<'a> {
    pub organization_id: Uuid,
    pub name: &'a str,
    pub permissions: &'a [Permission],
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<i32>,
    pub rotated_from: Option<i64>,
}

/// Why a key's name is refused, if it is: the same rule for the CLI and the console.
pub fn name_problem(name: &str) -> Option<&'static str> {
    let name = name.trim();
    (name.is_empty() || name.len() > 200).then_some("The name must be 1 to 200 characters.")
}

/// The longest expiry a new key may be given.
pub const MAX_EXPIRY_DAYS: u32 = 3650;
/// The highest per-key rate limit.
pub const MAX_RATE_LIMIT: u32 = 1_000_000_000;

/// Creates a key and returns its secret, which exists nowhere else afterwards.
pub async fn create_key(db: &PgPool, spec: KeySpec<'_>) -> Result<NewKey, KeyStoreError> {
    let mut conn = db.acquire().await?;
    Ok(create_key_in(&mut conn, spec).await?.1)
}

/// As [`create_key`], in the caller's transaction; returns the new key's id too.
pub async fn create_key_in(conn: &mut PgConnection, spec: KeySpec<'_>) -> Result<(i64, NewKey), KeyStoreError> {
    let exists = sqlx::query_scalar!("SELECT 1 AS one FROM organizations WHERE id = $1", spec.organization_id)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(KeyStoreError::UnknownOrganization(spec.organization_id));
    }
    Ok(insert_key(conn, spec).await?)
}

/// Inserts a key of an existing organization; returns its id and secret.
async fn insert_key(conn: &mut PgConnection, spec: KeySpec<'_>) -> Result<(i64, NewKey), sqlx::Error> {
    let key = keys::generate();
    let permissions: Vec<String> = spec.permissions.iter().map(|p| p.as_str().to_string()).collect();
    let id = sqlx::query_scalar!(
        "INSERT INTO api_keys (organization_id, name, key_prefix, key_hash, permissions, expires_at,
                               rate_limit_per_minute, rotated_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        spec.organization_id,
        spec.name,
        key.prefix,
        &key.hash[..],
        &permissions,
        spec.expires_at,
        spec.rate_limit_per_minute,
        spec.rotated_from,
    )
    .fetch_one(conn)
    .await?;
    Ok((id, key))
}

pub async fn list_keys(db: &PgPool, organization_id: Uuid) -> Result<Vec<KeySummary>, KeyStoreError> {
    if !organization_exists(db, organization_id).await? {
        return Err(KeyStoreError::UnknownOrganization(organization_id));
    }
    Ok(sqlx::query_as!(
        KeySummary,
        "SELECT id, name, key_prefix, permissions, rate_limit_per_minute, expires_at, revoked_at,
                last_used_at, created_at
         FROM api_keys WHERE organization_id = $1 ORDER BY id",
        organization_id
    )
    .fetch_all(db)
    .await?)
}

/// What `revoke_key` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    Revoked {
        id: i64,
        prefix: String,
    },
    /// Nothing changed: the key had been revoked at `at`.
    AlreadyRevoked {
        id: i64,
        prefix: String,
        at: DateTime<Utc>,
    },
}

/// Revokes by display prefix (`kv_abc12345`) or numeric id, among the keys of `org` (the
/// console) or of every organization (the operator's command line).
pub async fn revoke_key(
    conn: &mut PgConnection,
    org: Option<Uuid>,
    prefix_or_id: &str,
) -> Result<Revocation, KeyStoreError> {
    let id: Option<i64> = prefix_or_id.parse().ok();
    // `old` is the row as it was before this statement: revoked already, or not.
    let row = sqlx::query!(
        r#"UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())
           FROM api_keys old
           WHERE old.id = k.id AND (k.key_prefix = $1 OR k.id = $2)
             AND ($3::uuid IS NULL OR k.organization_id = $3)
           RETURNING k.id, k.key_prefix, old.revoked_at AS "was_revoked_at?""#,
        prefix_or_id,
        id,
        org
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| KeyStoreError::UnknownKey(prefix_or_id.to_string()))?;
    Ok(match row.was_revoked_at {
        Some(at) => Revocation::AlreadyRevoked { id: row.id, prefix: row.key_prefix, at },
        None => Revocation::Revoked { id: row.id, prefix: row.key_prefix },
    })
}

/// What `rotate_key` did.
pub struct Rotation {
    pub old_id: i64,
    pub old_prefix: String,
    /// When the old key stops working (now, with no grace).
    pub old_expires_at: DateTime<Utc>,
    /// When the old key had first been rotated, if this was not its first rotation.
    pub rotated_before_at: Option<DateTime<Utc>>,
    pub new_id: i64,
    pub new: NewKey,
    /// The old key's own expiry, from before any rotation; `None`: it never expires.
    pub new_expires_at: Option<DateTime<Utc>>,
}

/// Issues a replacement with the same name, permissions, limit and expiry, by prefix or id
/// (among the keys of `org`, or of every organization); the old key stays valid for `grace`
/// (never longer than it would have) and then expires. The expiry is the old key's own: rotating
/// it again during its grace gives the new replacement the expiry it had before its first
/// rotation, not what is left of the grace. Runs in the caller's transaction.
pub async fn rotate_key(
    tx: &mut PgConnection,
    org: Option<Uuid>,
    prefix_or_id: &str,
    grace: chrono::Duration,
) -> Result<Rotation, KeyStoreError> {
    let id: Option<i64> = prefix_or_id.parse().ok();
    let old = sqlx::query!(
        r#"SELECT id, organization_id, key_prefix, name, permissions, rate_limit_per_minute, expires_at, revoked_at,
                  rotated_at, expires_at_before_rotation, now() AS "now!"
           FROM api_keys WHERE (key_prefix = $1 OR id = $2) AND ($3::uuid IS NULL OR organization_id = $3)
           FOR UPDATE"#,
        prefix_or_id,
        id,
        org
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| KeyStoreError::UnknownKey(prefix_or_id.to_string()))?;
    if let Some(at) = old.revoked_at {
        return Err(KeyStoreError::RevokedKey { prefix: old.key_prefix, at });
    }
    if let Some(at) = old.expires_at.filter(|at| *at <= old.now) {
        return Err(KeyStoreError::ExpiredKey { prefix: old.key_prefix, at });
    }
    let own_expiry = if old.rotated_at.is_some() { old.expires_at_before_rotation } else { old.expires_at };
    let permissions: Vec<Permission> = old.permissions.iter().filter_map(|p| Permission::parse(p)).collect();
    let (new_id, new) = insert_key(
        &mut *tx,
        KeySpec {
            organization_id: old.organization_id,
            name: &old.name,
            permissions: &permissions,
            expires_at: own_expiry,
            rate_limit_per_minute: old.rate_limit_per_minute,
            rotated_from: Some(old.id),
        },
    )
    .await?;
    let old_expires_at = sqlx::query_scalar!(
        r#"UPDATE api_keys
           SET expires_at = LEAST(coalesce(expires_at, $2), $2),
               expires_at_before_rotation = CASE WHEN rotated_at IS NULL THEN expires_at
                                                 ELSE expires_at_before_rotation END,
               rotated_at = coalesce(rotated_at, now())
           WHERE id = $1 RETURNING expires_at AS "expires_at!""#,
        old.id,
        old.now + grace
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Rotation {
        old_id: old.id,
        old_prefix: old.key_prefix,
        old_expires_at,
        rotated_before_at: old.rotated_at,
        new_id,
        new,
        new_expires_at: own_expiry,
    })
}

/// What the fused lookup returns: the key, and the budget this lease obtained in its window.
pub struct KeyLookup {
    pub key_id: i64,
    pub organization_id: Uuid,
    pub key_prefix: String,
    pub permissions: Vec<String>,
    /// The key's limit (its own, or the default passed in).
    pub limit: i32,
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests leased in this window so far, by every instance, this lease included.
    pub count: i32,
    /// How many requests this lease granted (0 when the window's budget is spent).
    pub granted: i32,
    /// Start of the current one-minute window (database clock, shared by all instances).
    pub window_start: DateTime<Utc>,
}

/// One statement: find a live key by hash, and lease up to `max_chunk` requests of its window's
/// budget (a twentieth of the limit, at least one, never past the limit). With one request per
/// lease this is an exact shared counter; larger leases spare round trips at high rates.
pub async fn authenticate_and_lease(
    db: &PgPool,
    hash: &[u8; 32],
    default_limit: i32,
    max_chunk: i32,
) -> Result<Option<KeyLookup>, sqlx::Error> {
    sqlx::query_as!(
        KeyLookup,
        r#"WITH k AS (
               SELECT id, organization_id, key_prefix, permissions, expires_at,
                      coalesce(rate_limit_per_minute, $2) AS lim
               FROM api_keys
               WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
           ), c AS (
               INSERT INTO rate_limit_counters AS r (api_key_id, window_start, count, last_grant)
               SELECT id, date_trunc('minute', now()), LEAST(GREATEST(lim / 20, 1), $3, lim),
                      LEAST(GREATEST(lim / 20, 1), $3, lim)
               FROM k
               ON CONFLICT (api_key_id) DO UPDATE
                   SET count = CASE WHEN r.window_start >= EXCLUDED.window_start
                                    THEN r.count + LEAST(EXCLUDED.count, GREATEST((SELECT lim FROM k) - r.count, 0))
                                    ELSE EXCLUDED.count END,
                       last_grant = CASE WHEN r.window_start >= EXCLUDED.window_start
                                    THEN LEAST(EXCLUDED.count, GREATEST((SELECT lim FROM k) - r.count, 0))
                                    ELSE EXCLUDED.count END,
                       window_start = GREATEST(r.window_start, EXCLUDED.window_start)
               RETURNING count, last_grant, window_start
           )
           SELECT k.id AS "key_id!", k.organization_id AS "organization_id!", k.key_prefix AS "key_prefix!",
                  k.permissions AS "permissions!", k.lim AS "limit!", k.expires_at,
                  c.count AS "count!", c.last_grant AS "granted!", c.window_start AS "window_start!"
           FROM k CROSS JOIN c"#,
        &hash[..],
        default_limit,
        max_chunk,
    )
    .fetch_optional(db)
    .await
}

/// Writes the batched `lastUsedAt` values (one statement for all keys seen since the last flush).
pub async fn record_last_used(db: &PgPool, ids: &[i64], at: &[DateTime<Utc>]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE api_keys k SET last_used_at = u.at
         FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, at)
         WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
        ids,
        at
    )
    .execute(db)
    .await?;
    Ok(())
}
