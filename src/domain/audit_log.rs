//! The organization's access audit log, as read back: who (key prefix) read, listed, changed or
//! was denied which clinical record, when, from where, with which outcome. Entries are written
//! by `crate::audit::sink`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Error, Page, PageRequest, Result};
use crate::audit::RecordType;

/// One access to a record: who (key prefix, or console user), what, when, from where, with which
/// outcome.
#[derive(Debug, Serialize, ToSchema)]
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

/// The organization's entries, oldest first (by id). `conn` is a read transaction planned for
/// its parameters (`db::planned_read`): every filter is optional.
///
/// The log is partitioned by ranges of id, a month each (`audit::partitions`), and a statement
/// over the whole log would be planned over every partition on every request (milliseconds with
/// a year of them) and, for `resourceId`, would read every entry of the record in every month
/// before cutting the page. So the page is read a window of partitions at a time, oldest first
/// — one partition, then windows growing with what the page still needs
/// (`audit::partitions::Windows`) — each statement planned for its window alone, until the page
/// is full: a page costs what the months it shows cost, however long the log (bench/README.md,
/// "Cost as the log grows").
pub async fn list(
    conn: &mut PgConnection,
    org: Uuid,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Page<AuditEvent>> {
    let mut windows = crate::audit::partitions::read_windows(&mut *conn, page.after_id).await?;
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
    Ok(page.finish(rows, |e| (e.id, e.at)))
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
