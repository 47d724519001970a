//! A long history before the measurements (`bench/run --history N`): N access-audit entries
//! over the twelve months before this one and N events over the event log's 30 days, for the
//! benchmark's organization, so that what a request costs can be compared between an empty log
//! and a large one (the audit log is append-only and grows by a row or more per request).
//!
//! The entries are laid out as a year of use leaves them: each month's in its own partition,
//! with ids from that month's range in the order of their times, and the partition recorded as
//! opened at the month's start (`klinivo::audit::partitions`).

use chrono::Utc;
use klinivo::audit::partitions::{self, SPAN};
use sqlx::PgPool;

use crate::datagen::Seeded;
use crate::BoxError;

/// Records given a trail of their own on the empty log ([`trails`]), and entries in each trail.
pub const TRAIL_RECORDS: i64 = 1000;
pub const TRAIL_ENTRIES: i64 = 60;

/// The records [`trails`] gives a trail: every hundredth seeded patient.
pub fn trail_records(s: &Seeded) -> impl Iterator<Item = i64> + '_ {
    (0..TRAIL_RECORDS).map(move |i| s.min_patient_id + i * 100).take_while(move |id| *id <= s.max_patient_id)
}

/// Gives each of [`trail_records`] [`TRAIL_ENTRIES`] reads in the current month, interleaved
/// as a busy month leaves them, and as many mentions in lists (each list naming twenty of them,
/// as a page of search results does), so that a page of their trail is as long, and of the same
/// kinds of entries, on the empty log as on the large one (where lists name a record about as
/// often as reads do): the read is then compared page for page, and what differs is the log's
/// size, not the page's.
pub async fn trails(db: &PgPool, s: &Seeded) -> Result<(), BoxError> {
    let records: Vec<i64> = trail_records(s).collect();
    sqlx::query(
        "INSERT INTO audit_events (organization_id, at, key_prefix, action, resource_type, resource_id, resource_ids,
                                   status, request_id, client_address, route)
         SELECT $1, now(), 'kv_bench000', kind, 'patient', resource_id, resource_ids, 200, md5(n::text || k::text),
                '10.0.0.1', route
         FROM generate_series(1, $3::bigint) n,
              LATERAL (SELECT k, 'read' AS kind, r AS resource_id, NULL::bigint[] AS resource_ids,
                              'GET /api/v1/patients/{id}' AS route
                       FROM unnest($2::bigint[]) WITH ORDINALITY AS t(r, k)
                       UNION ALL
                       SELECT -k, 'list', NULL,
                              ARRAY(SELECT $2[1 + (k * 20 + j * 37 + n * 11) % cardinality($2)]
                                    FROM generate_series(0, 19) j),
                              'GET /api/v1/patients'
                       FROM generate_series(1, cardinality($2) / 20) k) e
         ORDER BY n, k",
    )
    .bind(s.organization_id)
    .bind(&records)
    .bind(TRAIL_ENTRIES)
    .execute(db)
    .await?;
    Ok(())
}

/// Rows inserted per statement: each is its own transaction, so a failure midway leaves what
/// was written and the WAL of one statement stays bounded.
const CHUNK: i64 = 500_000;
/// Months of audit history before the current one.
const MONTHS: i64 = 12;

pub async fn seed(db: &PgPool, s: &Seeded, rows: i64) -> Result<f64, BoxError> {
    let started = std::time::Instant::now();
    let current = partitions::month_of(Utc::now());
    let mut conn = db.acquire().await?;
    for k in 0..MONTHS {
        let m = current - MONTHS + k;
        partitions::prepare(&mut conn, m).await?;
        sqlx::query("UPDATE audit_event_partitions SET opened_at = $2 WHERE name = $1")
            .bind(partitions::partition_name(m))
            .bind(partitions::month_start(m))
            .execute(&mut *conn)
            .await?;
        let in_month = rows / MONTHS + i64::from(k < rows % MONTHS);
        let (from, to) = (partitions::month_start(m), partitions::month_start(m + 1));
        let mut done = 0;
        while done < in_month {
            let n = CHUNK.min(in_month - done);
            // One entry in twenty is a list naming twenty records, as a page of search results is.
            sqlx::query(
                "INSERT INTO audit_events (id, organization_id, at, key_prefix, action, resource_type, resource_id,
                                           status, request_id, client_address, resource_ids, route)
                 SELECT $6 + i, $1, $7 + ($8 - $7) * (i::float8 / $9),
                        'kv_bench000',
                        CASE WHEN i % 20 = 0 THEN 'list' ELSE 'read' END, 'patient',
                        CASE WHEN i % 20 = 0 THEN NULL ELSE $2 + (random() * ($3 - $2))::bigint END,
                        200, md5(i::text), '10.0.0.1',
                        CASE WHEN i % 20 = 0
                             THEN ARRAY(SELECT $2 + (random() * ($3 - $2))::bigint + i * 0 FROM generate_series(1, 20))
                        END,
                        CASE WHEN i % 20 = 0 THEN 'GET /api/v1/patients' ELSE 'GET /api/v1/patients/{id}' END
                 FROM generate_series($4::bigint, $5::bigint) i",
            )
            .bind(s.organization_id)
            .bind(s.min_patient_id)
            .bind(s.max_patient_id)
            .bind(done + 1)
            .bind(done + n)
            .bind(m * SPAN)
            .bind(from)
            .bind(to)
            .bind(in_month as f64 + 1.0)
            .execute(&mut *conn)
            .await?;
            done += n;
        }
    }
    let mut done = 0;
    while done < rows {
        let n = CHUNK.min(rows - done);
        sqlx::query(
            "INSERT INTO events (id, organization_id, type, data, created_at)
             SELECT gen_random_uuid(), $1, 'patient.updated',
                    jsonb_build_object('id', $2 + (random() * ($3 - $2))::bigint, 'firstName', 'Historic',
                                       'lastName', md5(i::text)),
                    now() - random() * interval '29 days'
             FROM generate_series($4::bigint, $5::bigint) i",
        )
        .bind(s.organization_id)
        .bind(s.min_patient_id)
        .bind(s.max_patient_id)
        .bind(done + 1)
        .bind(done + n)
        .execute(db)
        .await?;
        done += n;
    }
    sqlx::query("VACUUM ANALYZE audit_events").execute(db).await?;
    sqlx::query("VACUUM ANALYZE events").execute(db).await?;
    Ok(started.elapsed().as_secs_f64())
}
