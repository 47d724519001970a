//! `GET /audit-events`: the organization's access audit log (READ_AUDIT_LOG).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::audit::RecordType;
use crate::auth::permissions::ReadAuditLog;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, Query};
use crate::http::pagination::PageRequest;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// One access to a record: who (key prefix), what, when, from where, with which outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    #[schema(example = "kv_abc12345")]
    pub key_prefix: Option<String>,
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventList {
    pub data: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[param(value_type = Option<RecordType>)]
    resource_type: Option<String>,
    /// Entries about this record: those that read, changed or denied it, the lists that
    /// returned it, and the responses that showed it inside another record or in the event log.
    resource_id: Option<i64>,
    key_prefix: Option<String>,
    /// Entries at or after this instant.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    #[serde(default, deserialize_with = "crate::http::time::optional_timestamp")]
    to: Option<DateTime<Utc>>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// List audit events
///
/// The organization's access audit log, oldest first: every read, list, change and denied
/// attempt on patients, appointments, consultations, SOAP notes, prescriptions and intake forms,
/// by any route and method that shows them (`HEAD` as `GET`; the event log; records embedded in
/// other records, one entry per type, with the request's `requestId`).
#[utoipa::path(
    get,
    path = "/audit-events",
    operation_id = "listAuditEvents",
    tag = "Audit log",
    security(("ApiKey" = [])),
    extensions(("x-permission" = json!("READ_AUDIT_LOG"))),
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
    let mut read = crate::db::planned_read(&state.db).await?;
    if let Some(t) = &q.resource_type {
        if !RecordType::ALL.iter().any(|r| r.as_str() == t) {
            let names: Vec<&str> = RecordType::ALL.iter().map(|r| r.as_str()).collect();
            return Err(ApiError::validation("resourceType", format!("must be one of {}", names.join(", "))));
        }
    }
    let page = PageRequest::new(q.limit, q.cursor.as_deref(), None)?;
    let rows = sqlx::query_as!(
        AuditEvent,
        "SELECT id, at, key_prefix, action, resource_type, resource_id, resource_ids, status, request_id,
                client_address, route
         FROM audit_events
         WHERE organization_id = $1 AND id > $2
           AND ($3::text IS NULL OR resource_type = $3)
           AND ($4::bigint IS NULL OR resource_id = $4 OR resource_ids @> ARRAY[$4::bigint])
           AND ($5::text IS NULL OR key_prefix = $5)
           AND ($6::timestamptz IS NULL OR at >= $6)
           AND ($7::timestamptz IS NULL OR at < $7)
         ORDER BY id LIMIT $8",
        auth.organization_id,
        page.after_id,
        q.resource_type,
        q.resource_id,
        q.key_prefix,
        q.from,
        q.to,
        page.fetch(),
    )
    .fetch_all(&mut *read)
    .await?;
    let page = page.finish(rows, |e| (e.id, e.at));
    Ok(Json(AuditEventList { data: page.data, next_cursor: page.next_cursor }))
}
