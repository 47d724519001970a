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

/// 0078: a note written before notes had versions becomes version 1, signed by its author when
/// it was written, with its text unchanged; and that signed version is then as fixed as any.
#[tokio::test]
async fn notes_written_before_versions_become_their_signed_first_version() {
    use std::borrow::Cow;

    use crate::helpers::{empty_database, seed_appointment, seed_clinic, seed_patient};

    let pool = sqlx::PgPool::connect(&empty_database("").await).await.unwrap();
    let before: Vec<_> = klinivo::db::MIGRATOR.iter().filter(|m| m.version < 78).cloned().collect();
    let earlier = sqlx::migrate::Migrator { migrations: Cow::Owned(before), ..sqlx::migrate::Migrator::DEFAULT };
    earlier.run(&pool).await.unwrap();

    let org = klinivo::auth::store::create_organization(&pool, "Old Clinic", "UTC").await.unwrap();
    let clinic = seed_clinic(&pool, org).await;
    let patient = seed_patient(&pool, org).await;
    let starts = chrono::Utc::now() - chrono::Duration::days(3);
    let appointment = seed_appointment(&pool, org, &clinic, patient, starts, 30, "completed").await;
    let (note, written): (i64, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "WITH c AS (
             INSERT INTO consultations (organization_id, appointment_id, patient_id, provider_id, status)
             VALUES ($1, $2, $3, $4, 'ended') RETURNING id
         )
         INSERT INTO soap_notes (organization_id, consultation_id, author_provider_id, subjective, plan, created_at)
         SELECT $1, c.id, $4, 'Old subjective', 'Old plan', now() - interval '2 days' FROM c
         RETURNING id, created_at",
    )
    .bind(org)
    .bind(appointment)
    .bind(patient)
    .bind(clinic.provider_id)
    .fetch_one(&pool)
    .await
    .unwrap();

    klinivo::db::migrate(&pool).await.unwrap();
    let version: serde_json::Value = sqlx::query_scalar(
        "SELECT jsonb_build_object('version', v.version, 'status', v.status, 'subjective', v.subjective,
                                   'plan', v.plan, 'signedBy', v.signed_by_provider_id,
                                   'signedWhenWritten', v.signed_at = n.created_at,
                                   'key', v.created_by_key_prefix, 'reason', v.amendment_reason)
         FROM soap_notes n JOIN soap_note_versions v ON v.note_id = n.id AND v.version = n.current_version
         WHERE n.id = $1 AND n.created_at = $2",
    )
    .bind(note)
    .bind(written)
    .fetch_one(&pool)
    .await
    .unwrap();
    let expected = serde_json::json!({"version": 1, "status": "signed", "subjective": "Old subjective",
        "plan": "Old plan", "signedBy": clinic.provider_id, "signedWhenWritten": true, "key": null, "reason": null});
    assert_eq!(version, expected);
    let changed =
        sqlx::query("UPDATE soap_note_versions SET plan = 'x' WHERE note_id = $1").bind(note).execute(&pool).await;
    assert!(changed.is_err(), "a migrated note is signed, so fixed");
}
