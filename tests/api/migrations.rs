//! Migrations: a database that applied a migration before its comments were reworded still
//! starts; one whose applied text differs in any other way is refused.

use crate::helpers::fresh_database;

#[tokio::test]
async fn a_reworded_migration_is_accepted_and_any_other_change_refused() {
    let pool = sqlx::PgPool::connect(&fresh_database().await).await.unwrap();
    let current: Vec<u8> =
        sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = 61").fetch_one(&pool).await.unwrap();

    // As a database that applied 0061 with its earlier comments has it.
    let earlier = "db3fd2c37440fd62b12580065268ed103ac25ab0eae713659f9031bd32192393d2233ca97775c4f29189f0a6f485729d";
    sqlx::query("UPDATE _sqlx_migrations SET checksum = decode($1, 'hex') WHERE version = 61")
        .bind(earlier)
        .execute(&pool)
        .await
        .unwrap();
    klinivo::db::migrate(&pool).await.expect("the earlier text of a reworded migration is accepted");
    let after: Vec<u8> =
        sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = 61").fetch_one(&pool).await.unwrap();
    assert_eq!(after, current, "the stored checksum is brought up to date");

    // Any other text is still a mismatch.
    sqlx::query("UPDATE _sqlx_migrations SET checksum = sha384('something else') WHERE version = 61")
        .execute(&pool)
        .await
        .unwrap();
    let refused = klinivo::db::migrate(&pool).await;
    assert!(matches!(refused, Err(sqlx::migrate::MigrateError::VersionMismatch(61))), "{refused:?}");
}
