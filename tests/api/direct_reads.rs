//! The pool of direct connections (`db::direct`): connections go back without a round trip,
//! and one whose use did not end cleanly, or that the database dropped, is never handed out
//! in a state that answers the next read wrongly.

use std::str::FromStr;
use std::time::Duration;

use klinivo::db::direct::DirectPool;
use sqlx::postgres::PgConnectOptions;
use sqlx::Row;

use crate::helpers::fresh_database;

async fn pool_of_one() -> (DirectPool, sqlx::PgPool) {
    let url = fresh_database().await;
    (DirectPool::new(PgConnectOptions::from_str(&url).unwrap(), 1), sqlx::PgPool::connect(&url).await.unwrap())
}

async fn backend_pid(pool: &DirectPool) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn a_clean_read_gives_the_connection_back_for_the_next() {
    let (pool, _admin) = pool_of_one().await;
    let first = backend_pid(&pool).await;
    for _ in 0..5 {
        assert_eq!(backend_pid(&pool).await, first, "the connection was not reused");
    }
    let rows = sqlx::query("SELECT g FROM generate_series(1, 300) g").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), 300);
    assert_eq!(rows[299].get::<i32, _>(0), 300);
    assert_eq!((pool.open(), pool.idle()), (1, 1));
}

#[tokio::test]
async fn a_read_dropped_half_way_does_not_answer_the_next() {
    let (pool, _admin) = pool_of_one().await;
    let first = backend_pid(&pool).await;
    // The request goes away while PostgreSQL is still working on its statement.
    let slow = sqlx::query_scalar::<_, i32>("SELECT 7 FROM pg_sleep(0.3)").fetch_one(&pool);
    assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err());
    // The same connection serves the next read, with that read's own answer.
    let n: i32 = sqlx::query_scalar("SELECT 42").fetch_one(&pool).await.unwrap();
    assert_eq!(n, 42);
    assert_eq!(backend_pid(&pool).await, first);
}

#[tokio::test]
async fn a_connection_the_database_dropped_is_replaced() {
    let (pool, admin) = pool_of_one().await;
    let first = backend_pid(&pool).await;
    sqlx::query("SELECT pg_terminate_backend($1)").bind(first).execute(&admin).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The read that meets the dropped connection fails (the server answers it 503, retryable);
    // the connection goes back marked, fails its ping and is replaced.
    let _ = backend_pid_result(&pool).await;
    let second = backend_pid(&pool).await;
    assert_ne!(second, first);
    assert_eq!(backend_pid(&pool).await, second);
    assert_eq!(pool.open(), 1, "the dropped connection is still counted");
}

async fn backend_pid_result(pool: &DirectPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(pool).await
}

#[tokio::test]
async fn a_read_waits_for_a_free_connection_and_no_longer_than_the_timeout() {
    let (pool, _admin) = pool_of_one().await;
    let held = pool.acquire().await.unwrap();
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { backend_pid_result(&pool).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "a second connection was opened past the pool's size");
    held.release();
    assert!(waiting.await.unwrap().is_ok());
}

#[tokio::test]
async fn its_sessions_refuse_writes() {
    let url = fresh_database().await;
    let main = sqlx::PgPool::connect(&url).await.unwrap();
    let reads = klinivo::db::single_reads(&main, 4);
    let err = sqlx::query("CREATE TABLE should_not_exist (id int)").execute(&reads).await.unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'should_not_exist'")
        .fetch_one(&main)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn closing_closes_the_idle_connections_and_refuses_reads() {
    let (pool, admin) = pool_of_one().await;
    let pid = backend_pid(&pool).await;
    pool.close().await;
    assert_eq!((pool.open(), pool.idle()), (0, 0));
    assert!(matches!(backend_pid_result(&pool).await, Err(sqlx::Error::PoolClosed)));
    let gone = crate::helpers::eventually(Duration::from_secs(5), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(&admin)
            .await
            .unwrap();
        n == 0
    })
    .await;
    assert!(gone, "the connection is still open");
}

#[tokio::test]
async fn generic_reads_are_read_only_sessions_on_generic_plans_without_jit() {
    let db = sqlx::PgPool::connect(&fresh_database().await).await.unwrap();
    let pool = klinivo::db::generic_reads(&db);
    let mut conn = pool.acquire().await.unwrap();
    for (setting, expected) in
        [("plan_cache_mode", "force_generic_plan"), ("default_transaction_read_only", "on"), ("jit", "off")]
    {
        let value: String =
            sqlx::query_scalar("SELECT current_setting($1)").bind(setting).fetch_one(&mut *conn).await.unwrap();
        assert_eq!(value, expected, "{setting}");
    }
    conn.release();
}
