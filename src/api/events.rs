//! The organization's event log (MANAGE_WEBHOOKS): every event as it was delivered, kept for
//! 30 days (`crate::delivery::retention`).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{Disclose, Disclosure, RecordType};
use crate::auth::permissions::ManageWebhooks;
use crate::db::horizon;
use crate::events::{self, Event, EventType};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::PageRequest;
use crate::http::response::Records;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(get_event))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(value_type = Option<EventType>)]
    pub event_type: Option<String>,
    /// Only events created at or after this instant.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    pub from: Option<DateTime<Utc>>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of events.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    pub data: Vec<Event>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl Disclose for EventList {
    fn disclose(&self, to: &mut Disclosure) {
        to.add_page(&self.data);
    }
}

/// An event's `data` is the record it is about, as `GET` showed it then (a consultation with its
/// notes and prescriptions): the event log discloses it as that `GET` would.
impl Disclose for Event {
    fn disclose(&self, to: &mut Disclosure) {
        if let Some(record_type) = EventType::parse(&self.event_type).and_then(record_type) {
            to.add_json(record_type, &self.data);
        }
    }
}

/// The kind of record an event's `data` is (`None`: not a clinical record).
fn record_type(event_type: EventType) -> Option<RecordType> {
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
        SoapNoteCreated => RecordType::SoapNote,
        IntakeStarted | IntakeCompleted => RecordType::IntakeForm,
        // Its data is the subscription.
        WebhookTest => return None,
    })
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

/// List events
///
/// The organization's events of the last 30 days in the order they were created, exactly as
/// they were delivered (by `createdAt`; events of one instant in the order they were written).
/// An event is listed only after every event created before it has committed (or been rolled
/// back), so none ever lands behind a cursor or a `createdAt` you were given: to follow the
/// log, pass `from` = the last `createdAt` you received (that event comes again; deduplicate on
/// `id`). Events are immutable, so there is no `updatedSince`.
#[utoipa::path(
    get,
    path = "/events",
    tag = "Events",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(ListEventsQuery),
    responses(
        (status = 200, description = "One page of events", body = EventList),
        (status = 400, description = "Invalid parameter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list_events(
    auth: Auth<ManageWebhooks>,
    State(state): State<AppState>,
    Query(query): Query<ListEventsQuery>,
) -> ApiResult<Records<EventList>> {
    let mut read = crate::db::planned_read(&state.db).await?;
    let event_type = match query.event_type.as_deref() {
        None => None,
        Some(t) => Some(EventType::parse(t).ok_or_else(|| ApiError::validation("type", "unknown event type"))?),
    };
    // Ordered by (createdAt, seq): the page request's (timestamp, id) keyset, anchored at `from`.
    // `seq` is taken at insert, not at commit, and `created_at` is the insert's clock: an event
    // of a transaction that commits late lands behind later ones in either order, so the log
    // is served below the horizon like every synced list.
    let from = query.from.unwrap_or(DateTime::UNIX_EPOCH);
    let page = PageRequest::new(query.limit, query.cursor.as_deref(), Some(from))?;
    let after_created = page.after_updated.unwrap_or(from);
    let horizon = horizon::current(&mut read).await?;
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT id, type AS event_type, created_at, organization_id, data, seq
           FROM events
           WHERE organization_id = $1 AND ($2::text IS NULL OR type = $2)
             AND created_at >= $3 AND (created_at, seq) > ($4, $5) AND created_at < $7
           ORDER BY created_at, seq LIMIT $6"#,
        auth.organization_id,
        event_type.map(EventType::as_str),
        from,
        after_created,
        page.after_id,
        page.fetch(),
        horizon
    )
    .fetch_all(&mut *read)
    .await?;
    let page = page.finish(rows, |r| (r.seq, r.created_at));
    Ok(Records(EventList { data: page.data.into_iter().map(Event::from).collect(), next_cursor: page.next_cursor }))
}

/// Get an event
#[utoipa::path(
    get,
    path = "/events/{id}",
    tag = "Events",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("MANAGE_WEBHOOKS"))),
    params(("id" = String, Path, description = "Event id, `evt_<uuid>`")),
    responses(
        (status = 200, description = "The event, exactly as delivered", body = Event),
        (status = 404, description = "No such event in this organization (or purged after 30 days)", body = ErrorBody),
    )
)]
pub async fn get_event(
    auth: Auth<ManageWebhooks>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Records<Event>> {
    let id = events::parse_public_id(&id).ok_or(ApiError::NotFound("Event"))?;
    let row = sqlx::query_as!(
        EventRow,
        "SELECT id, type AS event_type, created_at, organization_id, data, seq
         FROM events WHERE organization_id = $1 AND id = $2",
        auth.organization_id,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(ApiError::NotFound("Event"))?;
    Ok(Records(row.into()))
}
