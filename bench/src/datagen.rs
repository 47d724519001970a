//! Seeds one realistic organization, set-based (`INSERT … SELECT` over `generate_series`), so a
//! million patients and five million appointments take minutes, not hours.
//!
//! - 3 locations in New York, Chicago and Los Angeles (three time zones), 20 providers with
//!   weekday working hours (some at two locations on different weekdays, some part-time).
//! - Patients with skewed names (common surnames common), emails, E.164 phones, addresses.
//! - Appointments on a 15-minute grid inside each provider's working hours, computed in the
//!   location's time zone (so DST-correct), about 80 % of past slots and 50 % of the next
//!   `future_weeks` filled: non-overlapping per provider by construction, which re-adding the
//!   exclusion constraint after the load verifies. The span into the past grows with the count.
//!
//! For speed the secondary indexes and the exclusion constraint are dropped during the load
//! and re-created from their catalog definitions afterwards (so later migrations are kept),
//! and foreign-key triggers are skipped (`session_replication_role = replica`) while rows
//! whose references are valid by construction are inserted.

use std::time::Instant;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use klinivo::auth::store::{self, KeySpec};
use klinivo::auth::Permission;
use rand::Rng;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::names;
use crate::BoxError;

/// Minutes per appointment slot in the seeded grid.
pub const SLOT_MINUTES: i64 = 15;
const PAST_FILL: f64 = 0.80;
const FUTURE_FILL: f64 = 0.50;

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub patients: i64,
    pub appointments: i64,
    /// How far ahead the calendar is (partly) booked.
    pub future_weeks: i64,
    /// The key's per-minute limit (`api_keys.rate_limit_per_minute`).
    pub rate_limit: i32,
    pub org_name: String,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            patients: 100_000,
            appointments: 500_000,
            future_weeks: 26,
            rate_limit: 1_000_000_000,
            org_name: "Bench Family Practice".into(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Provider {
    pub id: i64,
    /// `(location id, IANA zone)`, the primary location first.
    pub locations: Vec<(i64, String)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Seeded {
    pub organization_id: Uuid,
    #[serde(skip)]
    pub key: String,
    pub key_id: i64,
    pub patients: i64,
    pub appointments: i64,
    pub min_patient_id: i64,
    pub max_patient_id: i64,
    pub providers: Vec<Provider>,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub future_weeks: i64,
    pub seconds: f64,
}

/// Seeds a new organization into a migrated database and returns what the benchmark needs.
pub async fn seed(pool: &PgPool, opts: &SeedOptions) -> Result<Seeded, BoxError> {
    let started = Instant::now();
    let org = store::create_organization(pool, &opts.org_name, "America/New_York").await?;
    let key = store::create_key(
        pool,
        KeySpec {
            organization_id: org,
            name: "benchmark",
            permissions: &Permission::ALL,
            expires_at: None,
            rate_limit_per_minute: Some(opts.rate_limit),
            rotated_from: None,
        },
    )
    .await?;
    let key_id: i64 =
        sqlx::query_scalar("SELECT id FROM api_keys WHERE key_prefix = $1").bind(&key.prefix).fetch_one(pool).await?;
    let providers = seed_clinic(pool, org).await?;

    let mut conn = pool.acquire().await?;
    let dropped = drop_for_load(&mut conn).await?;
    let loaded = load(&mut conn, org, opts).await;
    let restored = restore_after_load(&mut conn, &dropped).await;
    let (first_day, last_day) = loaded?;
    restored?;
    drop(conn);
    sqlx::query("VACUUM (ANALYZE) patients").execute(pool).await?;
    sqlx::query("VACUUM (ANALYZE) appointments").execute(pool).await?;

    let (patients, min_patient_id, max_patient_id): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM patients WHERE organization_id = $1",
    )
    .bind(org)
    .fetch_one(pool)
    .await?;
    let appointments: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments WHERE organization_id = $1")
        .bind(org)
        .fetch_one(pool)
        .await?;
    Ok(Seeded {
        organization_id: org,
        key: key.secret,
        key_id,
        patients,
        appointments,
        min_patient_id,
        max_patient_id,
        providers,
        first_day,
        last_day,
        future_weeks: opts.future_weeks,
        seconds: started.elapsed().as_secs_f64(),
    })
}

const LOCATIONS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("Downtown Medical Center", "America/New_York", "+12125550100", "New York", "NY", "10001"),
    ("Lakeshore Family Clinic", "America/Chicago", "+13125550100", "Chicago", "IL", "60601"),
    ("Pacific Health Partners", "America/Los_Angeles", "+12135550100", "Los Angeles", "CA", "90012"),
];

const SPECIALTIES: &[(&str, &str)] = &[
    ("MD", "Family Medicine"),
    ("MD", "Internal Medicine"),
    ("DO", "Family Medicine"),
    ("NP", "Primary Care"),
    ("MD", "Pediatrics"),
    ("PA", "Urgent Care"),
    ("MD", "Dermatology"),
    ("MD", "Obstetrics and Gynecology"),
];

async fn seed_clinic(pool: &PgPool, org: Uuid) -> Result<Vec<Provider>, BoxError> {
    let mut locations = Vec::new();
    for (i, (name, tz, phone, city, region, zip)) in LOCATIONS.iter().enumerate() {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO locations (organization_id, import_key, name, timezone, phone, address_line1,
                                    address_city, address_region, address_postal_code, address_country)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'US') RETURNING id",
        )
        .bind(org)
        .bind(format!("bench-loc-{i}"))
        .bind(name)
        .bind(tz)
        .bind(phone)
        .bind(format!("{} Main St", 100 + i * 50))
        .bind(city)
        .bind(region)
        .bind(zip)
        .fetch_one(pool)
        .await?;
        locations.push((id, tz.to_string()));
    }
    let mut providers = Vec::new();
    for i in 0..20usize {
        let first = names::FIRST_NAMES[(i * 7 + 3) % names::FIRST_NAMES.len()];
        let last = names::LAST_NAMES[(i * 13 + 5) % names::LAST_NAMES.len()];
        let (title, specialty) = SPECIALTIES[i % SPECIALTIES.len()];
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO providers (organization_id, import_key, first_name, last_name, title, specialty, email)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(org)
        .bind(format!("bench-prov-{i}"))
        .bind(first)
        .bind(last)
        .bind(title)
        .bind(specialty)
        .bind(format!("{}.{}@clinic.example.com", first.to_lowercase(), last.to_lowercase().replace(' ', "")))
        .fetch_one(pool)
        .await?;
        // Primary location; every fourth provider also works at a second one on Tue/Thu.
        let primary = locations[i % 3].clone();
        let secondary = (i % 4 == 3).then(|| locations[(i + 1) % 3].clone());
        let part_time = i % 5 == 4;
        let start = if i % 2 == 0 { "08:00" } else { "09:00" };
        let end = if i % 2 == 0 { "17:00" } else { "18:00" };
        let mut days: Vec<(i64, i16)> = Vec::new();
        for weekday in 1..=5i16 {
            if part_time && weekday == 5 {
                continue;
            }
            let at = match &secondary {
                Some((loc, _)) if weekday == 2 || weekday == 4 => *loc,
                _ => primary.0,
            };
            days.push((at, weekday));
        }
        let mut provider_locations = vec![primary.clone()];
        provider_locations.extend(secondary);
        for (loc, _) in &provider_locations {
            sqlx::query(
                "INSERT INTO provider_locations (organization_id, provider_id, location_id) VALUES ($1, $2, $3)",
            )
            .bind(org)
            .bind(id)
            .bind(loc)
            .execute(pool)
            .await?;
        }
        let (locs, weekdays): (Vec<i64>, Vec<i16>) = days.into_iter().unzip();
        sqlx::query(
            "INSERT INTO working_hours (organization_id, provider_id, location_id, weekday, start_time, end_time)
             SELECT $1, $2, l, d, $5::time, $6::time FROM unnest($3::bigint[], $4::smallint[]) AS u(l, d)",
        )
        .bind(org)
        .bind(id)
        .bind(&locs)
        .bind(&weekdays)
        .bind(start)
        .bind(end)
        .execute(pool)
        .await?;
        providers.push(Provider { id, locations: provider_locations });
    }
    Ok(providers)
}

/// What was dropped for the load: `(table, name, definition, is_constraint)`.
type Dropped = Vec<(String, String, String, bool)>;

async fn drop_for_load(conn: &mut PgConnection) -> Result<Dropped, BoxError> {
    let mut dropped: Dropped = Vec::new();
    let indexes = sqlx::query(
        "SELECT c.relname AS tbl, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE c.relname IN ('patients', 'appointments') AND c.relnamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in indexes {
        dropped.push((row.get("tbl"), row.get("name"), row.get("def"), false));
    }
    let exclusions = sqlx::query(
        "SELECT conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def
         FROM pg_constraint WHERE conrelid IN ('patients'::regclass, 'appointments'::regclass) AND contype = 'x'",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in exclusions {
        dropped.push((row.get("tbl"), row.get("name"), row.get("def"), true));
    }
    for (table, name, _, is_constraint) in &dropped {
        let sql = if *is_constraint {
            format!("ALTER TABLE {table} DROP CONSTRAINT {name}")
        } else {
            format!("DROP INDEX {name}")
        };
        sqlx::query(&sql).execute(&mut *conn).await?;
    }
    Ok(dropped)
}

async fn restore_after_load(conn: &mut PgConnection, dropped: &Dropped) -> Result<(), BoxError> {
    // More memory for index builds; the exclusion constraint's validation proves no overlap.
    sqlx::query("SET maintenance_work_mem = '512MB'").execute(&mut *conn).await?;
    let mut first_error: Option<BoxError> = None;
    for (table, name, def, is_constraint) in dropped {
        let sql = if *is_constraint { format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}") } else { def.clone() };
        if let Err(e) = sqlx::query(&sql).execute(&mut *conn).await {
            eprintln!("bench-datagen: could not re-create {name}: {e}");
            first_error.get_or_insert_with(|| e.into());
        }
    }
    sqlx::query("RESET maintenance_work_mem").execute(&mut *conn).await?;
    first_error.map_or(Ok(()), Err)
}

/// Loads patients and appointments; returns the first and last day of the appointment grid.
async fn load(conn: &mut PgConnection, org: Uuid, opts: &SeedOptions) -> Result<(NaiveDate, NaiveDate), BoxError> {
    // Foreign keys are valid by construction; skipping their per-row triggers halves the load.
    let replica = sqlx::query("SET session_replication_role = replica").execute(&mut *conn).await.is_ok();
    sqlx::query("SELECT setseed(0.42)").execute(&mut *conn).await?;
    let result = load_rows(conn, org, opts).await;
    if replica {
        sqlx::query("SET session_replication_role = DEFAULT").execute(&mut *conn).await?;
    }
    result
}

async fn load_rows(conn: &mut PgConnection, org: Uuid, opts: &SeedOptions) -> Result<(NaiveDate, NaiveDate), BoxError> {
    let t = Instant::now();
    insert_patients(conn, org, opts.patients).await?;
    eprintln!("bench-datagen: {} patients in {:.1} s", opts.patients, t.elapsed().as_secs_f64());
    let t = Instant::now();
    let days = insert_appointments(conn, org, opts).await?;
    eprintln!("bench-datagen: appointments in {:.1} s", t.elapsed().as_secs_f64());
    Ok(days)
}

/// The patients' `search_text` is made in SQL, `lower()` in the C collation (ASCII letters
/// only): for ASCII text that is exactly what Klinivo's folding makes, and every name and
/// domain the generator draws from is ASCII (checked here).
async fn insert_patients(conn: &mut PgConnection, org: Uuid, n: i64) -> Result<(), BoxError> {
    let lists = [names::FIRST_NAMES, names::LAST_NAMES, names::EMAIL_DOMAINS];
    if !lists.iter().all(|l| l.iter().all(|w| w.is_ascii())) {
        return Err("bench names must be ASCII: search_text is lower-cased in SQL".into());
    }
    let cities: Vec<String> = names::CITIES.iter().map(|c| c.0.to_string()).collect();
    let regions: Vec<String> = names::CITIES.iter().map(|c| c.1.to_string()).collect();
    let zips: Vec<String> = names::CITIES.iter().map(|c| c.2.to_string()).collect();
    let areas: Vec<String> = names::CITIES.iter().map(|c| c.3.to_string()).collect();
    sqlx::query(
        r#"INSERT INTO patients (organization_id, external_id, first_name, last_name, date_of_birth, sex, email,
                                 phone, address_line1, address_line2, address_city, address_region,
                                 address_postal_code, address_country, created_at, updated_at, search_text,
                                 search_stale)
           SELECT y.*, lower((y.first_name || ' ' || y.last_name || ' ' || coalesce(y.email, '') || ' '
                              || coalesce(y.phone, '')) COLLATE "C"), false
           FROM (SELECT $1::uuid,
                  CASE WHEN x.r1 < 0.8 THEN 'MRN-' || lpad(x.g::text, 8, '0') END,
                  x.first_name, x.last_name,
                  DATE '1930-01-01' + floor(x.r2 * 34000)::int,
                  CASE WHEN x.r3 < 0.50 THEN 'female' WHEN x.r3 < 0.97 THEN 'male'
                       WHEN x.r3 < 0.98 THEN 'other' ELSE 'unknown' END,
                  CASE WHEN x.r4 < 0.92 THEN
                      lower(replace(x.first_name, ' ', '')) || CASE WHEN x.r5 < 0.5 THEN '.' ELSE '_' END
                      || lower(replace(x.last_name, ' ', ''))
                      || CASE WHEN x.r6 < 0.6 THEN (x.g % 997)::text ELSE '' END
                      || '@' || ($4::text[])[1 + floor(x.r7 * cardinality($4::text[]))::int]
                  END AS email,
                  CASE WHEN x.r8 < 0.95 THEN
                      '+1' || ($10::text[])[x.c] || (2 + floor(x.r9 * 8))::int::text
                      || lpad(floor(random() * 1000000)::int::text, 6, '0')
                  END AS phone,
                  (1 + floor(random() * 9899))::int::text || ' '
                      || ($5::text[])[1 + floor(random() * cardinality($5::text[]))::int] || ' '
                      || ($6::text[])[1 + floor(random() * cardinality($6::text[]))::int],
                  CASE WHEN random() < 0.15 THEN 'Apt ' || (1 + floor(random() * 40))::int::text END,
                  ($7::text[])[x.c], ($8::text[])[x.c],
                  ($9::text[])[x.c] || lpad(floor(random() * 100)::int::text, 2, '0'),
                  'US',
                  x.created_at,
                  LEAST(now(), x.created_at + random() * interval '400 days')
           FROM (
               SELECT g,
                      ($2::text[])[1 + floor(power(random(), 1.6) * cardinality($2::text[]))::int] AS first_name,
                      ($3::text[])[1 + floor(power(random(), 1.3) * cardinality($3::text[]))::int] AS last_name,
                      1 + floor(random() * cardinality($7::text[]))::int AS c,
                      random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
                      random() AS r6, random() AS r7, random() AS r8, random() AS r9,
                      now() - random() * interval '6 years' AS created_at
               FROM generate_series(1, $11::bigint) AS g
           ) x) y"#,
    )
    .bind(org)
    .bind(names::owned(names::FIRST_NAMES))
    .bind(names::owned(names::LAST_NAMES))
    .bind(names::owned(names::EMAIL_DOMAINS))
    .bind(names::owned(names::STREETS))
    .bind(names::owned(names::STREET_SUFFIXES))
    .bind(&cities)
    .bind(&regions)
    .bind(&zips)
    .bind(&areas)
    .bind(n)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The 15-minute grid of the organization's working hours for `[$2, $3]` (local dates), as SQL
/// producing `(provider_id, location_id, starts_at)`; `$1` is the organization.
pub const GRID_SQL: &str = r#"
    SELECT wh.provider_id, wh.location_id,
           ((d.day + wh.start_time + make_interval(mins => 15 * s)) AT TIME ZONE l.timezone) AS starts_at
    FROM (SELECT g::date AS day FROM generate_series($2::date, $3::date, interval '1 day') AS g) d
    JOIN working_hours wh ON wh.organization_id = $1 AND wh.weekday = extract(isodow FROM d.day)
    JOIN locations l ON l.id = wh.location_id
    CROSS JOIN LATERAL generate_series(0, (extract(epoch FROM wh.end_time - wh.start_time) / 900)::int - 1) AS s"#;

async fn insert_appointments(
    conn: &mut PgConnection,
    org: Uuid,
    opts: &SeedOptions,
) -> Result<(NaiveDate, NaiveDate), BoxError> {
    let weekly_slots: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(extract(epoch FROM end_time - start_time)::bigint / 900), 0)::bigint
         FROM working_hours WHERE organization_id = $1",
    )
    .bind(org)
    .fetch_one(&mut *conn)
    .await?;
    if weekly_slots == 0 || opts.appointments == 0 {
        let today = Utc::now().date_naive();
        return Ok((today, today));
    }
    let today = Utc::now().date_naive();
    let wanted = opts.appointments as f64;
    let per_week_future = weekly_slots as f64 * FUTURE_FILL;
    let mut future_weeks = opts.future_weeks as f64;
    if future_weeks * per_week_future > wanted {
        future_weeks = (wanted / per_week_future).ceil();
    }
    let past_weeks = ((wanted - future_weeks * per_week_future) / (weekly_slots as f64 * PAST_FILL)).max(0.0);
    // 3 % more than needed; the oldest surplus is trimmed afterwards.
    let first_day = today - Duration::days((past_weeks * 7.0 * 1.03).ceil() as i64 + 1);
    let last_day = today + Duration::days((future_weeks * 7.0) as i64);
    let sql = format!(
        r#"INSERT INTO appointments (organization_id, patient_id, provider_id, location_id, starts_at, ends_at,
                                     status, reason, cancellation_reason, created_at, updated_at)
           SELECT $1, $4 + floor(random() * $5)::bigint, x.provider_id, x.location_id, x.starts_at,
                  x.starts_at + interval '15 minutes', x.status,
                  ($6::text[])[1 + floor(random() * cardinality($6::text[]))::int],
                  CASE WHEN x.status = 'cancelled'
                       THEN ($7::text[])[1 + floor(random() * cardinality($7::text[]))::int] END,
                  x.created_at,
                  LEAST(now(), greatest(x.created_at, x.starts_at + interval '1 hour'))
           FROM (
               SELECT grid.*,
                      CASE WHEN grid.starts_at < now() THEN
                               CASE WHEN r2 < 0.86 THEN 'completed' WHEN r2 < 0.94 THEN 'cancelled' ELSE 'no_show' END
                           ELSE CASE WHEN r2 < 0.55 THEN 'scheduled' WHEN r2 < 0.93 THEN 'confirmed' ELSE 'cancelled' END
                      END AS status,
                      LEAST(now(), grid.starts_at - random() * interval '60 days') AS created_at
               FROM (SELECT g.*, random() AS r1, random() AS r2 FROM ({GRID_SQL}) g) grid
               WHERE grid.r1 < CASE WHEN grid.starts_at < now() THEN {PAST_FILL} ELSE {FUTURE_FILL} END
           ) x"#
    );
    let (min_id, max_id): (i64, i64) =
        sqlx::query_as("SELECT min(id), max(id) FROM patients WHERE organization_id = $1")
            .bind(org)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query(&sql)
        .bind(org)
        .bind(first_day)
        .bind(last_day)
        .bind(min_id)
        .bind((max_id - min_id + 1) as f64)
        .bind(names::owned(names::REASONS))
        .bind(names::owned(names::CANCELLATION_REASONS))
        .execute(&mut *conn)
        .await?;
    // Trim the oldest surplus so the count is what was asked for.
    sqlx::query(
        "DELETE FROM appointments WHERE id IN (
             SELECT id FROM appointments WHERE organization_id = $1 ORDER BY starts_at
             LIMIT greatest(0, (SELECT count(*) FROM appointments WHERE organization_id = $1) - $2))",
    )
    .bind(org)
    .bind(opts.appointments)
    .execute(&mut *conn)
    .await?;
    let first: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT min(starts_at) FROM appointments WHERE organization_id = $1")
            .bind(org)
            .fetch_one(&mut *conn)
            .await?;
    Ok((first.map(|f| f.date_naive()).unwrap_or(first_day), last_day))
}

/// Free grid slots from tomorrow on, in random order: the seeded (half-booked) future first
/// days, then the empty calendar beyond it — enough for `count` bookings that succeed.
/// Seeded appointments lie on the same 15-minute grid, so a slot is free when no active
/// appointment of the provider starts at it (an equality anti-join, hashed).
pub async fn free_slots(pool: &PgPool, seeded: &Seeded, count: i64) -> Result<Vec<Slot>, BoxError> {
    let weekly: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(extract(epoch FROM end_time - start_time)::bigint / 900), 1)::bigint
         FROM working_hours WHERE organization_id = $1",
    )
    .bind(seeded.organization_id)
    .fetch_one(pool)
    .await?;
    let today = Utc::now().date_naive();
    let weeks_free = (count as f64 / weekly as f64 * 1.3).ceil() as i64 + 1;
    let last = today + Duration::days(7 * (seeded.future_weeks + weeks_free));
    let sql = format!(
        "SELECT g.provider_id, g.location_id, g.starts_at FROM ({GRID_SQL}) g
         WHERE g.starts_at > now() + interval '1 hour'
           AND NOT EXISTS (
               SELECT 1 FROM appointments a
               WHERE a.organization_id = $1 AND a.provider_id = g.provider_id AND a.starts_at = g.starts_at
                 AND a.status IN ('scheduled', 'confirmed'))
         ORDER BY random() LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(seeded.organization_id)
        .bind(today + Duration::days(1))
        .bind(last)
        .bind(count)
        .fetch_all(pool)
        .await?;
    let mut rng = rand::thread_rng();
    Ok(rows
        .into_iter()
        .map(|r| {
            let starts_at: chrono::DateTime<Utc> = r.get("starts_at");
            Slot {
                provider_id: r.get("provider_id"),
                location_id: r.get("location_id"),
                patient_id: rng.gen_range(seeded.min_patient_id..=seeded.max_patient_id.max(seeded.min_patient_id)),
                starts_at,
                ends_at: starts_at + Duration::minutes(SLOT_MINUTES),
            }
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct Slot {
    pub provider_id: i64,
    pub location_id: i64,
    pub patient_id: i64,
    pub starts_at: chrono::DateTime<Utc>,
    pub ends_at: chrono::DateTime<Utc>,
}

/// Search terms as integrators type them, drawn from the data: surnames (most), first names,
/// full names, email local parts, phone digits.
pub async fn search_terms(pool: &PgPool, seeded: &Seeded, count: i64) -> Result<Vec<String>, BoxError> {
    let rows = sqlx::query(
        "SELECT first_name, last_name, email, phone FROM patients WHERE organization_id = $1
         ORDER BY random() LIMIT $2",
    )
    .bind(seeded.organization_id)
    .bind(count)
    .fetch_all(pool)
    .await?;
    let mut rng = rand::thread_rng();
    let mut terms = Vec::with_capacity(rows.len());
    for r in rows {
        let first: String = r.get("first_name");
        let last: String = r.get("last_name");
        let email: Option<String> = r.get("email");
        let phone: Option<String> = r.get("phone");
        let pick: f64 = rng.gen();
        let term = if pick < 0.45 {
            last.to_lowercase()
        } else if pick < 0.60 {
            first.to_lowercase()
        } else if pick < 0.80 {
            format!("{} {}", first, last).to_lowercase()
        } else if pick < 0.92 {
            match email.as_deref().and_then(|e| e.split('@').next()) {
                Some(local) => local.to_string(),
                None => last.to_lowercase(),
            }
        } else {
            match phone.as_deref() {
                Some(p) if p.len() > 7 => p[p.len() - 7..].to_string(),
                _ => last.to_lowercase(),
            }
        };
        terms.push(term);
    }
    Ok(terms)
}

/// `(provider, local day)` pairs over the seeded range, as the UTC bounds of that day in the
/// provider's primary location: `(provider_id, from, to)` in RFC 3339.
pub async fn provider_days(
    pool: &PgPool,
    seeded: &Seeded,
    count: usize,
) -> Result<Vec<(i64, String, String)>, BoxError> {
    let mut rng = rand::thread_rng();
    let span = (seeded.last_day - seeded.first_day).num_days().max(1);
    let mut ids = Vec::with_capacity(count);
    let mut days = Vec::with_capacity(count);
    let mut zones = Vec::with_capacity(count);
    for _ in 0..count {
        let p = &seeded.providers[rng.gen_range(0..seeded.providers.len())];
        let mut day = seeded.first_day + Duration::days(rng.gen_range(0..=span));
        // Weekdays: the days a list by provider is asked for.
        while day.weekday().number_from_monday() > 5 {
            day -= Duration::days(1);
        }
        ids.push(p.id);
        days.push(day);
        zones.push(p.locations[0].1.clone());
    }
    let rows = sqlx::query(
        r#"SELECT p, to_char((d::timestamp AT TIME ZONE tz) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS f,
                  to_char(((d + 1)::timestamp AT TIME ZONE tz) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS t
           FROM unnest($1::bigint[], $2::date[], $3::text[]) AS u(p, d, tz)"#,
    )
    .bind(&ids)
    .bind(&days)
    .bind(&zones)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.get("p"), r.get("f"), r.get("t"))).collect())
}

/// Monday of a random week among the next `future_weeks`, per random provider.
pub fn provider_weeks(seeded: &Seeded, count: usize) -> Vec<(i64, NaiveDate, NaiveDate)> {
    let mut rng = rand::thread_rng();
    let today = Utc::now().date_naive();
    let monday = today - Duration::days(today.weekday().num_days_from_monday() as i64) + Duration::days(7);
    let weeks = seeded.future_weeks.max(1);
    (0..count)
        .map(|_| {
            let p = &seeded.providers[rng.gen_range(0..seeded.providers.len())];
            let from = monday + Duration::days(7 * rng.gen_range(0..weeks));
            (p.id, from, from + Duration::days(6))
        })
        .collect()
}
