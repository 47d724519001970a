//! `q` ignores case, accents and compatibility forms, whatever the database's locale, and
//! patients written before the application folded (or by something else) are re-folded.

use std::borrow::Cow;

use serde_json::json;

use super::*;
use crate::process::klinivo;

/// José García and Lucia Whitaker, and what must find (or not find) them.
async fn assert_folded_search(app: &TestApp) {
    let jose =
        create_patient(app, &json!({"firstName": "José", "lastName": "García", "email": "jg@example.test"})).await;
    let lucia = create_patient(app, &json!({"firstName": "Lucia", "lastName": "Whitaker"})).await;
    let (jose, lucia) = (jose["id"].as_i64().unwrap(), lucia["id"].as_i64().unwrap());
    let since = "2000-01-01T00:00:00Z";
    for q in [
        "García",
        "garcia",
        "GARCIA",
        "GARCÍA",
        "José",
        "jose",
        "JOSE",
        "JOSÉ",
        "josé garcía",
        "JOSE GARCIA",
        "gá",
        "Ga",
    ] {
        assert_eq!(ids(app, &[("q", q)]).await, [jose], "q={q:?}");
        assert_eq!(ids(app, &[("q", q), ("updatedSince", since)]).await, [jose], "q={q:?} with updatedSince");
    }
    for q in ["Lucia", "Lucía", "LUCÍA", "lucia", "LUCIA", "lucía whitaker", "ＬＵＣＩＡ"] {
        assert_eq!(ids(app, &[("q", q)]).await, [lucia], "q={q:?}");
    }
    assert!(ids(app, &[("q", "garcio")]).await.is_empty());
    // A change folds the new name; the old one no longer matches.
    let renamed = app.patch(&format!("/patients/{jose}"), &json!({"lastName": "Garçon"})).await;
    expect_json(renamed, 200).await;
    assert_eq!(ids(app, &[("q", "GARCON")]).await, [jose]);
    assert!(ids(app, &[("q", "garcia")]).await.is_empty());
}

#[tokio::test]
async fn q_ignores_case_and_accents_in_both_directions() {
    let app = TestApp::spawn().await;
    assert_folded_search(&app).await;
}

#[tokio::test]
async fn q_ignores_case_and_accents_in_a_c_locale_database() {
    let url = empty_database("TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'").await;
    let pool = klinivo::db::connect(&url, 2).await.unwrap();
    let ctype: String = sqlx::query_scalar("SELECT datctype FROM pg_database WHERE datname = current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(ctype, "C");
    // PostgreSQL's own lower() leaves accented capitals alone here: what the old column did.
    let lowered: String = sqlx::query_scalar("SELECT lower('GARCÍA')").fetch_one(&pool).await.unwrap();
    assert_eq!(lowered, "garcÍa");
    klinivo::db::migrate(&pool).await.unwrap();
    pool.close().await;
    assert_folded_search(&TestApp::spawn_on(url, |_| {}).await).await;
}

#[tokio::test]
async fn patients_written_before_folding_or_by_other_writers_are_refolded_without_a_new_updated_at() {
    // A database as it was before migration 0070, with patients in it.
    let url = empty_database("").await;
    let pool = klinivo::db::connect(&url, 2).await.unwrap();
    let before_0070: Vec<_> = klinivo::db::MIGRATOR.iter().filter(|m| m.version < 70).cloned().collect();
    let migrator = sqlx::migrate::Migrator { migrations: Cow::Owned(before_0070), ..sqlx::migrate::Migrator::DEFAULT };
    migrator.run(&pool).await.unwrap();
    let org = klinivo::auth::store::create_organization(&pool, "Old Clinic", "UTC").await.unwrap();
    let insert = "INSERT INTO patients (organization_id, first_name, last_name) VALUES ($1, $2, $3) RETURNING id";
    let old: i64 = sqlx::query_scalar(insert).bind(org).bind("José").bind("GARCÍA").fetch_one(&pool).await.unwrap();
    let stamp = |id: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>("SELECT updated_at FROM patients WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let old_stamp = stamp(old).await;

    // `klinivo migrate` applies 0070 and re-folds before it returns.
    let dir = tempfile::tempdir().unwrap();
    let out = klinivo(dir.path()).arg("migrate").env("DATABASE_URL", &url).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("search text of 1 patients re-folded"), "{stderr}");
    let text = |id: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String, bool)>("SELECT search_text, search_stale FROM patients WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(text(old).await, ("jose garcia  ".to_string(), false));
    assert_eq!(stamp(old).await, old_stamp, "re-folding is not a change to the patient");

    // Writers that do not fold: an insert keeps the lower-cased text until re-folded, an
    // update its old text; both are marked.
    let other: i64 = sqlx::query_scalar(insert).bind(org).bind("Zoë").bind("Ødegård").fetch_one(&pool).await.unwrap();
    let lowered: String = sqlx::query_scalar("SELECT lower('Zoë Ødegård  ')").fetch_one(&pool).await.unwrap();
    assert_eq!(text(other).await, (lowered, true));
    sqlx::query("UPDATE patients SET last_name = 'Muñoz' WHERE id = $1").bind(old).execute(&pool).await.unwrap();
    assert_eq!(text(old).await, ("jose garcia  ".to_string(), true));
    let renamed_stamp = stamp(old).await;
    assert_eq!(klinivo::domain::search_text::refold_stale(&pool).await.unwrap(), 2);
    assert_eq!(text(other).await, ("zoe odegard  ".to_string(), false));
    assert_eq!(text(old).await, ("jose munoz  ".to_string(), false));
    assert_eq!(stamp(old).await, renamed_stamp);
    assert_eq!(klinivo::domain::search_text::refold_stale(&pool).await.unwrap(), 0);
}
