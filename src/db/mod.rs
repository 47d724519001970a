//! Storage: the pool, migrations, readiness, the embedded PostgreSQL, transactions, the sync
//! horizon.

pub mod direct;
pub mod embedded;
pub mod health;
pub mod horizon;
pub mod migrations;

pub use migrations::{migrate, MIGRATOR};

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres, Transaction};

// A pooled connection idle this long is pinged before it is handed out (see `connect`), on
// either kind of pool.
use direct::IDLE_CHECK;

/// Opens the pool.
///
/// sqlx pings a connection when it goes back to the pool and, by default, again when it is
/// taken out: two extra round trips around every query on the pool, a third of the database
/// round trips of a one-query request, and sending to PostgreSQL is the server's largest cost on
/// reads (bench/README.md). The ping on return stays on this pool (sqlx always does it; reads
/// outside transactions avoid it on [`direct`] connections); the one on acquire is made only
/// for a connection idle [`IDLE_CHECK`] or longer, since one used more recently was answered
/// then. After a
/// database restart, a request handed a connection the restart broke answers `503
/// service_unavailable` (retryable) and the connection is dropped when it goes back.
///
/// Statements run in PostgreSQL's default `plan_cache_mode`: after five executions on a
/// connection a statement keeps a generic plan when it is estimated no dearer than the custom
/// ones, so the statements on every request's path (the key lookup, reads by id, inserts and
/// the foreign-key checks they trigger) are not planned again on every execution. The lists
/// with optional filters and patient search, whose best plan depends on the values, ask for
/// custom plans: [`planned_read`]. (`force_custom_plan` on every connection cost a fifth of the
/// database's CPU on writes: see bench/README.md.)
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name("klinivo");
    pool_options(max_connections).min_connections(1.min(max_connections)).connect_with(options).await
}

fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_CHECK {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// A read-only transaction whose statements are planned for their actual parameters every time
/// (`plan_cache_mode = force_custom_plan`), for the lists with optional filters and patient
/// search: a plan cached for one set of filters, or for one search term, can be badly wrong for
/// the next. One round trip opens it; dropping it queues the `ROLLBACK`, sent with the
/// connection's next statement. READ COMMITTED whatever the database's default, so that each
/// statement reads a snapshot of its own ([`horizon`] relies on it).
pub async fn planned_read(db: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let begin = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan";
    begin_with(db, begin.into()).await
}

/// Connections of the [`generic_reads`] pool.
pub const GENERIC_READ_CONNECTIONS: u32 = 6;

/// A small pool, connected like `db`, whose sessions are read-only and run every statement on
/// its generic plan from the first execution, never planned again: for statements written so
/// that one plan is right for every value (patient search, whose steps each have a single
/// sensible plan), planning per execution is pure cost (an eighth of the database's CPU under
/// search load). Being settings of the session, they cost no round trip: a read on this pool
/// needs no `BEGIN … SET LOCAL` and no `ROLLBACK` (one round trip of the two or three of a
/// search). Each statement runs on a snapshot of its own. Few connections: these reads are
/// CPU-bound, and more of them at once than there are cores only queue inside PostgreSQL.
/// Its connections go back without sqlx's release ping ([`direct`]).
///
/// JIT compilation is off in these sessions: a generic plan's cost is a guess, and a guess over
/// many partitions passes `jit_above_cost`, so that the statement is compiled at every
/// execution, for far longer than it runs (bench/README.md, "Cost as the log grows").
pub fn generic_reads(db: &PgPool) -> direct::DirectPool {
    let settings = [("plan_cache_mode", "force_generic_plan"), ("default_transaction_read_only", "on"), ("jit", "off")];
    let options = (*db.connect_options()).clone().options(settings);
    direct::DirectPool::new(options, GENERIC_READ_CONNECTIONS)
}

/// The pool for single-statement reads outside transactions (a record by id), whose
/// connections go back without sqlx's release ping ([`direct`]): half as many connections as
/// the main pool, at least two. Its sessions are read-only, so a write sent there by mistake
/// fails rather than commits outside the write layer's transaction.
pub fn single_reads(db: &PgPool, main_connections: u32) -> direct::DirectPool {
    let options = (*db.connect_options()).clone().options([("default_transaction_read_only", "on")]);
    direct::DirectPool::new(options, main_connections.div_ceil(2).max(2))
}

/// A second pool to `db`'s database, whose sessions start with `settings`, connecting when
/// first used: a few connections set up for one kind of work.
pub fn pool_like(db: &PgPool, settings: &[(&str, &str)], max_connections: u32) -> PgPool {
    let options = (*db.connect_options()).clone().options(settings.iter().copied());
    pool_options(max_connections).connect_lazy_with(options)
}

/// Begins a transaction with `statement` (one simple query that starts with `BEGIN`).
///
/// It runs on a task of its own so that it cannot be cancelled half-way. sqlx counts a
/// transaction as open only once the answer to `BEGIN` has arrived; a request dropped while
/// waiting for it (the client went away, the request timed out) would hand the pool a connection
/// inside a transaction nobody knows of, and every later user of that connection would run in
/// it. On its own task the answer always arrives, and if no one awaits the transaction any
/// more it is dropped there, which rolls it back before the connection is reused.
pub async fn begin_with(db: &PgPool, statement: String) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let db = db.clone();
    match tokio::spawn(async move { db.begin_with(statement).await }).await {
        Ok(begun) => begun,
        // A panic is a bug: it goes on as a panic (the request's, answered `500` and logged).
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only the runtime shutting down cancels the task: so is the pool.
        Err(_) => Err(sqlx::Error::PoolClosed),
    }
}

pub fn connect_lazy(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name("klinivo");
    Ok(pool_options(max_connections).connect_lazy_with(options))
}

/// `check_ready`'s reason when the database does not answer.
pub const UNREACHABLE: &str = "database unreachable";

/// Ready: the database answers and has every migration this build knows.
pub async fn check_ready(db: &PgPool) -> Result<(), String> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Result<Option<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(db).await;
    match applied {
        Ok(Some(v)) if v >= latest => Ok(()),
        Ok(_) => Err("database is not migrated".into()),
        Err(_) => Err(UNREACHABLE.into()),
    }
}
