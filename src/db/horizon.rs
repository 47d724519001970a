//! The sync horizon: the instant below which no row can still appear, for the lists that page
//! by `(updatedAt, id)` (`updatedSince`) and the event log (`(createdAt, seq)`).
//!
//! A row's `updated_at` (and `created_at`) is its transaction's start, `now()`, set by the
//! `set_updated_at` trigger and the column defaults; an event's `created_at` is the moment it was
//! inserted, later still. A transaction can commit long after it started (it waited on a lock,
//! or did slow work), and so add a row far behind a cursor that a client has already paged past:
//! a keyset cursor alone would skip it for good. So those lists serve only rows strictly below
//! the horizon
//!
//! `H = least(statement_timestamp(), the start of every other transaction open on this database)`
//!
//! (with none open, the start of this statement). Every transaction still open started at or
//! after `H`, so whatever it commits carries a
//! timestamp at or after `H`: the rows below `H` are final. Those committed are all visible to the
//! statement that reads the page, provided that statement runs after this one (in READ COMMITTED
//! each statement takes its own snapshot): a transaction that had ended when `pg_stat_activity` was
//! read had made its commit visible before it stopped showing there. Read in the page's own
//! statement instead, a transaction committing between that statement's snapshot and its read of
//! `pg_stat_activity` would be in neither, and its rows would be served past unseen. (Hence also
//! READ COMMITTED: under REPEATABLE READ a transaction's first statement fixes the snapshot.)
//!
//! What counts:
//! - Every client backend of this database with a transaction open, read-only and idle ones too:
//!   a transaction that has not written yet may still write, with its start as the timestamp.
//!   One left open (an idle-in-transaction session, a `pg_dump` on this database) holds the
//!   horizon back for as long as it stays open: the lists answer, but without the newer changes.
//! - An active backend whose transaction has not announced its start yet: its statement's start,
//!   which becomes its transaction's start, is announced first.
//! - Not autovacuum and the other background processes: they write none of these rows, and a
//!   long vacuum would hold the horizon back.
//! - Not this connection: the list's own read writes nothing.
//! - Not an idle session that PostgreSQL briefly wraps in a transaction of its own, to read the
//!   notifications of a `LISTEN` or to catch up on cache invalidations: that transaction shows
//!   the start of the session's last statement, which for a listener can be hours old, and would
//!   drop the horizon that far for an instant and hide every newer row from the page. It writes
//!   nothing, and it is told from a session starting a transaction of its own by its state:
//!   still `idle`, since before that start. (A client's transaction shows `idle` for a moment too,
//!   while its first `Bind` or `Describe` is read, but with a start after the state's change.)
//!
//! What it cannot see: a session whose details this database role may not read (another role's,
//! without `pg_read_all_stats`); a prepared transaction (two-phase commit, which nothing here
//! uses); and a backend that has taken its statement's start time but not announced it yet,
//! which is a few instructions unless the operating system deschedules the backend right there
//! for longer than this statement takes to reach `pg_stat_activity`.
//!
//! A new row is served as soon as no transaction that started before it is still open: a client
//! that changes a record and then lists it sees the change.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The horizon as of now. Run it before the statement that reads the page, as a statement of its
/// own, in READ COMMITTED or outside a transaction, and once per transaction: PostgreSQL keeps a
/// transaction's first read of `pg_stat_activity` for the rest of it.
pub async fn current(conn: &mut PgConnection) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT least(statement_timestamp(), min(coalesce(xact_start, query_start))) AS "horizon!"
           FROM pg_stat_activity
           WHERE datname = current_database() AND backend_type = 'client backend'
             AND pid <> pg_backend_pid()
             AND (state = 'active' OR (xact_start IS NOT NULL AND (state <> 'idle' OR xact_start >= state_change)))"#
    )
    .fetch_one(conn)
    .await
}
