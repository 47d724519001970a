//! Applying the migrations, and accepting applied migrations whose comments were reworded.
//!
//! sqlx refuses to start on a database where an applied migration's text no longer matches
//! (its checksum covers comments too). A migration's SQL never changes once released; its
//! comments may be reworded, and then the checksum it had is listed in [`REWORDED`]: a
//! database that applied that exact earlier text has its stored checksum brought up to date
//! before sqlx compares them. Any other difference is still refused.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::PgPool;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Applied migrations whose comments were reworded without touching their SQL: the version
/// and the SHA-384 (hex) of the earlier text.
const REWORDED: &[(i64, &str)] = &[
    (61, "db3fd2c37440fd62b12580065268ed103ac25ab0eae713659f9031bd32192393d2233ca97775c4f29189f0a6f485729d"),
    (62, "d20eea6c9e834b49d5018e49a59549a3c9683a80306bccc686ae0bedc385df9a50197efb690d1ffc8b5f4318620507ea"),
    (64, "fb7a7a60d8f6fd1619f049bfeccf000227ae952812cc99d4e68822a475c33a962859e401beafc36eddda291b581d14d5"),
];

pub async fn migrate(db: &PgPool) -> Result<(), MigrateError> {
    accept_reworded(db).await?;
    MIGRATOR.run(db).await
}

/// Brings the stored checksum of each reworded migration up to date, where the database
/// applied exactly its earlier text. Nothing to do on a new database.
async fn accept_reworded(db: &PgPool) -> Result<(), MigrateError> {
    let table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text").fetch_one(db).await?;
    if table.is_none() {
        return Ok(());
    }
    for &(version, earlier) in REWORDED {
        let Some(current) = MIGRATOR.iter().find(|m| m.version == version) else { continue };
        let earlier = hex::decode(earlier).map_err(|e| MigrateError::Source(Box::new(e)))?;
        sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3")
            .bind(current.checksum.as_ref())
            .bind(version)
            .bind(earlier)
            .execute(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha384};

    #[test]
    fn checksums_are_sha384_of_the_file_and_reworded_ones_differ() {
        for m in MIGRATOR.iter() {
            assert_eq!(m.checksum.as_ref(), Sha384::digest(m.sql.as_bytes()).as_slice(), "migration {}", m.version);
        }
        for &(version, earlier) in REWORDED {
            let m = MIGRATOR.iter().find(|m| m.version == version).expect("a reworded migration exists");
            assert_ne!(hex::encode(m.checksum.as_ref()), earlier);
        }
    }
}
