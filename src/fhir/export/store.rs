//! Export jobs and their files in PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Job {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub api_key_id: i64,
    pub kind: String,
    pub types: Vec<String>,
    pub since: Option<DateTime<Utc>>,
    pub request: String,
    pub status: String,
    pub transaction_time: DateTime<Utc>,
    pub progress: Option<String>,
    pub error: Option<String>,
    pub expires_at: DateTime<Utc>,
}

pub struct NewJob<'a> {
    pub organization_id: Uuid,
    pub api_key_id: i64,
    pub kind: &'a str,
    pub types: &'a [String],
    pub since: Option<DateTime<Utc>>,
    pub request: &'a str,
    pub transaction_time: DateTime<Utc>,
    pub ttl: chrono::Duration,
}

/// At most this many jobs of one key are waiting or running at a time…
pub const ACTIVE_PER_KEY: i64 = 1;
/// …and at most this many of one organization are kept (each holds a copy of what it exported
/// until it expires or is deleted).
pub const KEPT_PER_ORGANIZATION: i64 = 10;

/// Why a job was not created.
pub enum Refusal {
    KeyBusy,
    OrganizationFull,
}

/// Creates a job unless the key has one under way or the organization keeps its most; the check
/// and the insert hold the organization's lock, so simultaneous kick-offs cannot both pass.
pub async fn create(db: &PgPool, job: NewJob<'_>) -> Result<Result<Uuid, Refusal>, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext($1::text))", job.organization_id.to_string())
        .execute(&mut *tx)
        .await?;
    let counts = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE api_key_id = $2 AND status IN ('queued', 'running')) AS "active!",
                  count(*) FILTER (WHERE status <> 'cancelled') AS "kept!"
           FROM fhir_export_jobs WHERE organization_id = $1 AND expires_at > now()"#,
        job.organization_id,
        job.api_key_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if counts.active >= ACTIVE_PER_KEY {
        return Ok(Err(Refusal::KeyBusy));
    }
    if counts.kept >= KEPT_PER_ORGANIZATION {
        return Ok(Err(Refusal::OrganizationFull));
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO fhir_export_jobs (organization_id, api_key_id, kind, types, since, request, transaction_time, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8)) RETURNING id",
        job.organization_id,
        job.api_key_id,
        job.kind,
        job.types,
        job.since,
        job.request,
        job.transaction_time,
        job.ttl.num_seconds() as f64,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// A live job of this organization and key (another's, or an expired one, is not found).
pub async fn get(db: &PgPool, org: Uuid, key_id: i64, id: Uuid) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as!(
        Job,
        "SELECT id, organization_id, api_key_id, kind, types, since, request, status, transaction_time, progress, error,
                expires_at
         FROM fhir_export_jobs
         WHERE id = $1 AND organization_id = $2 AND api_key_id = $3 AND expires_at > now()",
        id,
        org,
        key_id
    )
    .fetch_optional(db)
    .await
}

/// Cancels a job: it stops at its next part, and its files go at once.
pub async fn cancel(db: &PgPool, job: Uuid) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        "UPDATE fhir_export_jobs SET status = 'cancelled', completed_at = now(), lease_until = NULL
         WHERE id = $1 AND status IN ('queued', 'running', 'completed', 'failed')",
        job
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM fhir_export_files WHERE job_id = $1", job).execute(&mut *tx).await?;
    tx.commit().await
}

/// One output file's parts, as the manifest lists them.
pub struct FileEntry {
    pub resource_type: String,
    pub part: i32,
    pub resources: i32,
}

pub async fn files(db: &PgPool, job: Uuid) -> Result<Vec<FileEntry>, sqlx::Error> {
    sqlx::query_as!(
        FileEntry,
        "SELECT resource_type, part, resources FROM fhir_export_files WHERE job_id = $1 ORDER BY resource_type, part",
        job
    )
    .fetch_all(db)
    .await
}

pub struct FilePart {
    pub ndjson: String,
    pub record_type: Option<String>,
    pub record_ids: Vec<i64>,
}

pub async fn file(db: &PgPool, job: Uuid, resource_type: &str, part: i32) -> Result<Option<FilePart>, sqlx::Error> {
    sqlx::query_as!(
        FilePart,
        "SELECT ndjson, record_type, record_ids FROM fhir_export_files WHERE job_id = $1 AND resource_type = $2 AND part = $3",
        job,
        resource_type,
        part
    )
    .fetch_optional(db)
    .await
}

/// How long a runner holds a job without renewing its lease.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// Takes the oldest job that is queued, or running under a lapsed lease (its runner died), and
/// starts it from scratch.
pub async fn claim(db: &PgPool) -> Result<Option<Job>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let job = sqlx::query_as!(
        Job,
        "SELECT id, organization_id, api_key_id, kind, types, since, request, status, transaction_time, progress, error,
                expires_at
         FROM fhir_export_jobs
         WHERE status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now()) AND expires_at > now()
         ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED"
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(job) = &job {
        sqlx::query!(
            "UPDATE fhir_export_jobs SET status = 'running', progress = 'starting',
                    lease_until = now() + make_interval(secs => $2)
             WHERE id = $1",
            job.id,
            LEASE.num_seconds() as f64
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!("DELETE FROM fhir_export_files WHERE job_id = $1", job.id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(job)
}

/// Stores one part and renews the lease; `false` when the job was cancelled meanwhile (the
/// part is not stored and the runner stops).
#[allow(clippy::too_many_arguments)]
pub async fn store_part(
    db: &PgPool,
    job: Uuid,
    resource_type: &str,
    part: i32,
    resources: i32,
    record_type: Option<&str>,
    record_ids: &[i64],
    ndjson: &str,
    progress: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let live = sqlx::query!(
        "UPDATE fhir_export_jobs SET progress = $2, lease_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND status = 'running' RETURNING id",
        job,
        progress,
        LEASE.num_seconds() as f64
    )
    .fetch_optional(&mut *tx)
    .await?
    .is_some();
    if live {
        sqlx::query!(
            "INSERT INTO fhir_export_files (job_id, resource_type, part, resources, record_type, record_ids, ndjson)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            job,
            resource_type,
            part,
            resources,
            record_type,
            record_ids,
            ndjson
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(live)
}

/// Renews the lease and says how far the job is; `false` when it was cancelled.
pub async fn heartbeat(db: &PgPool, job: Uuid, progress: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "UPDATE fhir_export_jobs SET progress = $2, lease_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND status = 'running' RETURNING id",
        job,
        progress,
        LEASE.num_seconds() as f64
    )
    .fetch_optional(db)
    .await?
    .is_some())
}

pub async fn finish(db: &PgPool, job: Uuid, error: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE fhir_export_jobs
         SET status = CASE WHEN $2::text IS NULL THEN 'completed' ELSE 'failed' END, error = $2,
             completed_at = now(), lease_until = NULL, progress = NULL
         WHERE id = $1 AND status = 'running'",
        job,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes expired jobs and their files.
pub async fn purge_expired(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!("DELETE FROM fhir_export_jobs WHERE expires_at <= now()").execute(db).await?.rows_affected())
}
