//! The organization's event log (MANAGE_WEBHOOKS): every event as it was delivered, kept for
//! 30 days (`crate::delivery::retention`). The log's reads are `crate::domain::event_log`.

use axum::extract::State;
use chrono::{DateTime, Utc};
use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::audit::{Disclose, Disclosure};
use crate::auth::permissions::ManageWebhooks;
use crate::domain::event_log::{self, ListFilter};
use crate::events::{Event, EventType};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Path, Query};
use crate::http::pagination::{list_query, paged};
use crate::http::response::Records;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(get_event))
}

paged!(EventList = Event, "events");

list_query! {
    pub struct ListEventsQuery {
        /// Only events of this type.
        #[serde(rename = "type")]
        #[param(value_type = Option<EventType>)]
        pub event_type: Option<String>,
        /// Only events created at or after this instant.
        #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
        pub from: Option<DateTime<Utc>>,
    }
    without updatedSince
}

impl ListEventsQuery {
    fn filter(&self) -> ApiResult<ListFilter> {
        let event_type = self.event_type.as_deref().map(ListFilter::parse_type).transpose()?;
        Ok(ListFilter { event_type, from: self.from })
    }
}

/// An event's `data` is the record it is about, as `GET` showed it then (a consultation with its
/// notes and prescriptions): the event log discloses it as that `GET` would.
impl Disclose for Event {
    fn disclose(&self, to: &mut Disclosure) {
        if let Some(record_type) = EventType::parse(&self.event_type).and_then(event_log::record_type) {
            to.add_json(record_type, &self.data);
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
    path = "/api/v1/events",
    tag = "Events",
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
    let filter = query.filter()?;
    let page = filter.page(query.limit, query.cursor.as_deref())?;
    let mut read = crate::db::planned_read(&state.db).await?;
    Ok(Records(event_log::list(&mut read, auth.organization_id, &filter, &page).await?))
}

/// Get an event
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}",
    tag = "Events",
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
    Ok(Records(event_log::get(&state.reads, auth.organization_id, &id).await?))
}
