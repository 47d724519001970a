//! `GET /audit-events`: the organization's access audit log (READ_AUDIT_LOG). The log's reads
//! are `crate::domain::audit_log`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::audit::RecordType;
use crate::auth::permissions::ReadAuditLog;
use crate::domain::audit_log::{self, AuditEvent, ListFilter};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, Query};
use crate::http::pagination::{list_query, paged};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

paged!(AuditEventList = AuditEvent, "audit events");

list_query! {
    pub struct AuditQuery {
        #[param(value_type = Option<RecordType>)]
        pub resource_type: Option<String>,
        /// Entries about this record: those that read, changed or denied it, the lists that
        /// returned it, and the responses that showed it inside another record or in the event log.
        pub resource_id: Option<i64>,
        pub key_prefix: Option<String>,
        /// (ext) Console actions of this console user.
        pub user_id: Option<i64>,
        /// Entries at or after this instant.
        #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
        pub from: Option<DateTime<Utc>>,
        /// Entries before this instant.
        #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
        pub to: Option<DateTime<Utc>>,
    }
    without updatedSince
}

impl AuditQuery {
    fn filter(&self) -> ApiResult<ListFilter> {
        Ok(ListFilter {
            resource_type: self.resource_type.as_deref().map(ListFilter::parse_resource_type).transpose()?,
            resource_id: self.resource_id,
            key_prefix: self.key_prefix.clone(),
            user_id: self.user_id,
            from: self.from,
            to: self.to,
        })
    }
}

/// List audit events
///
/// The organization's access audit log, oldest first: every read, list, change and denied
/// attempt on patients, appointments, consultations, SOAP notes, prescriptions and intake forms,
/// by any route and method that shows them (`HEAD` as `GET`; the event log; records embedded in
/// other records, one entry per type, with the request's `requestId`); and (ext) every action taken in
/// the console (keys, webhooks, users, sign-ins), with the acting console user's `userId`.
#[utoipa::path(
    get,
    path = "/api/v1/audit-events",
    operation_id = "listAuditEvents",
    tag = "Audit log",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit events", body = AuditEventList),
        (status = 400, description = "Invalid filter or cursor", body = ErrorBody),
    )
)]
async fn list(
    auth: Auth<ReadAuditLog>,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditEventList>> {
    let filter = q.filter()?;
    let page = q.page()?;
    Ok(Json(audit_log::list(&state.db, &state.generic_reads, auth.organization_id, &filter, &page).await?))
}
