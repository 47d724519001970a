//! The audit log's partitions and its retention (migration 0082 explains the layout): each
//! calendar month (UTC) writes its entries into its own range of ids, one partition each.
//! [`maintain`] runs hourly in every `klinivo serve` (`crate::background`):
//!
//! 1. it prepares this month's and next month's partitions (created empty, then attached, which
//!    takes no lock that stops reads or writes of the log);
//! 2. once a month has begun, it moves the id sequence into that month's range;
//! 3. it detaches and drops each partition whose every entry is older than the retention
//!    (`KLINIVO_AUDIT_RETENTION_DAYS`): one whose range stopped being written before
//!    `now − retention`. Detaching is `CONCURRENTLY` (readers and writers go on), so no row is
//!    ever deleted and nothing is left to vacuum.
//!
//! Replicas take turns through an advisory lock; what one run leaves half done (a detach
//! interrupted by a restart) the next one finishes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use sqlx::{PgConnection, PgPool};

/// Ids per month: 2^40, so that (months since 1970) × 2^40 stays below 2^53 until the year 2652.
pub const SPAN: i64 = 1 << 40;
/// The default retention: six years, as HIPAA keeps its required documentation.
pub const DEFAULT_RETENTION_DAYS: u32 = 2192;

/// `pg_advisory_lock` key of the maintenance ("audit" in ASCII).
const LOCK: i64 = 0x6175_6469_74;

/// Months since January 1970 (UTC) of `t`.
pub fn month_of(t: DateTime<Utc>) -> i64 {
    (i64::from(t.year()) - 1970) * 12 + i64::from(t.month0())
}

/// The first instant of month `m`.
pub fn month_start(m: i64) -> DateTime<Utc> {
    let year = i32::try_from(1970 + m.div_euclid(12)).unwrap_or(9999);
    let month = u32::try_from(m.rem_euclid(12) + 1).unwrap_or(1);
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().unwrap_or(DateTime::UNIX_EPOCH)
}

/// The partition of month `m`: `audit_events_2026_12`.
pub fn partition_name(m: i64) -> String {
    format!("audit_events_{:04}_{:02}", 1970 + m.div_euclid(12), m.rem_euclid(12) + 1)
}

/// What one [`maintain`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Maintained {
    /// Partitions created and attached.
    pub prepared: Vec<String>,
    /// The partition the id sequence moved into, if it moved.
    pub opened: Option<String>,
    /// Partitions detached and dropped by retention.
    pub dropped: Vec<String>,
    /// False when another server held the maintenance lock and this run did nothing.
    pub ran: bool,
}

/// Prepares, opens and retires partitions as of `now`, keeping `retention` of entries.
pub async fn maintain(db: &PgPool, now: DateTime<Utc>, retention: Duration) -> Result<Maintained, sqlx::Error> {
    let mut conn = db.acquire().await?;
    // A session lock: detaching concurrently cannot run inside a transaction.
    if !sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "locked!""#, LOCK).fetch_one(&mut *conn).await? {
        return Ok(Maintained::default());
    }
    let done = maintain_locked(&mut conn, now, retention).await;
    let unlocked = sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", LOCK).fetch_one(&mut *conn).await;
    if unlocked.is_err() {
        // A connection that may still hold the lock must not go back to the pool.
        conn.detach();
    }
    done
}

async fn maintain_locked(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    retention: Duration,
) -> Result<Maintained, sqlx::Error> {
    let mut done = Maintained { ran: true, ..Maintained::default() };
    // DDL waits for its lock at most this long (and then fails, to be retried in an hour), so
    // that it never holds up the log's writers queued behind it.
    sqlx::query("SET lock_timeout = '5s'").execute(&mut *conn).await?;
    let current = month_of(now);
    for m in [current, current + 1] {
        if prepare(conn, m).await? {
            done.prepared.push(partition_name(m));
        }
    }
    if open(conn, current, now).await? {
        done.opened = Some(partition_name(current));
    }
    for name in expired(conn, now - retention).await? {
        retire(conn, &name).await?;
        done.dropped.push(name);
    }
    sqlx::query("RESET lock_timeout").execute(&mut *conn).await?;
    Ok(done)
}

/// Creates and attaches month `m`'s partition unless it exists; true when it did. Created apart
/// and then attached: `CREATE TABLE … PARTITION OF` would lock the whole log against reads and
/// writes, `ATTACH PARTITION` takes a lock that lets both go on.
pub async fn prepare(conn: &mut PgConnection, m: i64) -> Result<bool, sqlx::Error> {
    let name = partition_name(m);
    let known = sqlx::query_scalar!("SELECT 1 AS one FROM audit_event_partitions WHERE name = $1", name)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if known {
        return Ok(false);
    }
    let first = m * SPAN;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {name} (LIKE audit_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "ALTER TABLE audit_events ATTACH PARTITION {name} FOR VALUES FROM ({first}) TO ({})",
        first + SPAN
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query!("INSERT INTO audit_event_partitions (name, first_id) VALUES ($1, $2)", name, first)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Moves the id sequence into month `m`'s range once, if it is behind it; true when it moved.
/// Entries whose ids were drawn before the move still go to the month before, so that every
/// entry of a partition is older than the moment the next one was opened.
async fn open(conn: &mut PgConnection, m: i64, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let name = partition_name(m);
    let first = m * SPAN;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let pending = sqlx::query_scalar!(
        "SELECT 1 AS one FROM audit_event_partitions WHERE name = $1 AND opened_at IS NULL FOR UPDATE",
        name
    )
    .fetch_optional(&mut *tx)
    .await?
    .is_some();
    if !pending {
        return Ok(false);
    }
    // `setval` is not transactional: should the commit below fail, the next run finds the
    // sequence moved and only records it (later than it happened, which keeps entries longer,
    // never shorter).
    sqlx::query!(
        "SELECT setval('audit_events_id_seq', $1, false) FROM audit_events_id_seq
         WHERE last_value < $1",
        first
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query!("UPDATE audit_event_partitions SET opened_at = $2 WHERE name = $1", name, now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Partitions whose entries are all older than `cutoff`: those whose successor was opened
/// before it. The partition being written always has none, so it is never among them.
async fn expired(conn: &mut PgConnection, cutoff: DateTime<Utc>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT p.name AS "name!" FROM audit_event_partitions p
           WHERE (SELECT min(n.opened_at) FROM audit_event_partitions n WHERE n.first_id > p.first_id) < $1
           ORDER BY p.first_id"#,
        cutoff
    )
    .fetch_all(&mut *conn)
    .await
}

/// Detaches and drops one partition, finishing a detach an earlier run began.
async fn retire(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    let attached = sqlx::query!(
        r#"SELECT i.inhdetachpending AS "pending!"
           FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
           WHERE c.relname = $1 AND i.inhparent = 'audit_events'::regclass"#,
        name
    )
    .fetch_optional(&mut *conn)
    .await?;
    match attached {
        Some(r) if r.pending => {
            sqlx::query(&format!("ALTER TABLE audit_events DETACH PARTITION {name} FINALIZE"))
                .execute(&mut *conn)
                .await?;
        }
        Some(_) => {
            sqlx::query(&format!("ALTER TABLE audit_events DETACH PARTITION {name} CONCURRENTLY"))
                .execute(&mut *conn)
                .await?;
        }
        None => {}
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query(&format!("DROP TABLE IF EXISTS {name}")).execute(&mut *tx).await?;
    sqlx::query!("DELETE FROM audit_event_partitions WHERE name = $1", name).execute(&mut *tx).await?;
    tx.commit().await
}

/// How long a process uses the partitions it read before reading them again.
const KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// One partition of the log: its name and the first id of its range (the lowest id there is
/// for the first partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub first_id: i64,
    pub name: String,
}

/// Which database a process read the partitions of: the partitions are kept per database, as
/// one process may serve several (the tests do), and a statement that names partitions must
/// name its own database's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Log(String);

impl Log {
    pub fn of(db: &PgPool) -> Log {
        let o = db.connect_options();
        Log(format!("{}:{}/{}", o.get_host(), o.get_port(), o.get_database().unwrap_or_default()))
    }
}

/// Databases whose partitions a process keeps at most; more, and it forgets them all.
const LOGS_KEPT: usize = 64;

/// The partitions as this process last read them, per database, and when.
static KNOWN: Mutex<Option<HashMap<Log, (Instant, Arc<[Partition]>)>>> = Mutex::new(None);

/// The partitions, oldest first, read once a minute per process rather than for every page
/// (a round trip of a page's two or three); `fresh` reads them now.
async fn partitions(conn: &mut PgConnection, log: &Log, fresh: bool) -> Result<Arc<[Partition]>, sqlx::Error> {
    let kept = KNOWN.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(|k| k.get(log).cloned());
    if let Some((_, known)) = kept.filter(|(read, _)| !fresh && read.elapsed() < KEPT) {
        return Ok(known);
    }
    let known: Arc<[Partition]> =
        sqlx::query_as!(Partition, "SELECT first_id, name FROM audit_event_partitions ORDER BY first_id")
            .fetch_all(&mut *conn)
            .await?
            .into();
    let mut all = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    let all = all.get_or_insert_with(HashMap::new);
    if all.len() >= LOGS_KEPT {
        all.clear();
    }
    all.insert(log.clone(), (Instant::now(), known.clone()));
    Ok(known)
}

/// Forgets the partitions read, so that the next read of them asks the database: after a
/// statement named one that retention has dropped since.
pub fn forget(log: &Log) {
    if let Some(all) = KNOWN.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        all.remove(log);
    }
}

/// The partitions a read of the log above id `after` goes through, oldest first, to be read a
/// window at a time ([`Windows`]). A read planned for one window is planned over its partitions
/// alone (`domain::audit_log`).
///
/// Any list of partitions reads the whole log in order, because the windows cover every id: the
/// first begins at the lowest id there can be and the last ends at the highest. A list read
/// before a month's partition was attached or dropped, or of another database, only sizes the
/// windows less well.
pub async fn read_windows(conn: &mut PgConnection, log: &Log, after: i64) -> Result<Windows, sqlx::Error> {
    let known = partitions(conn, log, false).await?;
    let starts: Vec<i64> = known.iter().map(|p| p.first_id).collect();
    Ok(Windows::new(&starts, after))
}

/// The names of the partitions that hold the ids in `(after, last]`, oldest first, for a
/// statement that names them rather than the log (`domain::audit_log`). `last` must be an id the
/// log holds: it then lies in a partition that was attached when it was written, and a list
/// whose newest partition could hold it (the one month without a successor in the list) is
/// read again first, so that a month attached since is not missed. A partition dropped since
/// the list was read makes the statement fail; [`forget`] then.
pub async fn holding(conn: &mut PgConnection, log: &Log, after: i64, last: i64) -> Result<Vec<String>, sqlx::Error> {
    let mut known = partitions(&mut *conn, log, false).await?;
    if known.last().is_none_or(|p| p.first_id <= last) {
        known = partitions(&mut *conn, log, true).await?;
    }
    Ok(ranges_holding(&known, after, last))
}

/// [`holding`] on a list of partitions.
fn ranges_holding(known: &[Partition], after: i64, last: i64) -> Vec<String> {
    if after >= last {
        return Vec::new();
    }
    let ends = known.iter().skip(1).map(|p| p.first_id).chain(std::iter::once(i64::MAX));
    known
        .iter()
        .zip(ends)
        .filter(|(p, end)| *end > after.saturating_add(1) && p.first_id <= last)
        .map(|(p, _)| p.name.clone())
        .collect()
}

/// The id ranges of a read, a window of partitions at a time: one partition at first; then, each
/// time, as many as the page still needs at the rate the partitions read so far held rows, but
/// at least twice and at most four times as many as the last window. A record named in every
/// month fills a page of 50 in two statements rather than three (bench/README.md, "Cost as the
/// log grows"); a record found nowhere yet reaches the whole log in a few.
pub struct Windows {
    /// Each partition's id range, from the one holding `after` on.
    ranges: Vec<(i64, i64)>,
    next: usize,
    width: usize,
    found: usize,
}

impl Windows {
    /// For the partitions starting at `starts` (ascending; the first runs from the lowest id,
    /// each to the next one's start, the last to the highest id) and ids above `after`.
    pub fn new(starts: &[i64], after: i64) -> Self {
        let ends = starts.iter().skip(1).copied().chain(std::iter::once(i64::MAX));
        let starts = starts.iter().enumerate().map(|(i, &start)| if i == 0 { i64::MIN } else { start });
        let ranges = starts.zip(ends).filter(|&(_, end)| end > after).collect();
        Windows { ranges, next: 0, width: 0, found: 0 }
    }

    /// The next window's id range, for a page that still wants `wanted` rows, after the last
    /// window gave `found` of them; `None` once every partition is read.
    pub fn next(&mut self, found: usize, wanted: usize) -> Option<(i64, i64)> {
        if self.next >= self.ranges.len() {
            return None;
        }
        self.found += found;
        self.width = if self.width == 0 {
            1
        } else if self.found == 0 {
            self.width * 2
        } else {
            // At most four times the last: a record the first months barely name may fill
            // the later ones, and a window reads all of the record's entries in it.
            wanted.saturating_mul(self.next).div_ceil(self.found).clamp(self.width * 2, self.width * 4)
        };
        let i = self.next;
        let j = (i + self.width).min(self.ranges.len());
        self.next = j;
        Some((self.ranges[i].0, self.ranges[j - 1].1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_name_their_partitions_and_ranges() {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
        assert_eq!(month_of(t), 683);
        assert_eq!(partition_name(683), "audit_events_2026_12");
        assert_eq!(partition_name(684), "audit_events_2027_01");
        assert_eq!(month_start(684), Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(month_of(month_start(684)), 684);
        // What migration 0082 computed for its first partition.
        assert_eq!(683 * SPAN, 750_966_441_771_008);
        // Ids stay exact as JSON numbers (below 2^53) for six centuries.
        assert!(month_of(Utc.with_ymd_and_hms(2600, 12, 1, 0, 0, 0).unwrap()) * SPAN + SPAN < 1 << 53);
    }

    /// Every window of a read where each window gives `found(window)` rows and the page wants
    /// `page` in all.
    fn read(starts: &[i64], after: i64, page: usize, found: impl Fn((i64, i64)) -> usize) -> Vec<(i64, i64)> {
        let mut windows = Windows::new(starts, after);
        let (mut out, mut last, mut have) = (Vec::new(), 0, 0);
        while have < page {
            let Some(w) = windows.next(last, page - have) else { break };
            out.push(w);
            last = found(w).min(page - have);
            have += last;
        }
        out
    }

    #[test]
    fn a_range_of_ids_is_held_by_the_partitions_it_overlaps() {
        let known: Vec<Partition> = [(i64::MIN, "initial"), (100, "a"), (200, "b"), (300, "c")]
            .into_iter()
            .map(|(first_id, name)| Partition { first_id, name: name.into() })
            .collect();
        assert_eq!(ranges_holding(&known, 0, 150), vec!["initial", "a"]);
        assert_eq!(ranges_holding(&known, 99, 150), vec!["a"]);
        assert_eq!(ranges_holding(&known, 98, 100), vec!["initial", "a"]);
        assert_eq!(ranges_holding(&known, 150, 250), vec!["a", "b"]);
        assert_eq!(ranges_holding(&known, 150, 200), vec!["a", "b"]);
        assert_eq!(ranges_holding(&known, 199, 250), vec!["b"]);
        assert_eq!(ranges_holding(&known, 250, 5000), vec!["b", "c"]);
        assert_eq!(ranges_holding(&known, i64::MIN, i64::MAX), vec!["initial", "a", "b", "c"]);
        assert!(ranges_holding(&known, 150, 120).is_empty());
    }

    #[test]
    fn windows_double_and_start_at_the_cursor() {
        let starts = [i64::MIN, 100, 200, 300, 400, 500];
        assert_eq!(read(&starts, 0, 50, |_| 0), vec![(i64::MIN, 100), (100, 300), (300, i64::MAX)]);
        // A cursor inside the third partition skips the two before it.
        assert_eq!(read(&starts, 250, 50, |_| 0), vec![(200, 300), (300, 500), (500, i64::MAX)]);
        assert_eq!(read(&starts, i64::MAX - 1, 50, |_| 0), vec![(500, i64::MAX)]);
        assert!(read(&[], 0, 50, |_| 0).is_empty());
        // Starts read before older months were attached still reach every id.
        assert_eq!(read(&[500], -1, 50, |_| 0), vec![(i64::MIN, i64::MAX)]);
    }

    #[test]
    fn windows_grow_to_what_the_page_still_needs() {
        let starts: Vec<i64> = (0..12).map(|m| m * 100).collect();
        // 12 rows a month: the first month gives 12, and the next window takes the four months
        // that hold the other 38 at that rate, not two.
        let months = |(lo, hi): (i64, i64)| ((hi.min(1200) - lo.max(0)) / 100) as usize * 12;
        assert_eq!(read(&starts, -1, 50, months), vec![(i64::MIN, 100), (100, 500)]);
        // A page the first month fills is one statement.
        assert_eq!(read(&starts, -1, 10, months), vec![(i64::MIN, 100)]);
        // Sparse: one row in the first month; windows of four, then the rest.
        let sparse = |(lo, _): (i64, i64)| usize::from(lo == i64::MIN);
        assert_eq!(read(&starts, -1, 50, sparse), vec![(i64::MIN, 100), (100, 500), (500, i64::MAX)]);
    }
}
