//! Connections for reads that run outside any transaction (a record by id, patient search),
//! handed out without sqlx's ping on release.
//!
//! sqlx's pool pings every connection as it goes back (one more round trip to PostgreSQL after
//! every statement run on the pool), to find broken connections and to flush what a cancelled
//! statement left. For a request that reads one record that doubles its round trips; measured,
//! it was a third of a bare one-SELECT server's cost (bench/README.md, "Round trips"). Here a
//! connection goes back with no round trip when its statement succeeded. One whose use ended
//! otherwise (an error, a request dropped half-way) goes back marked, and is pinged when next
//! taken out: the ping waits out whatever the dropped statement left unread, and a connection
//! that fails it is replaced. A connection idle for [`IDLE_CHECK`] is pinged too, as the main
//! pool does, and one older than [`MAX_LIFETIME`] is closed rather than reused.
//!
//! Nothing here may hold a transaction open between uses: [`DirectPool`] is an executor for
//! single statements, and [`DirectConn`] is for a run of them each on its own snapshot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::postgres::{PgConnectOptions, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Connection, Describe, Either, Execute, Executor, PgConnection, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A connection idle this long is pinged before it is used again.
pub const IDLE_CHECK: Duration = Duration::from_secs(5);
/// A connection this old is closed when it comes back (sqlx's default lifetime).
pub const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// How long a read waits for a connection (a free one, a new one, or a ping's answer), as the
/// main pool's acquire timeout.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

struct Idle {
    conn: PgConnection,
    created: Instant,
    returned: Instant,
    /// Its last use did not end cleanly: ping it before the next.
    suspect: bool,
}

struct Inner {
    options: PgConnectOptions,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
    /// Connections open, idle or lent.
    open: AtomicUsize,
}

/// At most `size` connections to one database, opened when first needed.
#[derive(Clone)]
pub struct DirectPool(Arc<Inner>);

impl std::fmt::Debug for DirectPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectPool").field("available", &self.0.permits.available_permits()).finish()
    }
}

impl DirectPool {
    pub fn new(options: PgConnectOptions, size: u32) -> Self {
        let size = size.max(1) as usize;
        DirectPool(Arc::new(Inner {
            options,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Arc::new(Semaphore::new(size)),
            open: AtomicUsize::new(0),
        }))
    }

    /// A connection, waiting up to [`ACQUIRE_TIMEOUT`] for one to be free (`PoolTimedOut`
    /// past it, as the main pool answers).
    pub async fn acquire(&self) -> Result<DirectConn, sqlx::Error> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.0.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // Most recently returned first: its caches are warm and it needs no ping.
        let reused = self.0.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(mut idle) = reused {
            if !idle.suspect && idle.returned.elapsed() < IDLE_CHECK {
                return Ok(self.conn(idle.conn, idle.created, permit));
            }
            // Bounded: a connection the network stopped answering must not hold its permit.
            if let Ok(Ok(())) = tokio::time::timeout(ACQUIRE_TIMEOUT, idle.conn.ping()).await {
                return Ok(self.conn(idle.conn, idle.created, permit));
            }
            // Broken (the database restarted, the network dropped it): replaced below.
            self.0.open.fetch_sub(1, Ordering::Relaxed);
        }
        let conn = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&self.0.options))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        self.0.open.fetch_add(1, Ordering::Relaxed);
        Ok(self.conn(conn, Instant::now(), permit))
    }

    fn conn(&self, conn: PgConnection, created: Instant, permit: OwnedSemaphorePermit) -> DirectConn {
        DirectConn { conn: Some(conn), created, clean: false, pool: self.0.clone(), _permit: permit }
    }

    /// Closes the idle connections and refuses new uses (at shutdown, after the last request).
    pub async fn close(&self) {
        self.0.permits.close();
        let idle = std::mem::take(&mut *self.0.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for idle in idle {
            self.0.open.fetch_sub(1, Ordering::Relaxed);
            let _ = tokio::time::timeout(Duration::from_secs(5), idle.conn.close()).await;
        }
    }

    /// Connections open and idle now.
    pub fn idle(&self) -> usize {
        self.0.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Connections open now, idle or in use.
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Relaxed)
    }
}

/// A connection taken from a [`DirectPool`]. Call [`DirectConn::release`] once its statements
/// have succeeded; dropped without it, the connection goes back marked for a ping.
pub struct DirectConn {
    conn: Option<PgConnection>,
    created: Instant,
    clean: bool,
    pool: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl DirectConn {
    /// Returns the connection after a use that ended cleanly: no round trip.
    pub fn release(mut self) {
        self.clean = true;
    }

    /// `release`s on success, passes the result on either way.
    pub fn finish<T, E>(self, result: Result<T, E>) -> Result<T, E> {
        if result.is_ok() {
            self.release();
        }
        result
    }
}

impl std::ops::Deref for DirectConn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for DirectConn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for DirectConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.created.elapsed() >= MAX_LIFETIME {
            self.pool.open.fetch_sub(1, Ordering::Relaxed);
            // Closed politely where a runtime is at hand; otherwise the socket just closes.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
                });
            }
            return;
        }
        if self.pool.permits.is_closed() {
            self.pool.open.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let idle = Idle { conn, created: self.created, returned: Instant::now(), suspect: !self.clean };
        self.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(idle);
    }
}

/// Single statements on a connection of the pool. Rows are gathered before they are streamed
/// (the statements read a record or a bounded page), so that the connection is back before the
/// caller looks at them.
impl<'p> Executor<'p> for &'_ DirectPool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        let rows = async move {
            let mut conn = pool.acquire().await?;
            let rows = conn.fetch_many(query).try_collect::<Vec<_>>().await;
            conn.finish(rows)
        };
        Box::pin(
            futures_util::stream::once(rows)
                .map(|rows| match rows {
                    Ok(rows) => futures_util::stream::iter(rows.into_iter().map(Ok)).left_stream(),
                    Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
                })
                .flatten(),
        )
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let row = conn.fetch_optional(query).await;
            conn.finish(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let statement = conn.prepare_with(sql, parameters).await;
            conn.finish(statement)
        })
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let described = conn.describe(sql).await;
            conn.finish(described)
        })
    }
}
