//! The organization's audit log, filterable and paged, as `GET /api/v1/audit-events` reads it.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use crate::audit::RecordType;
use crate::console::context::SignedIn;
use crate::console::error::PageError;
use crate::console::render::{html, page, Chrome};
use crate::domain::audit_log::{self, ListFilter};
use crate::domain::PageRequest;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource_id: String,
    #[serde(default)]
    key_prefix: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    cursor: Option<String>,
}

struct Entry {
    at: String,
    who: String,
    action: String,
    resource: String,
    status: i16,
    route: String,
    address: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    resource_types: Vec<&'static str>,
    resource_type: String,
    resource_id: String,
    key_prefix: String,
    user_id: String,
    from: String,
    to: String,
    error: Option<String>,
    entries: Vec<Entry>,
    next_href: Option<String>,
}

fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).ok().or_else(|| {
        ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .map(|t| t.and_utc())
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc())
            })
    })
}

/// The filter the form asks for, or what is wrong with it.
fn filter(q: &AuditQuery) -> Result<ListFilter, String> {
    let mut f = ListFilter::default();
    let fields = [&q.resource_type, &q.resource_id, &q.key_prefix, &q.user_id, &q.from, &q.to];
    if fields.iter().any(|v| v.contains('\0')) || q.cursor.as_deref().is_some_and(|c| c.contains('\0')) {
        return Err("The filters must not contain NUL characters.".into());
    }
    let q_type = q.resource_type.trim();
    if !q_type.is_empty() {
        f.resource_type =
            Some(ListFilter::parse_resource_type(q_type).map_err(|_| "Resource type: choose one from the list.")?);
    }
    let number = |text: &str, label: &str| -> Result<Option<i64>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<i64>().map(Some).map_err(|_| format!("{label}: enter a whole number."))
    };
    f.resource_id = number(&q.resource_id, "Resource id")?;
    f.user_id = number(&q.user_id, "User id")?;
    f.key_prefix = Some(q.key_prefix.trim().to_string()).filter(|k| !k.is_empty());
    let time = |text: &str, label: &str| -> Result<Option<DateTime<Utc>>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        instant(text).map(Some).ok_or_else(|| format!("{label}: enter a UTC time such as 2026-01-31T09:00:00Z."))
    };
    f.from = time(&q.from, "From")?;
    f.to = time(&q.to, "To")?;
    Ok(f)
}

fn next_href(q: &AuditQuery, cursor: &str) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("resourceType", &q.resource_type),
        ("resourceId", &q.resource_id),
        ("keyPrefix", &q.key_prefix),
        ("userId", &q.user_id),
        ("from", &q.from),
        ("to", &q.to),
    ] {
        if !v.trim().is_empty() {
            s.append_pair(k, v.trim());
        }
    }
    s.append_pair("cursor", cursor);
    format!("/console/audit?{}", s.finish())
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let mut view = AuditPage {
        chrome: Chrome::new(&session, "audit"),
        resource_types: RecordType::ALL.iter().map(|t| t.as_str()).collect(),
        resource_type: q.resource_type.clone(),
        resource_id: q.resource_id.clone(),
        key_prefix: q.key_prefix.clone(),
        user_id: q.user_id.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        error: None,
        entries: Vec::new(),
        next_href: None,
    };
    let request = PageRequest::new(Some(100), q.cursor.as_deref(), None);
    let (f, request) = match (filter(&q), request) {
        (Ok(f), Ok(r)) => (f, r),
        (Err(e), _) => {
            view.error = Some(e);
            return Ok((StatusCode::BAD_REQUEST, html(view.render()?)).into_response());
        }
        (_, Err(_)) => {
            view.error = Some("That page link is not valid; showing the first page.".into());
            (filter(&q).unwrap_or_default(), PageRequest::new(Some(100), None, None)?)
        }
    };
    let found = audit_log::list(&state.db, &state.generic_reads, session.organization_id, &f, &request).await?;
    view.next_href = found.next_cursor.as_deref().map(|c| next_href(&q, c));
    view.entries = found
        .data
        .into_iter()
        .map(|e| Entry {
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            who: match (e.user_id, e.key_prefix) {
                (Some(u), _) => format!("user {u}"),
                (None, Some(k)) => k,
                (None, None) => "—".into(),
            },
            action: e.action,
            resource: match (e.resource_id, e.resource_ids) {
                (Some(id), _) => format!("{} {id}", e.resource_type),
                (None, Some(ids)) => format!("{} ×{}", e.resource_type, ids.len()),
                (None, None) => e.resource_type,
            },
            status: e.status,
            route: e.route.unwrap_or_default(),
            address: e.client_address.unwrap_or_default(),
        })
        .collect();
    page(&view)
}
