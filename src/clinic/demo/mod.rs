//! `klinivo demo`: a realistic demo clinic in one transaction — the locations and providers of
//! `examples/clinic.json` (imported exactly as `klinivo clinic import` would), 50 fictional
//! patients, six weeks of past visits (completed with consultations, SOAP notes and
//! prescriptions, some cancelled or missed), four weeks of upcoming ones, and intake forms in
//! every state. The random choices use a fixed seed; dates are relative to now. No events are
//! recorded: this is set-up data, not API activity.

mod notes;
mod people;
mod records;
mod scenarios;
mod visits;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::import::{self, ImportError, ImportSummary};
use crate::domain::slots::{Block, Interval};
pub use records::ClinicalCounts;
use visits::DemoProvider;

/// The demo clinic's set-up: the example import file.
pub const DEMO_CLINIC: &str = include_str!("../../../examples/clinic.json");
const SEED: u64 = 20_261_128;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("organization {0} not found")]
    UnknownOrganization(Uuid),
    #[error("organization {0} already has the demo data (patient {first}); nothing was changed", first = people::FIRST_EXTERNAL_ID)]
    AlreadySeeded(Uuid),
    #[error("the demo clinic could not be imported: {0}")]
    Import(ImportError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl From<ImportError> for DemoError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::UnknownOrganization(org) => DemoError::UnknownOrganization(org),
            ImportError::Db(e) => DemoError::Db(e),
            other => DemoError::Import(other),
        }
    }
}

/// What the demo seeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoSummary {
    pub organization_id: Uuid,
    pub location_ids: BTreeMap<String, i64>,
    pub provider_ids: BTreeMap<String, i64>,
    pub patients: usize,
    #[serde(flatten)]
    pub clinical: ClinicalCounts,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.clinical;
        let by = |m: &BTreeMap<String, usize>| m.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ");
        write!(
            f,
            "{} locations, {} providers, {} patients; appointments: {}; {} consultations, {} SOAP notes ({}), \
             {} prescriptions; intake forms: {}",
            self.location_ids.len(),
            self.provider_ids.len(),
            self.patients,
            by(&c.appointments),
            c.consultations,
            c.soap_notes,
            by(&c.soap_note_states),
            c.prescriptions,
            by(&c.intake_forms)
        )
    }
}

/// Seeds the demo clinic into an existing organization, in one transaction.
pub async fn seed(db: &PgPool, org: Uuid) -> Result<DemoSummary, DemoError> {
    let mut tx = db.begin().await?;
    let summary = seed_in(&mut tx, org, Utc::now()).await?;
    tx.commit().await?;
    Ok(summary)
}

/// The demo organization's time zone, that of its locations.
const DEMO_TIMEZONE: &str = "America/New_York";

/// Creates an organization and seeds the demo clinic into it, in one transaction.
pub async fn create_organization(db: &PgPool, name: &str) -> Result<DemoSummary, DemoError> {
    let mut tx = db.begin().await?;
    let org = crate::auth::store::create_organization(&mut *tx, name, DEMO_TIMEZONE).await?;
    let summary = seed_in(&mut tx, org, Utc::now()).await?;
    tx.commit().await?;
    Ok(summary)
}

/// Seeds inside the caller's transaction, with dates relative to `now`.
pub async fn seed_in(conn: &mut PgConnection, org: Uuid, now: DateTime<Utc>) -> Result<DemoSummary, DemoError> {
    let file = import::parse(DEMO_CLINIC.as_bytes())?;
    let clinic = import::validate(&file).map_err(ImportError::Invalid)?;
    let imported = import::apply(conn, org, &clinic).await?;
    let seeded = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM patients WHERE organization_id = $1 AND external_id = $2) AS "seeded!""#,
        org,
        people::FIRST_EXTERNAL_ID
    )
    .fetch_one(&mut *conn)
    .await?;
    if seeded {
        return Err(DemoError::AlreadySeeded(org));
    }
    let mut rng = StdRng::seed_from_u64(SEED);
    let patients = people::generate(&mut rng);
    let patient_ids = people::insert(conn, org, &patients).await?;
    let children: Vec<bool> = patients.iter().map(|p| p.child).collect();

    let providers = demo_providers(&clinic, &imported);
    let busy = existing_busy(conn, org, &providers, now).await?;
    let planned = visits::plan(&providers, &children, &busy, now, &mut rng);
    let appointment_ids = records::insert_appointments(conn, org, &planned, &patient_ids).await?;
    let (consultations, soap_note_states, prescriptions) =
        records::insert_consultations(conn, org, &planned, &appointment_ids, &patient_ids, &mut rng).await?;
    let intake_forms =
        records::insert_intake_forms(conn, org, &planned, &appointment_ids, &patient_ids, now, &mut rng).await?;
    let mut appointments = BTreeMap::new();
    for v in &planned {
        *appointments.entry(v.status.to_string()).or_default() += 1;
    }
    Ok(DemoSummary {
        organization_id: org,
        location_ids: imported.location_ids,
        provider_ids: imported.provider_ids,
        patients: patient_ids.len(),
        clinical: ClinicalCounts {
            appointments,
            consultations,
            soap_notes: soap_note_states.values().sum(),
            soap_note_states,
            prescriptions,
            intake_forms,
        },
    })
}

/// The imported providers with their working hours as availability blocks.
fn demo_providers(clinic: &import::ValidClinic, imported: &ImportSummary) -> Vec<DemoProvider> {
    let zones: HashMap<&str, Tz> =
        clinic.locations.iter().filter_map(|l| l.timezone.parse().ok().map(|tz| (l.key.as_str(), tz))).collect();
    clinic
        .providers
        .iter()
        .filter(|p| p.active)
        .filter_map(|p| {
            let id = *imported.provider_ids.get(&p.key)?;
            let blocks = p
                .hours
                .iter()
                .filter_map(|(key, h)| {
                    Some(Block {
                        location_id: *imported.location_ids.get(key)?,
                        tz: *zones.get(key.as_str())?,
                        weekday: h.weekday as u32,
                        start: h.start,
                        end: h.end,
                    })
                })
                .collect();
            Some(DemoProvider { id, specialty: p.specialty.clone(), blocks })
        })
        .collect()
}

/// Active appointments the providers already have in the demo's window (when seeding into an
/// organization that already uses these providers), which the plan must not overlap.
async fn existing_busy(
    conn: &mut PgConnection,
    org: Uuid,
    providers: &[DemoProvider],
    now: DateTime<Utc>,
) -> Result<HashMap<i64, Vec<Interval>>, sqlx::Error> {
    let ids: Vec<i64> = providers.iter().map(|p| p.id).collect();
    let rows = sqlx::query!(
        "SELECT provider_id, starts_at, ends_at FROM appointments
         WHERE organization_id = $1 AND provider_id = ANY($2) AND status IN ('scheduled', 'confirmed')
           AND ends_at > $3 AND starts_at < $4",
        org,
        &ids,
        now - Duration::days(visits::PAST_DAYS + 2),
        now + Duration::days(visits::FUTURE_DAYS + 2)
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut busy: HashMap<i64, Vec<_>> = HashMap::new();
    for r in rows {
        busy.entry(r.provider_id).or_default().push((r.starts_at, r.ends_at));
    }
    Ok(busy)
}
