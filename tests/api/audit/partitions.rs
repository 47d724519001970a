//! The audit log's partitions: entries written before partitioning keep their place, each month
//! writes into its own partition, and retention drops whole months once every entry in them is
//! older than the retention — never a newer entry, never a row deleted one by one.

use std::borrow::Cow;

use chrono::{Duration, Utc};
use klinivo::audit::partitions::{self, month_of, month_start, partition_name, SPAN};
use klinivo::auth::Permission;
use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::clinic::{all_pages, ids};
use crate::helpers::*;

async fn insert_entry(db: &PgPool, resource_id: i64) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO audit_events (at, action, resource_type, resource_id, status, request_id)
         VALUES (now(), 'read', 'patient', $1, 200, 'test') RETURNING id",
    )
    .bind(resource_id)
    .fetch_one(db)
    .await
    .unwrap()
}

async fn partitions_of(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

async fn table_exists(db: &PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(name).fetch_one(db).await.unwrap()
}

#[tokio::test]
async fn entries_written_before_partitioning_keep_their_place_before_new_ones() {
    let url = empty_database("").await;
    let pool = PgPool::connect(&url).await.unwrap();
    let before: Vec<_> = klinivo::db::MIGRATOR.iter().filter(|m| m.version < 82).cloned().collect();
    let earlier = sqlx::migrate::Migrator { migrations: Cow::Owned(before), ..sqlx::migrate::Migrator::DEFAULT };
    earlier.run(&pool).await.unwrap();
    let org = klinivo::auth::store::create_organization(&pool, "Old Clinic", "UTC").await.unwrap();
    for (patient, days) in [(11_i64, 400), (12, 40), (13, 1)] {
        sqlx::query(
            "INSERT INTO audit_events (organization_id, at, key_prefix, action, resource_type, resource_id, status, request_id)
             VALUES ($1, now() - make_interval(days => $3), 'kv_old00000', 'read', 'patient', $2, 200, 'old')",
        )
        .bind(org)
        .bind(patient)
        .bind(days)
        .execute(&pool)
        .await
        .unwrap();
    }
    klinivo::db::migrate(&pool).await.unwrap();
    let current = month_of(Utc::now());
    assert_eq!(
        partitions_of(&pool).await,
        vec![partition_name(current), partition_name(current + 1), "audit_events_initial".to_string()]
    );

    // The server writes its entries into this month's range, after the old ones.
    let app = TestApp::spawn_on(url, |_| {}).await;
    let key = create_key_in(&app.db, org, &[Permission::ReadAuditLog, Permission::ReadPatients], None).await;
    let r = app.request_as(&key, Method::GET, "/patients/999999").send().await.unwrap();
    assert_eq!(r.status(), 404);
    let written = eventually(std::time::Duration::from_secs(10), || async {
        count(&app.db, "SELECT count(*) FROM audit_events").await >= 4
    })
    .await;
    assert!(written, "the read was not audited");
    let r = app.request_as(&key, Method::GET, "/audit-events?limit=2").send().await.unwrap();
    let page: Value = r.json().await.unwrap();
    let ids: Vec<i64> = page["data"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![1, 2]);
    let cursor = page["nextCursor"].as_str().unwrap().to_string();
    let r = app.request_as(&key, Method::GET, &format!("/audit-events?cursor={cursor}")).send().await.unwrap();
    let rest: Value = r.json().await.unwrap();
    let rest = rest["data"].as_array().unwrap();
    assert_eq!(rest[0]["id"], 3);
    assert_eq!(rest[0]["resourceId"], 13);
    let newest = rest.iter().map(|e| e["id"].as_i64().unwrap()).max().unwrap();
    assert!((current * SPAN..(current + 1) * SPAN).contains(&newest), "{newest}");
    let r = app.request_as(&key, Method::GET, "/audit-events?resourceId=12").send().await.unwrap();
    let about: Value = r.json().await.unwrap();
    assert_eq!(about["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn retention_drops_whole_months_once_all_their_entries_are_older_than_it() {
    let db = PgPool::connect(&fresh_database().await).await.unwrap();
    let retention = Duration::days(30);
    let current = month_of(Utc::now());
    let old_entry = insert_entry(&db, 1).await;
    assert_eq!(old_entry, current * SPAN);

    // Nothing to do now: the migration prepared this month and the next.
    let now = partitions::maintain(&db, Utc::now(), retention).await.unwrap();
    assert!(now.ran);
    assert_eq!((now.prepared.len(), now.opened.clone(), now.dropped.len()), (0, None, 0), "{now:?}");

    // An hour into next month: its partition opens and the one after is prepared.
    let next_month = month_start(current + 1) + Duration::hours(1);
    let m = partitions::maintain(&db, next_month, retention).await.unwrap();
    assert_eq!(m.prepared, vec![partition_name(current + 2)]);
    assert_eq!(m.opened, Some(partition_name(current + 1)));
    assert!(m.dropped.is_empty());
    let new_entry = insert_entry(&db, 2).await;
    assert_eq!(new_entry, (current + 1) * SPAN);
    // Running again changes nothing.
    let again = partitions::maintain(&db, next_month, retention).await.unwrap();
    assert_eq!((again.prepared.len(), again.opened, again.dropped.len()), (0, None, 0));

    // Just short of the retention after this month's last entry, nothing goes.
    let short = partitions::maintain(&db, next_month + retention - Duration::minutes(1), retention).await;
    assert!(short.unwrap().dropped.is_empty());
    assert_eq!(count(&db, "SELECT count(*) FROM audit_events").await, 2);

    // Past it, this month's partition goes whole; next month's entry stays, and so do the
    // partitions that are being written or prepared.
    let later = next_month + retention + Duration::minutes(1);
    let m = partitions::maintain(&db, later, retention).await.unwrap();
    assert_eq!(m.dropped, vec![partition_name(current)]);
    assert!(!table_exists(&db, &partition_name(current)).await);
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_events ORDER BY id").fetch_all(&db).await.unwrap();
    assert_eq!(left, vec![new_entry]);
    assert!(partitions_of(&db).await.contains(&partition_name(month_of(later))));
    // A partition the server prepared itself takes entries like the migration's, with the
    // log's indexes and triggers.
    let m = current + 2;
    partitions::maintain(&db, month_start(m) + Duration::hours(1), retention).await.unwrap();
    let newest = insert_entry(&db, 3).await;
    assert!((m * SPAN..(m + 1) * SPAN).contains(&newest), "{newest}");
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE organization_id IS NULL AND resource_id = 3 AND id >= $1",
    )
    .bind(m * SPAN)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(found, 1);
    // What is left is as append-only as ever.
    let err = sqlx::query("DELETE FROM audit_events").execute(&db).await.expect_err("append-only");
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[tokio::test]
async fn one_server_maintains_at_a_time_and_an_interrupted_detach_is_finished() {
    let db = PgPool::connect(&fresh_database().await).await.unwrap();
    let current = month_of(Utc::now());
    let next_month = month_start(current + 1) + Duration::hours(1);

    // Another server holds the maintenance lock: this one leaves everything as it is.
    let mut other = db.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(418581342580)").execute(&mut *other).await.unwrap();
    let skipped = partitions::maintain(&db, next_month, Duration::days(30)).await.unwrap();
    assert!(!skipped.ran);
    sqlx::query("SELECT pg_advisory_unlock(418581342580)").execute(&mut *other).await.unwrap();
    drop(other);
    partitions::maintain(&db, next_month, Duration::days(30)).await.unwrap();

    // A detach that a stopped server left behind (the partition is out of the log but still
    // a table) is finished by the next run.
    let name = partition_name(current);
    sqlx::query(&format!("ALTER TABLE audit_events DETACH PARTITION {name}")).execute(&db).await.unwrap();
    let m = partitions::maintain(&db, next_month + Duration::days(31), Duration::days(30)).await.unwrap();
    assert_eq!(m.dropped, vec![name.clone()]);
    assert!(!table_exists(&db, &name).await);
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

/// A server over a fresh database whose log also has the partitions of `months` before this one.
async fn spawn_with_past_months(months: &[i64]) -> (TestApp, i64) {
    let app = TestApp::spawn().await;
    let current = month_of(Utc::now());
    let mut conn = app.db.acquire().await.unwrap();
    for back in months {
        partitions::prepare(&mut conn, current - back).await.unwrap();
    }
    drop(conn);
    (app, current)
}

#[tokio::test]
async fn a_records_trail_pages_through_reads_and_lists_across_months_in_order() {
    // Last month, before this one: a partition holding older entries, as a year of use leaves.
    let (app, current) = spawn_with_past_months(&[1]).await;
    let other_org = klinivo::auth::store::create_organization(&app.db, "Other Clinic", "UTC").await.unwrap();
    let (record, stranger) = (41_i64, 42_i64);
    // (month, organization, resource_id, resource_ids): entries naming the record one way or
    // the other, in both months, among entries that must not show.
    let mut expected = Vec::new();
    for (k, month) in [current - 1, current].into_iter().enumerate() {
        for i in 0..6_i64 {
            // Ids in the upper half of each month's range: the server's own entries take the lower.
            let id = month * SPAN + SPAN / 2 + 10 * i + k as i64;
            let (resource_id, list): (Option<i64>, Option<Vec<i64>>) = match i % 3 {
                0 => (Some(record), None),
                1 => (None, Some(vec![stranger, record])),
                _ => (Some(stranger), Some(vec![record])),
            };
            for (org, shown) in [(app.org_id, true), (other_org, false)] {
                let id = if shown { id } else { id + 5 };
                sqlx::query(
                    "INSERT INTO audit_events (id, organization_id, at, key_prefix, action, resource_type, resource_id,
                                               resource_ids, status, request_id)
                     VALUES ($1, $2, now(), 'kv_trail000', 'read', 'patient', $3, $4, 200, 'trail')",
                )
                .bind(id)
                .bind(org)
                .bind(resource_id)
                .bind(&list)
                .execute(&app.db)
                .await
                .unwrap();
                if shown {
                    expected.push(id);
                }
            }
        }
    }
    // Entries about another record only.
    insert_entry(&app.db, stranger).await;
    let auditor = create_key_in(&app.db, app.org_id, &[Permission::ReadAuditLog], None).await;
    for limit in [1, 2, 5, 200] {
        let path = format!("/audit-events?resourceId={record}");
        let seen: Vec<i64> =
            all_pages(&app, &auditor, &path, limit).await.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert_eq!(seen, expected, "limit {limit}");
    }
    // The other filters narrow the trail as they do the whole log.
    let path = format!("/audit-events?resourceId={record}&keyPrefix=kv_nobody00");
    assert!(all_pages(&app, &auditor, &path, 50).await.is_empty());
    let path = format!("/audit-events?resourceId={record}&resourceType=appointment");
    assert!(all_pages(&app, &auditor, &path, 50).await.is_empty());

    // Retention drops both months, lists and all.
    let retention = Duration::days(30);
    let next_month = month_start(current + 1) + Duration::hours(1);
    partitions::maintain(&app.db, next_month, retention).await.unwrap();
    let m = partitions::maintain(&app.db, next_month + retention + Duration::minutes(1), retention).await.unwrap();
    assert_eq!(m.dropped, vec![partition_name(current - 1), partition_name(current)]);
    let path = format!("/audit-events?resourceId={record}");
    assert!(all_pages(&app, &auditor, &path, 50).await.is_empty());
}

/// One entry of [`a_records_trail_is_the_same_at_every_page_size_and_with_every_filter`].
struct Entry {
    id: i64,
    at: chrono::DateTime<Utc>,
    key_prefix: &'static str,
    resource_type: &'static str,
    resource_id: Option<i64>,
    resource_ids: Option<Vec<i64>>,
}

#[tokio::test]
async fn a_records_trail_is_the_same_at_every_page_size_and_with_every_filter() {
    let (app, current) = spawn_with_past_months(&[1]).await;
    let (record, stranger) = (77_i64, 78_i64);
    // Two months of entries: mostly the record's own (so that its own fill a page, whichever
    // way it is read), lists naming it between them, entries of another type with the same id,
    // one entry naming it both ways, and entries of another record.
    let mut entries = Vec::new();
    for month in [current - 1, current] {
        for i in 0..40_i64 {
            let (resource_type, resource_id, resource_ids) = match i % 8 {
                0 | 1 | 4 | 6 => ("patient", Some(record), None),
                2 => ("patient", None, Some(vec![stranger, record])),
                3 => ("patient", Some(stranger), Some(vec![record])),
                5 => ("appointment", Some(record), None),
                _ if i == 15 => ("patient", Some(record), Some(vec![record])),
                _ => ("patient", Some(stranger), None),
            };
            entries.push(Entry {
                id: month * SPAN + SPAN / 2 + i,
                at: month_start(month) + Duration::minutes(i),
                key_prefix: if i % 3 == 0 { "kv_trailA00" } else { "kv_trailB00" },
                resource_type,
                resource_id,
                resource_ids,
            });
        }
    }
    for e in &entries {
        sqlx::query(
            "INSERT INTO audit_events (id, organization_id, at, key_prefix, action, resource_type, resource_id,
                                       resource_ids, status, request_id)
             VALUES ($1, $2, $3, $4, 'read', $5, $6, $7, 200, 'trail')",
        )
        .bind(e.id)
        .bind(app.org_id)
        .bind(e.at)
        .bind(e.key_prefix)
        .bind(e.resource_type)
        .bind(e.resource_id)
        .bind(&e.resource_ids)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let auditor = create_key_in(&app.db, app.org_id, &[Permission::ReadAuditLog], None).await;
    let names =
        |e: &Entry| e.resource_id == Some(record) || e.resource_ids.as_ref().is_some_and(|l| l.contains(&record));
    let from = month_start(current - 1) + Duration::minutes(9);
    let to = month_start(current) + Duration::minutes(30);
    let stamp = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let filters: Vec<(String, Box<dyn Fn(&Entry) -> bool>)> = vec![
        (String::new(), Box::new(|_| true)),
        ("&resourceType=patient".into(), Box::new(|e| e.resource_type == "patient")),
        ("&keyPrefix=kv_trailA00".into(), Box::new(|e| e.key_prefix == "kv_trailA00")),
        (format!("&from={}", stamp(from)), Box::new(move |e| e.at >= from)),
        (
            format!("&resourceType=patient&from={}&to={}", stamp(from), stamp(to)),
            Box::new(move |e| e.resource_type == "patient" && e.at >= from && e.at < to),
        ),
    ];
    for (query, keep) in &filters {
        let expected: Vec<i64> = entries.iter().filter(|e| names(e) && keep(e)).map(|e| e.id).collect();
        assert!(expected.len() > 10, "{query}");
        for limit in [1, 3, 7, 50, 200] {
            let path = format!("/audit-events?resourceId={record}{query}");
            let seen: Vec<i64> =
                all_pages(&app, &auditor, &path, limit).await.iter().map(|e| e["id"].as_i64().unwrap()).collect();
            assert_eq!(seen, expected, "{query}, limit {limit}");
        }
    }
}

#[tokio::test]
async fn a_trail_read_right_after_another_server_dropped_a_month_is_whole() {
    let (app, current) = spawn_with_past_months(&[2, 1]).await;
    let record = 91_i64;
    let mut kept = Vec::new();
    for (month, i, list) in [(current - 2, 0, false), (current - 1, 0, false), (current - 1, 1, true)]
        .into_iter()
        .chain((2..6).map(|i| (current - 1, i, false)))
    {
        let id = month * SPAN + SPAN / 2 + i;
        let (resource_id, resource_ids) = if list { (None, Some(vec![record])) } else { (Some(record), None) };
        sqlx::query(
            "INSERT INTO audit_events (id, organization_id, at, action, resource_type, resource_id, resource_ids,
                                       status, request_id)
             VALUES ($1, $2, $3, 'read', 'patient', $4, $5, 200, 'dropped')",
        )
        .bind(id)
        .bind(app.org_id)
        .bind(month_start(month))
        .bind(resource_id)
        .bind(&resource_ids)
        .execute(&app.db)
        .await
        .unwrap();
        if month == current - 1 {
            kept.push(id);
        }
    }
    let auditor = create_key_in(&app.db, app.org_id, &[Permission::ReadAuditLog], None).await;
    let path = format!("/audit-events?resourceId={record}");
    // The server reads (and keeps) the partitions, the oldest month among them.
    assert_eq!(ids(&all_pages(&app, &auditor, &path, 3).await).len(), kept.len() + 1);
    // Another server's retention drops the oldest month.
    let oldest = partition_name(current - 2);
    sqlx::query(&format!("ALTER TABLE audit_events DETACH PARTITION {oldest}")).execute(&app.db).await.unwrap();
    sqlx::query(&format!("DROP TABLE {oldest}")).execute(&app.db).await.unwrap();
    sqlx::query("DELETE FROM audit_event_partitions WHERE name = $1").bind(&oldest).execute(&app.db).await.unwrap();
    for limit in [3, 50] {
        assert_eq!(ids(&all_pages(&app, &auditor, &path, limit).await), kept, "limit {limit}");
    }
}
