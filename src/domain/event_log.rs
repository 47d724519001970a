//! The organization's event log: every event as it was delivered, kept for 30 days
//! (`crate::delivery::retention`). Events are written by `crate::events::record`, inside the
//! write that caused them.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Error, Page, PageRequest, Result};
use crate::audit::RecordType;
use crate::db::horizon;
use crate::events::{self, Event, EventType};

/// Which events a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub event_type: Option<EventType>,
    /// Only events created at or after this instant.
    pub from: Option<DateTime<Utc>>,
}

impl ListFilter {
    /// The event type a filter names (`type`), or why it names none.
    pub fn parse_type(name: &str) -> Result<EventType> {
        EventType::parse(name).ok_or_else(|| Error::invalid("type", "unknown event type"))
    }

    fn start(&self) -> DateTime<Utc> {
        self.from.unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// The page of this list that `limit` and `cursor` ask for. The log is ordered by
    /// `(createdAt, seq)`: the page request's (timestamp, id) keyset, anchored at `from`.
    pub fn page(&self, limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest> {
        PageRequest::new(limit, cursor, Some(self.start()))
    }
}

struct EventRow {
    id: Uuid,
    event_type: String,
    created_at: DateTime<Utc>,
    organization_id: Uuid,
    data: serde_json::Value,
    seq: i64,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Event {
            id: events::public_id(r.id),
            event_type: r.event_type,
            created_at: r.created_at,
            organization_id: r.organization_id,
            data: r.data,
        }
    }
}

/// The organization's events in the order they were created, below the sync horizon: `seq` is
/// taken at insert, not at commit, and `created_at` is the insert's clock, so an event of a
/// transaction that commits late would otherwise land behind a cursor already handed out.
/// `page` comes from [`ListFilter::page`]; `conn` is best a read planned for its parameters
/// (`db::planned_read`): the type filter is optional.
pub async fn list(conn: &mut PgConnection, org: Uuid, filter: &ListFilter, page: &PageRequest) -> Result<Page<Event>> {
    let from = filter.start();
    let after_created = page.after_updated.unwrap_or(from);
    let horizon = horizon::current(&mut *conn).await?;
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT id, type AS event_type, created_at, organization_id, data, seq
           FROM events
           WHERE organization_id = $1 AND ($2::text IS NULL OR type = $2)
             AND created_at >= $3 AND (created_at, seq) > ($4, $5) AND created_at < $7
           ORDER BY created_at, seq LIMIT $6"#,
        org,
        filter.event_type.map(EventType::as_str),
        from,
        after_created,
        page.after_id,
        page.fetch(),
        horizon
    )
    .fetch_all(conn)
    .await?;
    let page = page.finish(rows, |r| (r.seq, r.created_at));
    Ok(Page { data: page.data.into_iter().map(Event::from).collect(), next_cursor: page.next_cursor })
}

/// One event by its public id (`evt_<uuid>`); an id of another form is not found.
pub async fn get(db: impl sqlx::PgExecutor<'_>, org: Uuid, public_id: &str) -> Result<Event> {
    let id = events::parse_public_id(public_id).ok_or(Error::NotFound("Event"))?;
    let row = sqlx::query_as!(
        EventRow,
        "SELECT id, type AS event_type, created_at, organization_id, data, seq
         FROM events WHERE organization_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound("Event"))?;
    Ok(row.into())
}

/// The kind of clinical record an event's `data` is (`None`: not a clinical record).
pub fn record_type(event_type: EventType) -> Option<RecordType> {
    use EventType::*;
    Some(match event_type {
        PatientCreated | PatientUpdated => RecordType::Patient,
        AppointmentScheduled
        | AppointmentConfirmed
        | AppointmentCompleted
        | AppointmentCancelled
        | AppointmentNoShow
        | AppointmentRescheduled => RecordType::Appointment,
        ConsultationEnded => RecordType::Consultation,
        SoapNoteCreated | SoapNoteSigned | SoapNoteAmended => RecordType::SoapNote,
        IntakeStarted | IntakeCompleted => RecordType::IntakeForm,
        // Its data is the subscription.
        WebhookTest => return None,
    })
}
