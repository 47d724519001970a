//! Plans the demo appointments: inside each provider's working hours (computed exactly as
//! availability computes them), never overlapping per provider, past ones completed, cancelled
//! or missed, future ones scheduled, confirmed or cancelled.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::Rng;

use super::scenarios::{self, Scenario, CANCELLATION_REASONS};
use crate::domain::slots::{self, Block, Interval};

/// How far back and ahead the demo schedule reaches.
pub const PAST_DAYS: i64 = 42;
pub const FUTURE_DAYS: i64 = 28;
const VISIT_MINUTES: i64 = 30;
/// The share of working-hour slots that get booked.
const FILL: f64 = 0.3;

pub struct DemoProvider {
    pub id: i64,
    pub specialty: Option<String>,
    pub blocks: Vec<Block>,
}

/// One planned appointment; `status` is final (completed ones get a consultation).
pub struct Visit {
    pub provider_id: i64,
    pub location_id: i64,
    pub patient: usize,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: &'static str,
    pub cancellation_reason: Option<&'static str>,
    pub created_at: DateTime<Utc>,
    pub scenario: &'static Scenario,
}

/// Plans the visits. `busy` holds each provider's existing active appointments, which the plan
/// avoids; `children` marks the patients only the pediatrician sees.
pub fn plan(
    providers: &[DemoProvider],
    children: &[bool],
    busy: &HashMap<i64, Vec<Interval>>,
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Vec<Visit> {
    let from = (now - Duration::days(PAST_DAYS)).date_naive();
    let to = (now + Duration::days(FUTURE_DAYS)).date_naive();
    let length = Duration::minutes(VISIT_MINUTES);
    let ever = DateTime::<Utc>::MIN_UTC;
    let kids: Vec<usize> = (0..children.len()).filter(|&i| children[i]).collect();
    let adults: Vec<usize> = (0..children.len()).filter(|&i| !children[i]).collect();
    // A patient is never in two places at once.
    let mut patient_busy: HashSet<(usize, DateTime<Utc>)> = HashSet::new();
    let mut visits = Vec::new();
    for provider in providers {
        let pool = if provider.specialty.as_deref() == Some("Pediatrics") { &kids } else { &adults };
        let scenarios = scenarios::for_specialty(provider.specialty.as_deref());
        let taken = busy.get(&provider.id).map(Vec::as_slice).unwrap_or(&[]);
        let mut last_end = ever;
        for slot in slots::free_slots(&provider.blocks, from, to, length, ever, taken) {
            let straddles_now = slot.starts_at < now && slot.ends_at > now;
            if straddles_now || slot.starts_at < last_end || !rng.gen_bool(FILL) {
                continue;
            }
            let Some(&patient) = pool.choose(rng) else { continue };
            if !patient_busy.insert((patient, slot.starts_at)) {
                continue;
            }
            last_end = slot.ends_at;
            let past = slot.ends_at <= now;
            let roll: f64 = rng.gen();
            let status = match (past, roll) {
                (true, r) if r < 0.76 => "completed",
                (true, r) if r < 0.88 => "cancelled",
                (true, _) => "no_show",
                (false, r) if r < 0.55 => "scheduled",
                (false, r) if r < 0.90 => "confirmed",
                (false, _) => "cancelled",
            };
            let booked_ahead = Duration::days(rng.gen_range(2..=21)) + Duration::minutes(rng.gen_range(0..600));
            let created_at = if past {
                slot.starts_at - booked_ahead
            } else {
                (now - Duration::minutes(rng.gen_range(5..20_000))).max(slot.starts_at - booked_ahead).min(now)
            };
            visits.push(Visit {
                provider_id: provider.id,
                location_id: slot.location_id,
                patient,
                starts_at: slot.starts_at,
                ends_at: slot.ends_at,
                status,
                cancellation_reason: (status == "cancelled").then(|| *CANCELLATION_REASONS.choose(rng).unwrap_or(&"")),
                created_at,
                scenario: &scenarios[rng.gen_range(0..scenarios.len())],
            });
        }
    }
    visits
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn visits_fit_working_hours_and_never_overlap() {
        let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let block = |d| Block {
            location_id: 7,
            tz,
            weekday: d,
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        };
        let providers = vec![DemoProvider { id: 1, specialty: None, blocks: (1..=5).map(block).collect() }];
        let now: DateTime<Utc> = "2026-03-04T15:10:00Z".parse().unwrap();
        let children = vec![false, true, false, false];
        let visits = plan(&providers, &children, &HashMap::new(), now, &mut StdRng::seed_from_u64(1));
        assert!(visits.len() > 100, "a realistic number of visits: {}", visits.len());
        for pair in visits.windows(2) {
            assert!(pair[0].ends_at <= pair[1].starts_at);
        }
        for v in &visits {
            assert!(!children[v.patient], "adults only outside pediatrics");
            assert!(!(v.starts_at < now && v.ends_at > now), "nothing is in progress");
            if v.ends_at <= now {
                assert!(matches!(v.status, "completed" | "cancelled" | "no_show"), "past: {}", v.status);
            } else {
                assert!(matches!(v.status, "scheduled" | "confirmed" | "cancelled"), "future: {}", v.status);
            }
            assert!(v.created_at <= now);
        }
        assert!(visits.iter().any(|v| v.status == "completed"));
        assert!(visits.iter().any(|v| v.status == "scheduled"));
    }
}
