//! Fictional demo patients: names from common lists, reserved example.com addresses and
//! 555-01xx phone numbers, which are set aside for fiction.

use chrono::NaiveDate;
use rand::Rng;
use sqlx::PgConnection;
use uuid::Uuid;

pub const PATIENTS: usize = 50;
/// The external id of the first demo patient; its presence means the demo was seeded.
pub const FIRST_EXTERNAL_ID: &str = "demo-patient-001";

const FEMALE: &[&str] = &[
    "Olivia",
    "Emma",
    "Ava",
    "Sophia",
    "Isabella",
    "Mia",
    "Charlotte",
    "Harper",
    "Evelyn",
    "Abigail",
    "Emily",
    "Ella",
    "Grace",
    "Chloe",
    "Lily",
    "Nora",
    "Zoe",
    "Hannah",
    "Leah",
    "Maya",
    "Aisha",
    "Mei",
    "Fatima",
    "Lucia",
    "Ingrid",
];
const MALE: &[&str] = &[
    "Liam",
    "Noah",
    "Oliver",
    "Elijah",
    "William",
    "Benjamin",
    "Lucas",
    "Henry",
    "Alexander",
    "Mateo",
    "Daniel",
    "Samuel",
    "David",
    "Joseph",
    "Carter",
    "Owen",
    "Wyatt",
    "Jack",
    "Leo",
    "Hiro",
    "Omar",
    "Diego",
    "Arjun",
    "Kwame",
    "Tomas",
];
const LAST: &[&str] = &[
    "Anderson",
    "Brooks",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fitzgerald",
    "García",
    "Hernandez",
    "Ibrahim",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "O'Brien",
    "Patel",
    "Quinn",
    "Rossi",
    "Sato",
    "Thompson",
    "Underwood",
    "Vasquez",
    "Whitaker",
    "Xu",
    "Yamamoto",
    "Zielinski",
    "Bennett",
    "Carvalho",
    "Delgado",
    "Okonkwo",
];
const NY_STREETS: &[&str] = &["West 72nd Street", "Atlantic Avenue", "Lexington Avenue", "Bedford Avenue", "Broadway"];
const SF_STREETS: &[&str] =
    &["Valencia Street", "Divisadero Street", "Irving Street", "24th Street", "Telegraph Avenue"];

pub struct DemoPatient {
    pub external_id: String,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: &'static str,
    pub email: String,
    pub phone: String,
    pub line1: String,
    pub city: &'static str,
    pub region: &'static str,
    pub postal_code: String,
    /// Children are seen by the pediatrician; adults by everyone else.
    pub child: bool,
}

/// The demo patients; every fifth one is a child.
pub fn generate(rng: &mut impl Rng) -> Vec<DemoPatient> {
    (0..PATIENTS)
        .map(|i| {
            let (first, sex) =
                if i % 2 == 0 { (FEMALE[i / 2 % FEMALE.len()], "female") } else { (MALE[i / 2 % MALE.len()], "male") };
            let last = LAST[(i * 7) % LAST.len()];
            let child = i % 5 == 0;
            let year = if child { rng.gen_range(2012..=2022) } else { rng.gen_range(1942..=2004) };
            let date_of_birth =
                NaiveDate::from_ymd_opt(year, rng.gen_range(1..=12), rng.gen_range(1..=28)).unwrap_or(NaiveDate::MIN);
            let east = i % 2 == 0;
            let street = if east { NY_STREETS[i % NY_STREETS.len()] } else { SF_STREETS[i % SF_STREETS.len()] };
            let local: String = crate::domain::search_text::fold(&format!("{first}.{last}{}", i + 1))
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            DemoPatient {
                external_id: format!("demo-patient-{:03}", i + 1),
                first_name: first.to_string(),
                last_name: last.to_string(),
                date_of_birth,
                sex,
                email: format!("{local}@example.com"),
                phone: format!("+1{}55501{:02}", if east { 212 } else { 415 }, i),
                line1: format!("{} {street}", rng.gen_range(10..=980)),
                city: if east { "New York" } else { "San Francisco" },
                region: if east { "NY" } else { "CA" },
                postal_code: if east {
                    format!("100{:02}", rng.gen_range(1..=40))
                } else {
                    format!("941{:02}", rng.gen_range(2..=34))
                },
                child,
            }
        })
        .collect()
}

/// Inserts the patients; returns their ids in the same order.
pub async fn insert(conn: &mut PgConnection, org: Uuid, patients: &[DemoPatient]) -> Result<Vec<i64>, sqlx::Error> {
    let col = |f: fn(&DemoPatient) -> String| patients.iter().map(f).collect::<Vec<String>>();
    let dobs: Vec<NaiveDate> = patients.iter().map(|p| p.date_of_birth).collect();
    let rows = sqlx::query!(
        "INSERT INTO patients (organization_id, external_id, first_name, last_name, date_of_birth, sex, email, phone,
                               address_line1, address_city, address_region, address_postal_code, address_country,
                               search_text, search_stale)
         SELECT $1, e, f, l, d, s, m, p, a, c, r, z, 'US', t, false
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::date[], $6::text[], $7::text[], $8::text[], $9::text[],
                     $10::text[], $11::text[], $12::text[], $13::text[]) AS u(e, f, l, d, s, m, p, a, c, r, z, t)
         RETURNING id, external_id",
        org,
        &col(|p| p.external_id.clone()),
        &col(|p| p.first_name.clone()),
        &col(|p| p.last_name.clone()),
        &dobs,
        &col(|p| p.sex.to_string()),
        &col(|p| p.email.clone()),
        &col(|p| p.phone.clone()),
        &col(|p| p.line1.clone()),
        &col(|p| p.city.to_string()),
        &col(|p| p.region.to_string()),
        &col(|p| p.postal_code.clone()),
        &col(|p| crate::domain::search_text::of(&p.first_name, &p.last_name, Some(&p.email), Some(&p.phone))),
    )
    .fetch_all(&mut *conn)
    .await?;
    let by_external: std::collections::HashMap<String, i64> =
        rows.into_iter().filter_map(|r| r.external_id.map(|e| (e, r.id))).collect();
    patients.iter().map(|p| by_external.get(&p.external_id).copied().ok_or(sqlx::Error::RowNotFound)).collect()
}
