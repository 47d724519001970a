//! The query plans (EXPLAIN ANALYZE) of the statements the API runs on its hot paths, at the
//! seeded size, and which indexes they use.
//!
//! The SQL is copied from the handlers (the file each comes from is named); keep it in step
//! when they change. Each runs as a prepared statement with `plan_cache_mode =
//! force_custom_plan`, as Klinivo runs its lists (`db::planned_read`; its other statements get
//! the same plans, cached), or, for patient search, `force_generic_plan` as Klinivo runs it
//! (`db::generic_reads`); once to warm the cache and once measured. Writes run inside a
//! transaction that is rolled back.

use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};

use crate::datagen::Seeded;
use crate::BoxError;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub name: String,
    pub source: String,
    pub arguments: String,
    pub execution_ms: f64,
    pub indexes: Vec<String>,
    pub seq_scans: Vec<String>,
    pub text: String,
}

const PATIENT_COLUMNS: &str = "id, external_id, first_name, last_name, date_of_birth, sex, email, phone, \
    address_line1, address_line2, address_city, address_region, address_postal_code, address_country, \
    created_at, updated_at";
/// The same columns when `p` is the patients table joined to something else.
const PATIENT_COLUMNS_P: &str = "p.id, external_id, first_name, last_name, date_of_birth, sex, email, phone, \
    address_line1, address_line2, address_city, address_region, address_postal_code, address_country, \
    created_at, updated_at";

struct Query {
    name: &'static str,
    source: &'static str,
    types: &'static str,
    sql: String,
    write: bool,
    /// Planned once for any parameters, as Klinivo runs it.
    generic: bool,
}

fn queries() -> Vec<Query> {
    vec![
        Query {
            name: "patient by id",
            source: "src/domain/patients/mod.rs get",
            types: "uuid, bigint",
            sql: format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE organization_id = $1 AND id = $2"),
            write: false,
            generic: false,
        },
        Query {
            name: "patient search",
            source: "src/domain/patients/search.rs search, step 3 (the trigram index)",
            types: "uuid, text, text, text, text, date, text, bigint, bigint",
            sql: format!(
                "SELECT {PATIENT_COLUMNS_P} FROM (SELECT id FROM patients
                   WHERE organization_id = $1
                     AND (search_text LIKE $2 OR search_text LIKE $3::text)
                     AND ($4::text IS NULL OR lower(email) = lower($4))
                     AND ($5::text IS NULL OR phone = $5)
                     AND ($6::date IS NULL OR date_of_birth = $6)
                     AND ($7::text IS NULL OR external_id = $7)
                     AND id + 0 > $8
                   ORDER BY id + 0
                   LIMIT $9) m
                 JOIN patients p ON p.organization_id = $1 AND p.id = m.id
                 ORDER BY p.id"
            ),
            write: false,
            generic: true,
        },
        Query {
            name: "patient search walk",
            source: "src/domain/patients/search.rs walk (steps 1 and 2)",
            types: "uuid, text, text, text, text, date, text, bigint, bigint, bigint, text",
            sql: format!(
                "SELECT {PATIENT_COLUMNS_P}
                 FROM (SELECT id, search_text FROM patients
                       WHERE organization_id = $1 AND (organization_id, id) > ($1, $8)
                       ORDER BY organization_id, id
                       LIMIT $10) w
                 CROSS JOIN LATERAL (
                       SELECT * FROM patients p
                       WHERE p.organization_id = $1 AND p.id = w.id
                         AND ($4::text IS NULL OR lower(email) = lower($4))
                         AND ($5::text IS NULL OR phone = $5)
                         AND ($6::date IS NULL OR date_of_birth = $6)
                         AND ($7::text IS NULL OR external_id = $7)
                       OFFSET 0) p
                 WHERE CASE WHEN $11::text IS NOT NULL THEN strpos(w.search_text, $11) > 0
                            ELSE w.search_text LIKE $2 OR w.search_text LIKE $3::text
                       END
                 ORDER BY w.id
                 LIMIT $9"
            ),
            write: false,
            generic: true,
        },
        Query {
            name: "appointments by provider and day",
            source: "src/domain/appointments/list.rs (no updatedSince)",
            types: "uuid, bigint, bigint, bigint, text[], timestamptz, timestamptz, bigint, bigint",
            sql: "SELECT id, patient_id, provider_id, location_id, starts_at, ends_at, status, reason,
                         cancellation_reason, created_at, updated_at
                  FROM appointments
                  WHERE organization_id = $1
                    AND ($2::bigint IS NULL OR patient_id = $2)
                    AND ($3::bigint IS NULL OR provider_id = $3)
                    AND ($4::bigint IS NULL OR location_id = $4)
                    AND ($5::text[] IS NULL OR status = ANY ($5))
                    AND ($6::timestamptz IS NULL OR starts_at >= $6)
                    AND ($7::timestamptz IS NULL OR starts_at < $7)
                    AND id > $8
                  ORDER BY id
                  LIMIT $9"
                .into(),
            write: false,
            generic: false,
        },
        Query {
            name: "availability: working hours",
            source: "src/domain/providers/schedule.rs load_provider_hours",
            types: "uuid, bigint",
            sql: "SELECT p.active, pl.location_id, l.timezone, wh.weekday, wh.start_time, wh.end_time
                  FROM providers p
                  LEFT JOIN provider_locations pl ON pl.provider_id = p.id
                  LEFT JOIN locations l ON l.id = pl.location_id
                  LEFT JOIN working_hours wh ON wh.provider_id = pl.provider_id AND wh.location_id = pl.location_id
                  WHERE p.organization_id = $1 AND p.id = $2
                  ORDER BY pl.location_id, wh.weekday, wh.start_time"
                .into(),
            write: false,
            generic: false,
        },
        Query {
            name: "availability: busy appointments of a week",
            source: "src/domain/availability.rs get",
            types: "uuid, bigint, timestamptz, timestamptz, timestamptz",
            sql: "SELECT starts_at, ends_at FROM appointments
                  WHERE organization_id = $1 AND provider_id = $2
                    AND starts_at >= $3 AND starts_at < $4 AND ends_at > $5
                    AND status IN ('scheduled', 'confirmed')
                  UNION ALL
                  SELECT lower(during), upper(during) FROM slot_claims
                  WHERE organization_id = $1 AND provider_id = $2 AND hold_id IS NOT NULL
                    AND during && tstzrange($5, $4) AND expires_at > now()"
                .into(),
            write: false,
            generic: false,
        },
        Query {
            name: "booking: references",
            source: "src/domain/appointments/model.rs references",
            types: "uuid, bigint, bigint, bigint",
            sql: "SELECT
                    EXISTS (SELECT 1 FROM patients WHERE organization_id = $1 AND id = $2),
                    (SELECT active FROM providers WHERE organization_id = $1 AND id = $3),
                    EXISTS (SELECT 1 FROM locations WHERE organization_id = $1 AND id = $4),
                    EXISTS (SELECT 1 FROM provider_locations
                            WHERE organization_id = $1 AND provider_id = $3 AND location_id = $4)"
                .into(),
            write: false,
            generic: false,
        },
        Query {
            name: "booking: insert (exclusion constraint checked)",
            source: "src/domain/appointments/model.rs insert",
            types: "uuid, bigint, bigint, bigint, timestamptz, timestamptz, text",
            sql: "INSERT INTO appointments (organization_id, patient_id, provider_id, location_id, starts_at, ends_at, reason)
                  VALUES ($1, $2, $3, $4, $5, $6, $7)
                  RETURNING id, patient_id, provider_id, location_id, starts_at, ends_at, status, reason,
                            cancellation_reason, created_at, updated_at"
                .into(),
            write: true,
            generic: false,
        },
        Query {
            name: "authentication + rate-limit count",
            source: "src/auth/store.rs authenticate_and_count",
            types: "bytea",
            sql: "WITH k AS (
                      SELECT id, organization_id, key_prefix, permissions, rate_limit_per_minute
                      FROM api_keys
                      WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                  ), c AS (
                      INSERT INTO rate_limit_counters AS r (api_key_id, window_start, count)
                      SELECT id, date_trunc('minute', now()), 1 FROM k
                      ON CONFLICT (api_key_id) DO UPDATE
                          SET count = CASE WHEN r.window_start >= EXCLUDED.window_start THEN r.count + 1 ELSE 1 END,
                              window_start = GREATEST(r.window_start, EXCLUDED.window_start)
                      RETURNING count, window_start
                  )
                  SELECT k.id, k.organization_id, k.key_prefix, k.permissions, k.rate_limit_per_minute,
                         c.count, c.window_start
                  FROM k CROSS JOIN c"
                .into(),
            write: true,
            generic: false,
        },
    ]
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// One EXECUTE argument list per case: `(query name, label, arguments as SQL literals)`.
async fn cases(db: &PgPool, s: &Seeded) -> Result<Vec<(&'static str, String, String)>, BoxError> {
    let org = quote(&s.organization_id.to_string());
    let mid = (s.min_patient_id + s.max_patient_id) / 2;
    // A common surname, a rare full name, phone digits: the range of search selectivity.
    let common: String = sqlx::query_scalar(
        "SELECT lower(last_name) FROM patients WHERE organization_id = $1 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
    )
    .bind(s.organization_id)
    .fetch_optional(db)
    .await?
    .unwrap_or_else(|| "smith".into());
    let (rare, phone): (String, Option<String>) = sqlx::query_as(
        "SELECT lower(first_name || ' ' || last_name), phone FROM patients
         WHERE organization_id = $1 AND last_name IN ('Zhou', 'Achterberg', 'Szymanski') AND phone IS NOT NULL
         ORDER BY id LIMIT 1",
    )
    .bind(s.organization_id)
    .fetch_optional(db)
    .await?
    .unwrap_or_else(|| ("ingrid zhou".into(), Some("+12125550123".into())));
    let digits = phone.map(|p| p[p.len().saturating_sub(7)..].to_string()).unwrap_or_else(|| "5550123".into());
    let provider = s.providers.first().map(|p| p.id).unwrap_or(1);
    let location = s.providers.first().and_then(|p| p.locations.first()).map(|l| l.0).unwrap_or(1);
    let days = crate::datagen::provider_days(db, s, 1).await?;
    let (day_provider, from, to) = days.into_iter().next().unwrap_or((provider, String::new(), String::new()));
    let week = crate::datagen::provider_weeks(s, 1);
    let (week_provider, monday, _) = week[0];
    let zone = s.providers.iter().find(|p| p.id == week_provider).map(|p| p.locations[0].1.clone());
    let zone = quote(&zone.unwrap_or_else(|| "UTC".into()));
    let week_from = format!("('{monday}'::timestamp AT TIME ZONE {zone})");
    let week_to = format!("('{}'::timestamp AT TIME ZONE {zone})", monday + chrono::Duration::days(7));
    let booking_at = chrono::Utc::now().date_naive() + chrono::Duration::days(7 * (s.future_weeks + 60));
    let key = quote(&s.key);
    let mut out = vec![
        ("patient by id", format!("id {mid}"), format!("{org}, {mid}")),
        (
            "patient search",
            format!("q={common:?} (common surname)"),
            format!("{org}, {}, NULL, NULL, NULL, NULL, NULL, 0, 51", quote(&format!("%{common}%"))),
        ),
        (
            "patient search",
            format!("q={rare:?} (rare full name)"),
            format!("{org}, {}, NULL, NULL, NULL, NULL, NULL, 0, 51", quote(&format!("%{rare}%"))),
        ),
        (
            "patient search",
            format!("q={digits:?} (phone digits)"),
            format!("{org}, {}, NULL, NULL, NULL, NULL, NULL, 0, 51", quote(&format!("%{digits}%"))),
        ),
        (
            "patient search",
            "q=\"jo\" (two letters: word prefix)".into(),
            format!("{org}, 'jo%', '% jo%', NULL, NULL, NULL, NULL, 0, 51"),
        ),
        (
            "patient search walk",
            format!("q={common:?}, the first 300 patients (step 1)"),
            format!("{org}, {}, NULL, NULL, NULL, NULL, NULL, 0, 51, 300, {}", quote(&format!("%{common}%")), quote(&common)),
        ),
        (
            "appointments by provider and day",
            format!("providerId={day_provider} from={from} to={to}"),
            format!("{org}, NULL, {day_provider}, NULL, NULL, {}, {}, 0, 51", quote(&from), quote(&to)),
        ),
        ("availability: working hours", format!("provider {week_provider}"), format!("{org}, {week_provider}")),
        (
            "availability: busy appointments of a week",
            format!("provider {week_provider}, week of {monday}"),
            format!("{org}, {week_provider}, {week_from} - interval '1 day', {week_to}, {week_from}"),
        ),
        (
            "booking: references",
            format!("patient {mid}, provider {provider}, location {location}"),
            format!("{org}, {mid}, {provider}, {location}"),
        ),
        (
            "booking: insert (exclusion constraint checked)",
            format!("provider {provider} on {booking_at}"),
            format!(
                "{org}, {mid}, {provider}, {location}, '{booking_at} 15:00:00Z', '{booking_at} 15:15:00Z', 'Follow-up visit'"
            ),
        ),
        ("authentication + rate-limit count", "the benchmark key".into(), format!("sha256(convert_to({key}, 'UTF8'))")),
    ];
    out.retain(|(_, _, args)| !args.contains("''"));
    Ok(out)
}

fn summarize(text: &str) -> (f64, Vec<String>, Vec<String>) {
    let mut indexes = Vec::new();
    let mut seq = Vec::new();
    let mut ms = 0.0;
    for line in text.lines() {
        let l = line.trim();
        for marker in [" using ", "Bitmap Index Scan on "] {
            if l.contains("Index") {
                if let Some(rest) = l.split(marker).nth(1) {
                    let name = rest.split_whitespace().next().unwrap_or("").to_string();
                    let kind = l.trim_start_matches("->").trim().split(" on ").next().unwrap_or("");
                    let kind = kind.split(" using").next().unwrap_or(kind).trim();
                    let entry = format!("{name} ({kind})");
                    if !name.is_empty() && !indexes.contains(&entry) {
                        indexes.push(entry);
                    }
                }
            }
        }
        if let Some(rest) = l.split("Seq Scan on ").nth(1) {
            let name = rest.split_whitespace().next().unwrap_or("").to_string();
            if !seq.contains(&name) {
                seq.push(name);
            }
        }
        if let Some(v) = l.strip_prefix("Execution Time: ") {
            ms = v.trim_end_matches(" ms").parse().unwrap_or(0.0);
        }
    }
    (ms, indexes, seq)
}

async fn explain(conn: &mut PgConnection, q: &Query, args: &str) -> Result<String, BoxError> {
    let result = explain_once(conn, q, args).await;
    // Prepared statements outlive transactions.
    let _ = sqlx::raw_sql("DEALLOCATE bench_plan").execute(&mut *conn).await;
    result
}

async fn explain_once(conn: &mut PgConnection, q: &Query, args: &str) -> Result<String, BoxError> {
    let stmt = format!("EXECUTE bench_plan({args})");
    let mut tx = conn.begin().await?;
    if q.generic {
        sqlx::raw_sql("SET LOCAL plan_cache_mode = force_generic_plan").execute(&mut *tx).await?;
    }
    sqlx::raw_sql(&format!("PREPARE bench_plan({}) AS {}", q.types, q.sql)).execute(&mut *tx).await?;
    if !q.write {
        sqlx::raw_sql(&stmt).execute(&mut *tx).await?;
    }
    let rows: Vec<String> =
        sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) {stmt}")).persistent(false).fetch_all(&mut *tx).await?;
    tx.rollback().await?;
    Ok(rows.join("\n"))
}

/// Explains every case; a query that cannot run (a table or column not there yet) is reported, not fatal.
pub async fn explain_all(db: &PgPool, s: &Seeded) -> Result<Vec<Plan>, BoxError> {
    let mut conn = db.acquire().await?;
    sqlx::query("SET plan_cache_mode = force_custom_plan").execute(&mut *conn).await?;
    let queries = queries();
    let mut plans = Vec::new();
    for (name, label, args) in cases(db, s).await? {
        let Some(q) = queries.iter().find(|q| q.name == name) else {
            continue;
        };
        let text = match explain(&mut conn, q, &args).await {
            Ok(t) => t,
            Err(e) => format!("could not explain: {e}"),
        };
        let (execution_ms, indexes, seq_scans) = summarize(&text);
        plans.push(Plan {
            name: name.to_string(),
            source: q.source.to_string(),
            arguments: label,
            execution_ms,
            indexes,
            seq_scans,
            text,
        });
    }
    Ok(plans)
}

/// The plans as a text file: a summary line per plan, then each plan in full.
pub fn render(plans: &[Plan]) -> String {
    let mut out = String::new();
    for p in plans {
        out.push_str(&format!(
            "{:<46} {:>9.3} ms  indexes: {}{}\n",
            format!("{} [{}]", p.name, p.arguments),
            p.execution_ms,
            if p.indexes.is_empty() { "none".into() } else { p.indexes.join(", ") },
            if p.seq_scans.is_empty() { String::new() } else { format!("  SEQ SCAN: {}", p.seq_scans.join(", ")) }
        ));
    }
    for p in plans {
        out.push_str(&format!("\n== {} — {}\n   from {}\n{}\n", p.name, p.arguments, p.source, p.text));
    }
    out
}
