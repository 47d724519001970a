//! The slot computation, pure: weekly working hours in local time → UTC slots, minus busy time.
//!
//! Rules (documented on the endpoint too):
//! - `from`..=`to` are local dates of each location; a block on weekday `w` applies to every
//!   date in that range whose ISO weekday is `w`.
//! - A block's local start and end become instants in the location's time zone. A local time
//!   skipped by a spring-forward change becomes the instant the clocks jump (02:30 on
//!   2026-03-08 in New York → 03:00 EDT); a local time repeated by a fall-back change means its
//!   first occurrence (01:30 on 2026-11-01 in New York → 01:30 EDT).
//! - Slots start at the block's start and follow each other every `duration`; a slot is offered
//!   when it ends within the block, starts at or after `not_before`, and overlaps no busy
//!   interval.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// One block of weekly working hours at a location.
#[derive(Debug, Clone)]
pub struct Block {
    pub location_id: i64,
    pub tz: Tz,
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub weekday: u32,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// A half-open busy interval `[start, end)`.
pub type Interval = (DateTime<Utc>, DateTime<Utc>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location_id: i64,
}

/// The instant a local wall-clock time denotes in `tz` (see the module rules for gaps and
/// repeats).
pub fn resolve_local(tz: &Tz, local: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // Skipped by a forward change: the first minute that exists is when the clocks jumped.
    // Gaps are an hour or two in practice; a whole skipped day (Pacific/Apia 2011) is the worst.
    let mut probe = local;
    for _ in 0..(48 * 60) {
        probe += Duration::minutes(1);
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    local.and_utc()
}

/// Every slot the blocks offer on the local dates `from..=to`, starting at or after
/// `not_before`, ordered by start and location.
pub fn candidate_slots(
    blocks: &[Block],
    from: NaiveDate,
    to: NaiveDate,
    duration: Duration,
    not_before: DateTime<Utc>,
) -> Vec<Slot> {
    let mut slots = Vec::new();
    if duration <= Duration::zero() {
        return slots;
    }
    for date in from.iter_days().take_while(|d| *d <= to) {
        let weekday = date.weekday().number_from_monday();
        for block in blocks.iter().filter(|b| b.weekday == weekday) {
            let start = resolve_local(&block.tz, date.and_time(block.start));
            let end = resolve_local(&block.tz, date.and_time(block.end));
            let mut at = start;
            while at + duration <= end {
                if at >= not_before {
                    slots.push(Slot { starts_at: at, ends_at: at + duration, location_id: block.location_id });
                }
                at += duration;
            }
        }
    }
    slots.sort();
    slots
}

/// Drops the slots that overlap any busy interval (half-open: touching is not overlapping).
pub fn without_busy(slots: Vec<Slot>, busy: &[Interval]) -> Vec<Slot> {
    let merged = merge(busy);
    slots
        .into_iter()
        .filter(|slot| {
            // The first busy interval that ends after the slot starts is the only one to check.
            let i = merged.partition_point(|&(_, end)| end <= slot.starts_at);
            merged.get(i).is_none_or(|&(start, _)| start >= slot.ends_at)
        })
        .collect()
}

/// Sorted, disjoint busy intervals.
fn merge(busy: &[Interval]) -> Vec<Interval> {
    let mut sorted: Vec<_> = busy.iter().copied().filter(|(s, e)| s < e).collect();
    sorted.sort();
    let mut merged: Vec<Interval> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Free slots: candidates minus busy time.
pub fn free_slots(
    blocks: &[Block],
    from: NaiveDate,
    to: NaiveDate,
    duration: Duration,
    not_before: DateTime<Utc>,
    busy: &[Interval],
) -> Vec<Slot> {
    without_busy(candidate_slots(blocks, from, to, duration, not_before), busy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny() -> Tz {
        "America/New_York".parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn time(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn block(weekday: u32, start: &str, end: &str) -> Block {
        Block { location_id: 1, tz: ny(), weekday, start: time(start), end: time(end) }
    }

    fn weekdays(start: &str, end: &str) -> Vec<Block> {
        (1..=5).map(|d| block(d, start, end)).collect()
    }

    fn past() -> DateTime<Utc> {
        utc("2000-01-01T00:00:00Z")
    }

    fn first_and_last_of_day(slots: &[Slot], day: &str) -> (DateTime<Utc>, DateTime<Utc>) {
        let on: Vec<&Slot> = slots.iter().filter(|s| s.starts_at.to_rfc3339().starts_with(day)).collect();
        (on[0].starts_at, on[on.len() - 1].ends_at)
    }

    #[test]
    fn nine_to_five_stays_local_across_the_march_change() {
        // 2026-03-08 (Sunday) New York springs forward: EST (UTC-5) → EDT (UTC-4).
        let slots = candidate_slots(
            &weekdays("09:00", "17:00"),
            date("2026-03-06"),
            date("2026-03-09"),
            Duration::minutes(60),
            past(),
        );
        assert_eq!(slots.len(), 16, "8 slots on Friday and 8 on Monday, none on the weekend");
        assert_eq!(
            first_and_last_of_day(&slots, "2026-03-06"),
            (utc("2026-03-06T14:00:00Z"), utc("2026-03-06T22:00:00Z"))
        );
        assert_eq!(
            first_and_last_of_day(&slots, "2026-03-09"),
            (utc("2026-03-09T13:00:00Z"), utc("2026-03-09T21:00:00Z"))
        );
    }

    #[test]
    fn nine_to_five_stays_local_across_the_november_change() {
        // 2026-11-01 (Sunday) New York falls back: EDT (UTC-4) → EST (UTC-5).
        let slots = candidate_slots(
            &weekdays("09:00", "17:00"),
            date("2026-10-30"),
            date("2026-11-02"),
            Duration::minutes(30),
            past(),
        );
        assert_eq!(slots.len(), 32);
        assert_eq!(
            first_and_last_of_day(&slots, "2026-10-30"),
            (utc("2026-10-30T13:00:00Z"), utc("2026-10-30T21:00:00Z"))
        );
        assert_eq!(
            first_and_last_of_day(&slots, "2026-11-02"),
            (utc("2026-11-02T14:00:00Z"), utc("2026-11-02T22:00:00Z"))
        );
    }

    #[test]
    fn a_block_across_the_spring_gap_is_an_hour_shorter() {
        // Sunday 00:00–04:00 local on the change day is 00:00 EST → 04:00 EDT: three real hours.
        let slots = candidate_slots(
            &[block(7, "00:00", "04:00")],
            date("2026-03-08"),
            date("2026-03-08"),
            Duration::minutes(60),
            past(),
        );
        let starts: Vec<_> = slots.iter().map(|s| s.starts_at).collect();
        assert_eq!(starts, vec![utc("2026-03-08T05:00:00Z"), utc("2026-03-08T06:00:00Z"), utc("2026-03-08T07:00:00Z")]);
        assert_eq!(slots[2].ends_at, utc("2026-03-08T08:00:00Z"));
    }

    #[test]
    fn a_block_across_the_autumn_repeat_is_an_hour_longer() {
        // Sunday 00:00–04:00 local is 00:00 EDT → 04:00 EST: five real hours.
        let slots = candidate_slots(
            &[block(7, "00:00", "04:00")],
            date("2026-11-01"),
            date("2026-11-01"),
            Duration::minutes(60),
            past(),
        );
        assert_eq!(slots.len(), 5);
        assert_eq!(slots[0].starts_at, utc("2026-11-01T04:00:00Z"));
        assert_eq!(slots[4].ends_at, utc("2026-11-01T09:00:00Z"));
    }

    #[test]
    fn nonexistent_and_ambiguous_local_times() {
        let tz = ny();
        let gap = date("2026-03-08").and_time(time("02:30"));
        assert_eq!(resolve_local(&tz, gap), utc("2026-03-08T07:00:00Z"), "moved to the jump, 03:00 EDT");
        let repeated = date("2026-11-01").and_time(time("01:30"));
        assert_eq!(resolve_local(&tz, repeated), utc("2026-11-01T05:30:00Z"), "first occurrence, EDT");
        // A block entirely inside the gap offers nothing.
        let none = candidate_slots(
            &[block(7, "02:00", "02:45")],
            date("2026-03-08"),
            date("2026-03-08"),
            Duration::minutes(15),
            past(),
        );
        assert!(none.is_empty());
        // A block starting in the gap starts at the jump.
        let late = candidate_slots(
            &[block(7, "02:30", "04:00")],
            date("2026-03-08"),
            date("2026-03-08"),
            Duration::minutes(30),
            past(),
        );
        assert_eq!(late.first().map(|s| s.starts_at), Some(utc("2026-03-08T07:00:00Z")));
        assert_eq!(late.len(), 2);
    }

    #[test]
    fn slots_step_from_the_block_start_and_must_fit() {
        let slots = candidate_slots(
            &[block(1, "09:00", "10:40")],
            date("2026-06-01"),
            date("2026-06-01"),
            Duration::minutes(45),
            past(),
        );
        let starts: Vec<_> = slots.iter().map(|s| s.starts_at).collect();
        // 09:00, 09:45; 10:30 would end at 11:15, after 10:40.
        assert_eq!(starts, vec![utc("2026-06-01T13:00:00Z"), utc("2026-06-01T13:45:00Z")]);
    }

    #[test]
    fn past_slots_are_excluded() {
        let now = utc("2026-06-01T14:10:00Z"); // 10:10 EDT
        let slots = candidate_slots(
            &[block(1, "09:00", "12:00")],
            date("2026-06-01"),
            date("2026-06-01"),
            Duration::minutes(30),
            now,
        );
        assert_eq!(slots.first().map(|s| s.starts_at), Some(utc("2026-06-01T14:30:00Z")));
        assert_eq!(slots.len(), 3);
    }

    #[test]
    fn locations_in_different_zones_are_merged_in_time_order() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let blocks = vec![
            Block { location_id: 2, tz: la, weekday: 1, start: time("09:00"), end: time("10:00") },
            Block { location_id: 1, tz: ny(), weekday: 1, start: time("09:00"), end: time("10:00") },
        ];
        let slots = candidate_slots(&blocks, date("2026-06-01"), date("2026-06-01"), Duration::minutes(60), past());
        assert_eq!(
            slots,
            vec![
                Slot { starts_at: utc("2026-06-01T13:00:00Z"), ends_at: utc("2026-06-01T14:00:00Z"), location_id: 1 },
                Slot { starts_at: utc("2026-06-01T16:00:00Z"), ends_at: utc("2026-06-01T17:00:00Z"), location_id: 2 },
            ]
        );
    }

    #[test]
    fn busy_time_removes_overlapping_slots_only() {
        let slots = candidate_slots(
            &[block(1, "09:00", "12:00")],
            date("2026-06-01"),
            date("2026-06-01"),
            Duration::minutes(30),
            past(),
        );
        assert_eq!(slots.len(), 6);
        let busy = [
            // 09:10–09:40 blocks 09:00 and 09:30.
            (utc("2026-06-01T13:10:00Z"), utc("2026-06-01T13:40:00Z")),
            // 11:00–11:30 blocks exactly 11:00; touching neighbours stay free.
            (utc("2026-06-01T15:00:00Z"), utc("2026-06-01T15:30:00Z")),
            // Overlapping busy intervals are merged.
            (utc("2026-06-01T15:20:00Z"), utc("2026-06-01T15:25:00Z")),
        ];
        let free: Vec<_> = without_busy(slots, &busy).iter().map(|s| s.starts_at).collect();
        assert_eq!(free, vec![utc("2026-06-01T14:00:00Z"), utc("2026-06-01T14:30:00Z"), utc("2026-06-01T15:30:00Z")]);
    }

    #[test]
    fn free_slots_combines_both() {
        let busy = [(utc("2026-06-01T13:00:00Z"), utc("2026-06-01T14:00:00Z"))];
        let free = free_slots(
            &[block(1, "09:00", "11:00")],
            date("2026-06-01"),
            date("2026-06-01"),
            Duration::minutes(60),
            past(),
            &busy,
        );
        assert_eq!(free.len(), 1);
        assert_eq!(free[0].starts_at, utc("2026-06-01T14:00:00Z"));
    }
}
