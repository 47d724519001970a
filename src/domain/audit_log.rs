//! The organization's access audit log, as read back: who (key prefix) read, listed, changed or
//! was denied which clinical record, when, from where, with which outcome. Entries are written
//! by `crate::audit::sink`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Error, Page, PageRequest, Result};
use crate::audit::partitions::Log;
use crate::audit::RecordType;
use crate::db::direct::DirectPool;

/// One access to a record: who (key prefix, or console user), what, when, from where, with which
/// outcome.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The API key that made the request; `null` for a console action.
    #[schema(example = "kv_abc12345")]
    pub key_prefix: Option<String>,
    /// (ext) The console user who acted, by id; `null` for a request made with an API key.
    pub user_id: Option<i64>,
    #[schema(value_type = AuditAction, example = "read")]
    pub action: String,
    #[schema(value_type = RecordType, example = "patient")]
    pub resource_type: String,
    /// The record the request named or created: the one read, changed or denied. `null` for a
    /// list, and for the entries of records a response embedded; those are in `resourceIds`.
    pub resource_id: Option<i64>,
    /// (ext) The records of this type the response showed besides `resourceId`, in the order
    /// shown: for a `list`, every record of the page (empty for an empty page); for a `read` (or
    /// `list`) of records embedded in another response, those records (a consultation's SOAP
    /// notes and prescriptions, the records in the event log's `data`). `null` when the response
    /// showed no other, and for lists audited by earlier versions, which wrote one `list` entry
    /// per record, in `resourceId`.
    pub resource_ids: Option<Vec<i64>>,
    /// The HTTP status of the response.
    #[schema(example = 200)]
    pub status: i16,
    pub request_id: String,
    #[schema(example = "203.0.113.7")]
    pub client_address: Option<String>,
    /// (ext) The request's method and route template, never its concrete path or query: tells an
    /// entry of a record seen in the event log (`GET /api/v1/events`) or inside another record
    /// (`GET /api/v1/consultations/{id}`) from a direct read. `null` for entries written by
    /// earlier versions.
    #[schema(example = "GET /api/v1/consultations/{id}")]
    pub route: Option<String>,
}

/// What was done: `denied` is a request refused for lack of permission.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Read,
    List,
    Create,
    Update,
    Transition,
    Denied,
}

/// Which entries a list shows; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub resource_type: Option<RecordType>,
    /// Entries about this record: those that read, changed or denied it, the lists that
    /// returned it, and the responses that showed it inside another record or in the event log.
    pub resource_id: Option<i64>,
    pub key_prefix: Option<String>,
    /// Console actions of this user.
    pub user_id: Option<i64>,
    /// Entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub to: Option<DateTime<Utc>>,
}

impl ListFilter {
    /// The record type a filter names (`resourceType`), or why it names none.
    pub fn parse_resource_type(name: &str) -> Result<RecordType> {
        RecordType::ALL.into_iter().find(|r| r.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = RecordType::ALL.iter().map(|r| r.as_str()).collect();
            Error::invalid("resourceType", format!("must be one of {}", names.join(", ")))
        })
    }
}

/// The organization's entries, oldest first (by id).
///
/// A record's trail (`resourceId`) is read on `generic_reads` ([`crate::db::generic_reads`])
/// when the record's own entries fill the page ([`record_trail`]); every other list, on a
/// planned read of `db` ([`crate::db::planned_read`]) a window of partitions at a time
/// ([`windowed`]).
pub async fn list(
    db: &PgPool,
    generic_reads: &DirectPool,
    org: Uuid,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Page<AuditEvent>> {
    let log = Log::of(db);
    if let Some(record) = filter.resource_id {
        let mut read = generic_reads.acquire().await?;
        let trail = record_trail(&mut read, &log, org, record, filter, page).await;
        if let Some(rows) = read.finish(trail)? {
            return Ok(page.finish(rows, |e| (e.id, e.at)));
        }
    }
    let mut read = crate::db::planned_read(db).await?;
    let rows = windowed(&mut read, &log, org, filter, page).await?;
    Ok(page.finish(rows, |e| (e.id, e.at)))
}

/// A page of a record's trail in two statements on their generic plans, never planned per
/// request, however many partitions the log has; `None` when the record's own entries do not
/// fill the page.
///
/// 1. The entries that name the record as their own (`resource_id`), in id order: an ordered
///    walk of each month's `audit_events_record` index, the months one after another, that
///    stops when the page is full. The page cannot reach past the last of them.
/// 2. The lists and embeddings that name it (`resource_ids`), up to that entry: the GIN index
///    of the months from the cursor's to that entry's only ([`listed_in`]), every match of
///    those months sorted, then cut.
///
/// Merged, they are the page. A record with fewer entries of its own than the page is rarer in
/// the log's months, and it is read a window at a time ([`windowed`]); so is any list without
/// `resourceId`. Each statement reads on its own snapshot, which shows no more and no less than
/// one: the log is read by id, and an entry that commits after a page was read, with an id
/// below the page's last, is on no page in either case. Measured: bench/README.md, "Cost as
/// the log grows".
async fn record_trail(
    conn: &mut PgConnection,
    log: &Log,
    org: Uuid,
    record: i64,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Option<Vec<AuditEvent>>> {
    let want = page.fetch();
    let resource_type = filter.resource_type.map(RecordType::as_str);
    let own = sqlx::query_as!(
        AuditEvent,
        "SELECT id, at, key_prefix, user_id, action, resource_type, resource_id, resource_ids, status, request_id,
                client_address, route
         FROM audit_events
         WHERE organization_id = $1 AND resource_id = $2 AND id > $3
           AND ($4::text IS NULL OR resource_type = $4)
           AND ($5::text IS NULL OR key_prefix = $5)
           AND ($6::timestamptz IS NULL OR at >= $6)
           AND ($7::timestamptz IS NULL OR at < $7)
           AND ($8::bigint IS NULL OR user_id = $8)
         ORDER BY id LIMIT $9",
        org,
        record,
        page.after_id,
        resource_type,
        filter.key_prefix,
        filter.from,
        filter.to,
        filter.user_id,
        want,
    )
    .fetch_all(&mut *conn)
    .await?;
    let Some(last) = own.last().filter(|_| own.len() as i64 == want) else {
        return Ok(None);
    };
    let months = crate::audit::partitions::holding(&mut *conn, log, page.after_id, last.id).await?;
    if months.is_empty() {
        return Ok(None);
    }
    let listed = sqlx::query_as::<_, AuditEvent>(&listed_in(&months))
        .bind(org)
        .bind(record)
        .bind(page.after_id)
        .bind(resource_type)
        .bind(&filter.key_prefix)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.user_id)
        .bind(want)
        .fetch_all(&mut *conn)
        .await;
    let listed = match listed {
        Ok(listed) => listed,
        // A month that retention dropped after this process last read the partitions.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNDEFINED_TABLE) => {
            crate::audit::partitions::forget(log);
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Some(merge(own, listed, want as usize)))
}

/// SQLSTATE `undefined_table`.
const UNDEFINED_TABLE: &str = "42P01";

/// The statement of a trail's lists and embeddings in `months` (partitions, by name): one
/// index search in each, every match sorted, the first of them kept.
///
/// It names the months rather than the log: over the log, a generic plan cannot tell how few
/// entries name a record, so it intersects the search with the primary key's range of ids above
/// the cursor, reading the whole month's key for every page. Named, each month is searched
/// through its index alone, and the cursor (`id + 0`) only filters the few matches
/// (bench/README.md, "Cost as the log grows"). Not checked at build time, as its text
/// depends on the months; its columns are the first statement's.
fn listed_in(months: &[String]) -> String {
    let one = |name: &String| {
        format!(
            "SELECT id, at, key_prefix, user_id, action, resource_type, resource_id, resource_ids, status,
                    request_id, client_address, route
             FROM {name}
             WHERE organization_id = $1 AND resource_ids @> ARRAY[$2::bigint] AND id + 0 > $3
               AND ($4::text IS NULL OR resource_type = $4)
               AND ($5::text IS NULL OR key_prefix = $5)
               AND ($6::timestamptz IS NULL OR at >= $6)
               AND ($7::timestamptz IS NULL OR at < $7)
               AND ($8::bigint IS NULL OR user_id = $8)"
        )
    };
    let months: Vec<String> = months.iter().map(one).collect();
    format!("SELECT * FROM ({}) e ORDER BY id LIMIT $9", months.join(" UNION ALL "))
}

/// The first `n` of two lists in ascending id order, merged; an entry in both (a record that
/// is its own `resource_id` and, as a record of another type with the same id, in its
/// `resource_ids`) once.
fn merge(a: Vec<AuditEvent>, b: Vec<AuditEvent>, n: usize) -> Vec<AuditEvent> {
    let mut out = Vec::with_capacity(n);
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while out.len() < n {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.id == y.id => {
                b.next();
                a.next()
            }
            (Some(x), Some(y)) if y.id < x.id => b.next(),
            (Some(_), _) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(e) => out.push(e),
            None => break,
        }
    }
    out
}

/// A page read a window of partitions at a time. `conn` is a read transaction planned for its
/// parameters (`db::planned_read`): every filter is optional.
///
/// The log is partitioned by ranges of id, a month each (`audit::partitions`), and a statement
/// over the whole log would be planned over every partition on every request (milliseconds with
/// a year of them) and, for `resourceId`, would read every entry of the record in every month
/// before cutting the page. So the page is read a window of partitions at a time, oldest first
/// — one partition, then windows growing with what the page still needs
/// (`audit::partitions::Windows`) — each statement planned for its window alone, until the page
/// is full: a page costs what the months it shows cost, however long the log (bench/README.md,
/// "Cost as the log grows").
async fn windowed(
    conn: &mut PgConnection,
    log: &Log,
    org: Uuid,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Vec<AuditEvent>> {
    let mut windows = crate::audit::partitions::read_windows(&mut *conn, log, page.after_id).await?;
    let mut rows: Vec<AuditEvent> = Vec::new();
    let mut after = page.after_id;
    let mut last_found = 0;
    loop {
        let want = page.fetch() - rows.len() as i64;
        if want <= 0 {
            break;
        }
        let Some((lo, hi)) = windows.next(last_found, want as usize) else { break };
        let found = sqlx::query_as!(
            AuditEvent,
            "SELECT id, at, key_prefix, user_id, action, resource_type, resource_id, resource_ids, status, request_id,
                    client_address, route
             FROM audit_events
             WHERE organization_id = $1 AND id > $2 AND id >= $10 AND id < $11
               AND ($3::text IS NULL OR resource_type = $3)
               AND ($4::bigint IS NULL OR resource_id = $4 OR resource_ids @> ARRAY[$4::bigint])
               AND ($5::text IS NULL OR key_prefix = $5)
               AND ($6::timestamptz IS NULL OR at >= $6)
               AND ($7::timestamptz IS NULL OR at < $7)
               AND ($9::bigint IS NULL OR user_id = $9)
             ORDER BY id LIMIT $8",
            org,
            after,
            filter.resource_type.map(RecordType::as_str),
            filter.resource_id,
            filter.key_prefix,
            filter.from,
            filter.to,
            want,
            filter.user_id,
            lo,
            hi,
        )
        .fetch_all(&mut *conn)
        .await?;
        if let Some(last) = found.last() {
            after = last.id;
        }
        last_found = found.len();
        rows.extend(found);
    }
    Ok(rows)
}

/// A console action, as the audit log records it: the acting person by id, never by email.
#[derive(Debug, Clone)]
pub struct ConsoleAction<'a> {
    pub organization_id: Option<Uuid>,
    pub user_id: Option<i64>,
    pub action: &'static str,
    pub resource_type: RecordType,
    pub resource_id: Option<i64>,
    pub status: u16,
    pub request_id: &'a str,
    pub client_address: Option<&'a str>,
    /// Method and route template, as for API requests (`POST /console/keys/{id}/revoke`).
    pub route: &'a str,
}

/// Records a console action, in the caller's transaction: the change and its entry commit
/// together.
pub async fn record_console_action(conn: &mut PgConnection, a: ConsoleAction<'_>) -> Result<()> {
    sqlx::query!(
        "INSERT INTO audit_events (organization_id, at, user_id, action, resource_type, resource_id, status,
                                   request_id, client_address, route)
         VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8, $9)",
        a.organization_id,
        a.user_id,
        a.action,
        a.resource_type.as_str(),
        a.resource_id,
        a.status as i16,
        a.request_id,
        a.client_address,
        a.route,
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64) -> AuditEvent {
        AuditEvent {
            id,
            at: DateTime::UNIX_EPOCH,
            key_prefix: None,
            user_id: None,
            action: "read".into(),
            resource_type: "patient".into(),
            resource_id: None,
            resource_ids: None,
            status: 200,
            request_id: String::new(),
            client_address: None,
            route: None,
        }
    }

    fn merged(a: &[i64], b: &[i64], n: usize) -> Vec<i64> {
        let list = |ids: &[i64]| ids.iter().copied().map(entry).collect();
        merge(list(a), list(b), n).into_iter().map(|e| e.id).collect()
    }

    #[test]
    fn merge_keeps_id_order_shows_an_entry_once_and_cuts_at_the_page() {
        assert_eq!(merged(&[1, 4, 6], &[2, 3, 7], 10), vec![1, 2, 3, 4, 6, 7]);
        assert_eq!(merged(&[1, 4, 6], &[2, 3, 7], 4), vec![1, 2, 3, 4]);
        assert_eq!(merged(&[1, 4, 6], &[4, 5], 10), vec![1, 4, 5, 6]);
        assert_eq!(merged(&[], &[2, 3], 10), vec![2, 3]);
        assert_eq!(merged(&[5], &[], 10), vec![5]);
        assert_eq!(merged(&[1, 2], &[3], 0), Vec::<i64>::new());
    }
}
