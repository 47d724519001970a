//! The demo visits' SOAP notes, in every state of their lifecycle: most signed by their author
//! when written, the latest still a draft awaiting signature, and one amended after signing (two
//! versions). They are written without an API key, so no version names one.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::visits::Visit;

/// One note to write: its consultation, its author, its visit and when it was written.
pub struct PlannedNote {
    pub consultation_id: i64,
    pub author_provider_id: i64,
    pub visit: usize,
    pub written_at: DateTime<Utc>,
}

const AMENDMENT_REASON: &str = "Added the follow-up call arranged after the visit.";
const AMENDED_PLAN: &str = "Follow-up phone call in 48 hours to review symptoms.";

/// Writes the notes; returns how many are in each state (`draft`, `signed`, `amended`).
pub async fn insert(
    conn: &mut PgConnection,
    org: Uuid,
    visits: &[Visit],
    notes: &[PlannedNote],
) -> Result<BTreeMap<String, usize>, sqlx::Error> {
    let rows = sqlx::query!(
        "INSERT INTO soap_notes (organization_id, consultation_id, author_provider_id, created_at)
         SELECT $1, c, a, t FROM UNNEST($2::bigint[], $3::bigint[], $4::timestamptz[]) AS u(c, a, t)
         RETURNING id, consultation_id",
        org,
        &notes.iter().map(|n| n.consultation_id).collect::<Vec<i64>>(),
        &notes.iter().map(|n| n.author_provider_id).collect::<Vec<i64>>(),
        &notes.iter().map(|n| n.written_at).collect::<Vec<DateTime<Utc>>>(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let id_of: HashMap<i64, i64> = rows.into_iter().map(|r| (r.consultation_id, r.id)).collect();
    let ids: Vec<i64> = notes.iter().map(|n| id_of.get(&n.consultation_id).copied().unwrap_or_default()).collect();

    // The latest visit's note awaits its signature; the one before it was amended.
    let mut by_time: Vec<usize> = (0..notes.len()).collect();
    by_time.sort_by_key(|&i| notes[i].written_at);
    let draft = by_time.last().copied();
    let amended = by_time.len().checked_sub(2).map(|i| by_time[i]);

    let text = |f: fn(&Visit) -> &'static str| notes.iter().map(|n| f(&visits[n.visit]).to_string()).collect();
    let subjective: Vec<String> = text(|v| v.scenario.subjective);
    let objective: Vec<String> = text(|v| v.scenario.objective);
    let assessment: Vec<String> = text(|v| v.scenario.assessment);
    let plan: Vec<String> = text(|v| v.scenario.plan);
    let signed: Vec<bool> = (0..notes.len()).map(|i| Some(i) != draft).collect();
    sqlx::query!(
        "INSERT INTO soap_note_versions (organization_id, note_id, version, subjective, objective, assessment, plan,
                                         status, signed_by_provider_id, signed_at, created_at, updated_at)
         SELECT $1, n, 1, s, o, x, p, CASE WHEN sg THEN 'signed' ELSE 'draft' END,
                CASE WHEN sg THEN a END, CASE WHEN sg THEN t END, t, t
         FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::bigint[],
                     $9::timestamptz[]) AS u(n, s, o, x, p, sg, a, t)",
        org,
        &ids,
        &subjective,
        &objective,
        &assessment,
        &plan,
        &signed,
        &notes.iter().map(|n| n.author_provider_id).collect::<Vec<i64>>(),
        &notes.iter().map(|n| n.written_at).collect::<Vec<DateTime<Utc>>>(),
    )
    .execute(&mut *conn)
    .await?;
    if let Some(i) = amended {
        let at = notes[i].written_at + Duration::hours(20);
        sqlx::query!(
            "INSERT INTO soap_note_versions (organization_id, note_id, version, subjective, objective, assessment,
                                             plan, status, signed_by_provider_id, signed_at, amendment_reason,
                                             created_at, updated_at)
             VALUES ($1, $2, 2, $3, $4, $5, $6, 'signed', $7, $8, $9, $8, $8)",
            org,
            ids[i],
            subjective[i],
            objective[i],
            assessment[i],
            format!("{} {AMENDED_PLAN}", plan[i]),
            notes[i].author_provider_id,
            at,
            AMENDMENT_REASON
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!("UPDATE soap_notes SET current_version = 2 WHERE id = $1", ids[i]).execute(&mut *conn).await?;
    }
    let mut states = BTreeMap::new();
    for i in 0..notes.len() {
        let state = if Some(i) == draft {
            "draft"
        } else if Some(i) == amended {
            "amended"
        } else {
            "signed"
        };
        *states.entry(state.to_string()).or_default() += 1;
    }
    Ok(states)
}
