//! Writes a validated clinic into an organization: upserts by `(organization_id, import_key)`,
//! writing only what differs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveTime;
use sqlx::PgConnection;
use uuid::Uuid;

use super::validate::{ValidClinic, ValidLocation, ValidProvider};
use super::{Counts, ImportError, ImportSummary, Problem};
use crate::domain::Address;

type HoursKey = (i64, i16, NaiveTime, NaiveTime);

/// Applies `clinic` inside the caller's transaction. On error the caller must roll back (some
/// rows may already have been written).
pub async fn apply(conn: &mut PgConnection, org: Uuid, clinic: &ValidClinic) -> Result<ImportSummary, ImportError> {
    // Serializes imports into one organization without blocking its other writes.
    let found = sqlx::query_scalar!("SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE", org)
        .fetch_optional(&mut *conn)
        .await?;
    if found.is_none() {
        return Err(ImportError::UnknownOrganization(org));
    }
    let (locations, location_ids) = apply_locations(conn, org, clinic).await?;
    let mut problems = Vec::new();
    for p in &clinic.providers {
        for key in p.locations.iter().filter(|k| !location_ids.contains_key(*k)) {
            problems.push(Problem {
                path: format!("{}.locations", p.path),
                message: format!("unknown location key {key:?}: not in this file, nor imported before"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    let (providers, provider_ids) = apply_providers(conn, org, clinic, &location_ids).await?;
    Ok(ImportSummary { organization_id: org, locations, providers, location_ids, provider_ids })
}

async fn apply_locations(
    conn: &mut PgConnection,
    org: Uuid,
    clinic: &ValidClinic,
) -> Result<(Counts, BTreeMap<String, i64>), ImportError> {
    let mut keys: Vec<String> = clinic.locations.iter().map(|l| l.key.clone()).collect();
    keys.extend(clinic.external_location_keys());
    let rows = sqlx::query!(
        "SELECT id, import_key, name, timezone, phone, address_line1, address_line2, address_city, address_region,
                address_postal_code, address_country
         FROM locations WHERE organization_id = $1 AND import_key = ANY($2)",
        org,
        &keys
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut ids = BTreeMap::new();
    let mut existing = HashMap::new();
    for r in rows {
        ids.insert(r.import_key.clone(), r.id);
        let current = ValidLocation {
            key: r.import_key,
            name: r.name,
            timezone: r.timezone,
            phone: r.phone,
            address: Address {
                line1: r.address_line1,
                line2: r.address_line2,
                city: r.address_city,
                region: r.address_region,
                postal_code: r.address_postal_code,
                country: r.address_country,
            },
        };
        existing.insert(current.key.clone(), (r.id, current));
    }
    let mut counts = Counts::default();
    for l in &clinic.locations {
        let a = &l.address;
        match existing.get(&l.key) {
            Some((_, current)) if current == l => counts.unchanged += 1,
            Some((id, _)) => {
                sqlx::query!(
                    "UPDATE locations SET name = $3, timezone = $4, phone = $5, address_line1 = $6, address_line2 = $7,
                            address_city = $8, address_region = $9, address_postal_code = $10, address_country = $11
                     WHERE organization_id = $1 AND id = $2",
                    org,
                    id,
                    l.name,
                    l.timezone,
                    l.phone,
                    a.line1,
                    a.line2,
                    a.city,
                    a.region,
                    a.postal_code,
                    a.country
                )
                .execute(&mut *conn)
                .await?;
                counts.updated += 1;
            }
            None => {
                let id = sqlx::query_scalar!(
                    "INSERT INTO locations (organization_id, import_key, name, timezone, phone, address_line1,
                                            address_line2, address_city, address_region, address_postal_code,
                                            address_country)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                    org,
                    l.key,
                    l.name,
                    l.timezone,
                    l.phone,
                    a.line1,
                    a.line2,
                    a.city,
                    a.region,
                    a.postal_code,
                    a.country
                )
                .fetch_one(&mut *conn)
                .await?;
                ids.insert(l.key.clone(), id);
                counts.created += 1;
            }
        }
    }
    Ok((counts, ids))
}

/// The provider's own columns, for comparison.
type ProviderFields = (String, String, Option<String>, Option<String>, Option<String>, bool);

fn fields(p: &ValidProvider) -> ProviderFields {
    (p.first_name.clone(), p.last_name.clone(), p.title.clone(), p.specialty.clone(), p.email.clone(), p.active)
}

async fn apply_providers(
    conn: &mut PgConnection,
    org: Uuid,
    clinic: &ValidClinic,
    location_ids: &BTreeMap<String, i64>,
) -> Result<(Counts, BTreeMap<String, i64>), ImportError> {
    let keys: Vec<String> = clinic.providers.iter().map(|p| p.key.clone()).collect();
    let rows = sqlx::query!(
        "SELECT id, import_key, first_name, last_name, title, specialty, email, active
         FROM providers WHERE organization_id = $1 AND import_key = ANY($2)",
        org,
        &keys
    )
    .fetch_all(&mut *conn)
    .await?;
    let existing: HashMap<String, (i64, ProviderFields)> = rows
        .into_iter()
        .map(|r| (r.import_key, (r.id, (r.first_name, r.last_name, r.title, r.specialty, r.email, r.active))))
        .collect();
    let existing_ids: Vec<i64> = existing.values().map(|(id, _)| *id).collect();
    let (mut current_locations, mut current_hours) = load_sets(conn, org, &existing_ids).await?;

    let mut counts = Counts::default();
    let mut ids = BTreeMap::new();
    let mut problems = Vec::new();
    for p in &clinic.providers {
        let (id, mut changed, created) = match existing.get(&p.key) {
            Some((id, current)) if *current == fields(p) => (*id, false, false),
            Some((id, _)) => {
                sqlx::query!(
                    "UPDATE providers SET first_name = $3, last_name = $4, title = $5, specialty = $6, email = $7,
                            active = $8
                     WHERE organization_id = $1 AND id = $2",
                    org,
                    id,
                    p.first_name,
                    p.last_name,
                    p.title,
                    p.specialty,
                    p.email,
                    p.active
                )
                .execute(&mut *conn)
                .await?;
                (*id, true, false)
            }
            None => {
                let id = sqlx::query_scalar!(
                    "INSERT INTO providers (organization_id, import_key, first_name, last_name, title, specialty, email,
                                            active)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    org,
                    p.key,
                    p.first_name,
                    p.last_name,
                    p.title,
                    p.specialty,
                    p.email,
                    p.active
                )
                .fetch_one(&mut *conn)
                .await?;
                (id, true, true)
            }
        };
        ids.insert(p.key.clone(), id);
        let want_locations: BTreeSet<i64> = p.locations.iter().filter_map(|k| location_ids.get(k).copied()).collect();
        let mut want_hours: Vec<HoursKey> =
            p.hours.iter().filter_map(|(k, h)| location_ids.get(k).map(|&l| (l, h.weekday, h.start, h.end))).collect();
        want_hours.sort();
        let have_locations = current_locations.remove(&id).unwrap_or_default();
        let have_hours = current_hours.remove(&id).unwrap_or_default();
        let add: Vec<i64> = want_locations.difference(&have_locations).copied().collect();
        let remove: Vec<i64> = have_locations.difference(&want_locations).copied().collect();
        if !remove.is_empty() {
            let blocked = check_removable(conn, org, id, p, &remove).await?;
            if !blocked.is_empty() {
                // Reported below; the transaction is rolled back, so stop writing this provider.
                problems.extend(blocked);
                continue;
            }
        }
        if !add.is_empty() {
            sqlx::query!(
                "INSERT INTO provider_locations (organization_id, provider_id, location_id)
                 SELECT $1, $2, unnest($3::bigint[])",
                org,
                id,
                &add
            )
            .execute(&mut *conn)
            .await?;
            changed = true;
        }
        if want_hours != have_hours {
            replace_hours(conn, org, id, &want_hours).await?;
            changed = true;
        }
        if !remove.is_empty() {
            sqlx::query!(
                "DELETE FROM provider_locations WHERE organization_id = $1 AND provider_id = $2 AND location_id = ANY($3)",
                org,
                id,
                &remove
            )
            .execute(&mut *conn)
            .await?;
            changed = true;
        }
        match (created, changed) {
            (true, _) => counts.created += 1,
            (false, true) => counts.updated += 1,
            (false, false) => counts.unchanged += 1,
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    Ok((counts, ids))
}

/// Current locations and (sorted) working hours of the given providers.
async fn load_sets(
    conn: &mut PgConnection,
    org: Uuid,
    provider_ids: &[i64],
) -> Result<(HashMap<i64, BTreeSet<i64>>, HashMap<i64, Vec<HoursKey>>), sqlx::Error> {
    let mut locations: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    for r in sqlx::query!(
        "SELECT provider_id, location_id FROM provider_locations WHERE organization_id = $1 AND provider_id = ANY($2)",
        org,
        provider_ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        locations.entry(r.provider_id).or_default().insert(r.location_id);
    }
    let mut hours: HashMap<i64, Vec<HoursKey>> = HashMap::new();
    for r in sqlx::query!(
        "SELECT provider_id, location_id, weekday, start_time, end_time FROM working_hours
         WHERE organization_id = $1 AND provider_id = ANY($2)
         ORDER BY provider_id, location_id, weekday, start_time, end_time",
        org,
        provider_ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        hours.entry(r.provider_id).or_default().push((r.location_id, r.weekday, r.start_time, r.end_time));
    }
    Ok((locations, hours))
}

/// A provider leaves a location only if no appointment (of any status) refers to that pair.
async fn check_removable(
    conn: &mut PgConnection,
    org: Uuid,
    provider_id: i64,
    p: &ValidProvider,
    remove: &[i64],
) -> Result<Vec<Problem>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT l.import_key, count(*) AS "n!"
           FROM appointments a JOIN locations l ON l.id = a.location_id
           WHERE a.organization_id = $1 AND a.provider_id = $2 AND a.location_id = ANY($3)
           GROUP BY l.import_key ORDER BY l.import_key"#,
        org,
        provider_id,
        remove
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Problem {
            path: format!("{}.locations", p.path),
            message: format!(
                "provider {:?} has {} appointment(s) at location {:?}, so it cannot be removed from it; \
                 keep the location and give it no working hours instead",
                p.key, r.n, r.import_key
            ),
        })
        .collect())
}

async fn replace_hours(
    conn: &mut PgConnection,
    org: Uuid,
    provider_id: i64,
    hours: &[HoursKey],
) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM working_hours WHERE organization_id = $1 AND provider_id = $2", org, provider_id)
        .execute(&mut *conn)
        .await?;
    let locations: Vec<i64> = hours.iter().map(|h| h.0).collect();
    let weekdays: Vec<i16> = hours.iter().map(|h| h.1).collect();
    let starts: Vec<NaiveTime> = hours.iter().map(|h| h.2).collect();
    let ends: Vec<NaiveTime> = hours.iter().map(|h| h.3).collect();
    sqlx::query!(
        "INSERT INTO working_hours (organization_id, provider_id, location_id, weekday, start_time, end_time)
         SELECT $1, $2, l, d, s, e FROM UNNEST($3::bigint[], $4::smallint[], $5::time[], $6::time[]) AS u(l, d, s, e)",
        org,
        provider_id,
        &locations,
        &weekdays,
        &starts,
        &ends
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
