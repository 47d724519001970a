//! Writes the planned visits and what they produced: appointments, consultations (ended) with
//! SOAP notes and prescriptions for completed visits, and intake forms in every state.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::notes::PlannedNote;
use super::visits::Visit;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClinicalCounts {
    pub appointments: BTreeMap<String, usize>,
    pub consultations: usize,
    pub soap_notes: usize,
    /// SOAP notes by state: `draft`, `signed`, `amended` (signed, then amended).
    pub soap_note_states: BTreeMap<String, usize>,
    pub prescriptions: usize,
    pub intake_forms: BTreeMap<String, usize>,
}

/// Inserts the appointments; returns their ids in the order of `visits`.
pub async fn insert_appointments(
    conn: &mut PgConnection,
    org: Uuid,
    visits: &[Visit],
    patient_ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    let rows = sqlx::query!(
        "INSERT INTO appointments (organization_id, patient_id, provider_id, location_id, starts_at, ends_at, status,
                                   reason, cancellation_reason, created_at)
         SELECT $1, pa, pr, lo, st, en, stat, rsn, cr, ca
         FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[], $6::timestamptz[], $7::text[],
                     $8::text[], $9::text[], $10::timestamptz[]) AS u(pa, pr, lo, st, en, stat, rsn, cr, ca)
         RETURNING id, provider_id, starts_at",
        org,
        &visits.iter().map(|v| patient_ids[v.patient]).collect::<Vec<i64>>(),
        &visits.iter().map(|v| v.provider_id).collect::<Vec<i64>>(),
        &visits.iter().map(|v| v.location_id).collect::<Vec<i64>>(),
        &visits.iter().map(|v| v.starts_at).collect::<Vec<DateTime<Utc>>>(),
        &visits.iter().map(|v| v.ends_at).collect::<Vec<DateTime<Utc>>>(),
        &visits.iter().map(|v| v.status.to_string()).collect::<Vec<String>>(),
        &visits.iter().map(|v| v.scenario.reason.to_string()).collect::<Vec<String>>(),
        (&visits.iter().map(|v| v.cancellation_reason.map(str::to_string)).collect::<Vec<Option<String>>>()) as _,
        &visits.iter().map(|v| v.created_at).collect::<Vec<DateTime<Utc>>>(),
    )
    .fetch_all(&mut *conn)
    .await?;
    // One provider never has two visits starting at the same instant, so this identifies each.
    let ids: HashMap<(i64, DateTime<Utc>), i64> =
        rows.into_iter().map(|r| ((r.provider_id, r.starts_at), r.id)).collect();
    visits.iter().map(|v| ids.get(&(v.provider_id, v.starts_at)).copied().ok_or(sqlx::Error::RowNotFound)).collect()
}

/// For each completed visit: an ended consultation, its SOAP note, and usually a prescription;
/// returns the counts of consultations, notes by state, and prescriptions.
pub async fn insert_consultations(
    conn: &mut PgConnection,
    org: Uuid,
    visits: &[Visit],
    appointment_ids: &[i64],
    patient_ids: &[i64],
    rng: &mut impl Rng,
) -> Result<(usize, BTreeMap<String, usize>, usize), sqlx::Error> {
    let done: Vec<(usize, DateTime<Utc>, DateTime<Utc>)> = visits
        .iter()
        .enumerate()
        .filter(|(_, v)| v.status == "completed")
        .map(|(i, v)| {
            let started = v.starts_at + Duration::minutes(rng.gen_range(0..6));
            (i, started, started + Duration::minutes(rng.gen_range(14..28)))
        })
        .collect();
    let rows = sqlx::query!(
        "INSERT INTO consultations (organization_id, appointment_id, patient_id, provider_id, status, started_at,
                                    ended_at, created_at)
         SELECT $1, ap, pa, pr, 'ended', st, en, st
         FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[], $6::timestamptz[])
              AS u(ap, pa, pr, st, en)
         RETURNING id, appointment_id",
        org,
        &done.iter().map(|d| appointment_ids[d.0]).collect::<Vec<i64>>(),
        &done.iter().map(|d| patient_ids[visits[d.0].patient]).collect::<Vec<i64>>(),
        &done.iter().map(|d| visits[d.0].provider_id).collect::<Vec<i64>>(),
        &done.iter().map(|d| d.1).collect::<Vec<DateTime<Utc>>>(),
        &done.iter().map(|d| d.2).collect::<Vec<DateTime<Utc>>>(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let consultation_of: HashMap<i64, i64> = rows.into_iter().map(|r| (r.appointment_id, r.id)).collect();
    // (consultation, visit, ended_at)
    let mut notes = Vec::new();
    for &(i, _, ended) in &done {
        if let Some(&c) = consultation_of.get(&appointment_ids[i]) {
            notes.push((c, i, ended));
        }
    }
    let planned: Vec<PlannedNote> = notes
        .iter()
        .map(|&(c, i, ended)| PlannedNote {
            consultation_id: c,
            author_provider_id: visits[i].provider_id,
            visit: i,
            written_at: ended - Duration::minutes(2),
        })
        .collect();
    let note_states = super::notes::insert(conn, org, visits, &planned).await?;
    let prescribed: Vec<_> = notes
        .iter()
        .filter_map(|n| visits[n.1].scenario.rx.as_ref().map(|rx| (n, rx)))
        .filter_map(|(n, rx)| match rng.gen_range(0..20) {
            0..=2 => None,
            3..=4 => Some((n, rx, "discontinued")),
            _ => Some((n, rx, "active")),
        })
        .collect();
    let rx_text = |f: fn(&super::scenarios::Rx) -> &'static str| {
        prescribed.iter().map(|p| f(p.1).to_string()).collect::<Vec<String>>()
    };
    sqlx::query!(
        "INSERT INTO prescriptions (organization_id, consultation_id, patient_id, provider_id, medication_name, dosage,
                                    route, frequency, quantity, refills, instructions, status, prescribed_at)
         SELECT $1, c, pa, pr, m, d, r, f, q, rf, i, s, t
         FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::int[], $10::int[], $11::text[], $12::text[], $13::timestamptz[])
              AS u(c, pa, pr, m, d, r, f, q, rf, i, s, t)",
        org,
        &prescribed.iter().map(|p| p.0 .0).collect::<Vec<i64>>(),
        &prescribed.iter().map(|p| patient_ids[visits[p.0 .1].patient]).collect::<Vec<i64>>(),
        &prescribed.iter().map(|p| visits[p.0 .1].provider_id).collect::<Vec<i64>>(),
        &rx_text(|rx| rx.medication_name),
        &rx_text(|rx| rx.dosage),
        &rx_text(|rx| rx.route),
        &rx_text(|rx| rx.frequency),
        &prescribed.iter().map(|p| p.1.quantity).collect::<Vec<i32>>(),
        &prescribed.iter().map(|p| p.1.refills).collect::<Vec<i32>>(),
        &rx_text(|rx| rx.instructions),
        &prescribed.iter().map(|p| p.2.to_string()).collect::<Vec<String>>(),
        &prescribed.iter().map(|p| p.0 .2 - Duration::minutes(1)).collect::<Vec<DateTime<Utc>>>(),
    )
    .execute(&mut *conn)
    .await?;
    Ok((done.len(), note_states, prescribed.len()))
}

struct Intake {
    visit: Option<usize>,
    patient: usize,
    form_type: &'static str,
    status: &'static str,
    answers: Option<Value>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

fn answers(visit: &Visit, rng: &mut impl Rng) -> Value {
    let allergies: &[&str] =
        [&[][..], &["Penicillin"], &["Peanuts", "Latex"], &["Sulfa drugs"]].choose(rng).copied().unwrap_or(&[]);
    json!({
        "reasonForVisit": visit.scenario.reason,
        "allergies": allergies,
        "currentMedications": if rng.gen_bool(0.5) { json!([]) } else { json!(["Vitamin D 1000 IU daily"]) },
        "smoker": rng.gen_bool(0.15),
        "alcoholUse": *["none", "occasional", "weekly"].choose(rng).unwrap_or(&"none"),
        "consentToTreat": true
    })
}

/// A few intake forms in each state: completed before past visits, started and pending for
/// upcoming ones, and one pending form not tied to an appointment.
fn plan_intake(visits: &[Visit], now: DateTime<Utc>, rng: &mut impl Rng) -> Vec<Intake> {
    let completed: Vec<usize> = (0..visits.len()).filter(|&i| visits[i].status == "completed").collect();
    let upcoming: Vec<usize> =
        (0..visits.len()).filter(|&i| matches!(visits[i].status, "scheduled" | "confirmed")).collect();
    let mut forms = Vec::new();
    for &i in completed.choose_multiple(rng, 4) {
        let v = &visits[i];
        let started = v.starts_at - Duration::hours(rng.gen_range(20..60));
        forms.push(Intake {
            visit: Some(i),
            patient: v.patient,
            form_type: "medical_history",
            status: "completed",
            answers: Some(answers(v, rng)),
            started_at: Some(started),
            completed_at: Some(started + Duration::minutes(rng.gen_range(6..25))),
            created_at: started - Duration::hours(rng.gen_range(2..30)),
        });
    }
    let mut upcoming: Vec<usize> = upcoming.choose_multiple(rng, 6).copied().collect();
    upcoming.sort_unstable();
    for (n, &i) in upcoming.iter().enumerate() {
        let v = &visits[i];
        let created = now - Duration::hours(rng.gen_range(3..72));
        let started = n < 3;
        forms.push(Intake {
            visit: Some(i),
            patient: v.patient,
            form_type: if n % 2 == 0 { "new_patient" } else { "pre_visit_questionnaire" },
            status: if started { "started" } else { "pending" },
            answers: None,
            started_at: started.then(|| created + Duration::minutes(rng.gen_range(10..120))),
            completed_at: None,
            created_at: created,
        });
    }
    if let Some(v) = visits.first() {
        forms.push(Intake {
            visit: None,
            patient: v.patient,
            form_type: "new_patient",
            status: "pending",
            answers: None,
            started_at: None,
            completed_at: None,
            created_at: now - Duration::hours(1),
        });
    }
    forms
}

/// Inserts the intake forms; returns how many of each status.
pub async fn insert_intake_forms(
    conn: &mut PgConnection,
    org: Uuid,
    visits: &[Visit],
    appointment_ids: &[i64],
    patient_ids: &[i64],
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Result<BTreeMap<String, usize>, sqlx::Error> {
    let forms = plan_intake(visits, now, rng);
    sqlx::query!(
        "INSERT INTO intake_forms (organization_id, patient_id, appointment_id, form_type, status, answers, started_at,
                                   completed_at, created_at)
         SELECT $1, pa, ap, ft, st, an, sa, ca, cr
         FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[],
                     $8::timestamptz[], $9::timestamptz[]) AS u(pa, ap, ft, st, an, sa, ca, cr)",
        org,
        &forms.iter().map(|f| patient_ids[f.patient]).collect::<Vec<i64>>(),
        (&forms.iter().map(|f| f.visit.map(|i| appointment_ids[i])).collect::<Vec<Option<i64>>>()) as _,
        &forms.iter().map(|f| f.form_type.to_string()).collect::<Vec<String>>(),
        &forms.iter().map(|f| f.status.to_string()).collect::<Vec<String>>(),
        (&forms.iter().map(|f| f.answers.clone()).collect::<Vec<Option<Value>>>()) as _,
        (&forms.iter().map(|f| f.started_at).collect::<Vec<Option<DateTime<Utc>>>>()) as _,
        (&forms.iter().map(|f| f.completed_at).collect::<Vec<Option<DateTime<Utc>>>>()) as _,
        &forms.iter().map(|f| f.created_at).collect::<Vec<DateTime<Utc>>>(),
    )
    .execute(&mut *conn)
    .await?;
    let mut counts = BTreeMap::new();
    for f in &forms {
        *counts.entry(f.status.to_string()).or_default() += 1;
    }
    Ok(counts)
}
