//! Records the audit entries of every request about clinical records (patients, appointments,
//! consultations, SOAP notes, prescriptions, intake forms), queued for the batched writer (no
//! database round trip on the request's path).
//!
//! A request on a PHI route (`classify`) gets one entry for the record it read or changed, or,
//! for a list, one naming every record returned (`resource_ids`, in order); a denied attempt
//! (401/403/404) gets one entry too. Whatever else the response showed — the records another
//! record embeds (a consultation's notes and prescriptions), the records of the event log —
//! gets one entry per type, `read` (or `list` for a page) with the ids in `resource_ids`. Any
//! other route is audited when its response says it showed records.
//!
//! What a response showed comes from the response: handlers attach a [`Disclosure`] built from
//! the models they serialize, rather than the layer guessing from the URL or parsing the body
//! again. It costs a few ids per record, and it is still there for `HEAD`, which runs the
//! `GET` handler and whose body is dropped before it is sent. A response made from stored
//! bytes (an idempotent replay) has none and is read back from its JSON.

use std::future::Future;

use axum::body::{to_bytes, Body};
use axum::extract::{MatchedPath, Request};
use axum::response::Response;

mod classify;

use crate::audit::disclosure::{Disclosure, RecordType};
use crate::audit::AuditEntry;
use crate::auth::AuthenticatedKey;
use crate::http::layers::request_id::RequestId;
use crate::state::AppState;
use classify::{classify, path_id, Target};

pub async fn audit<F: Future<Output = Response>>(
    state: &AppState,
    req: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let Some(template) = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()) else {
        return next(req).await;
    };
    let target = classify(req.method(), &template);
    let method = crate::http::layers::method::label(req.method());
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let client_address = crate::http::layers::client_address::of(&req);
    // What only a PHI route's entries need is read only on one (most requests are on none).
    let (path, presented_prefix) = match target {
        Some(_) => (req.uri().path().to_string(), presented_prefix(&req)),
        None => (String::new(), None),
    };

    let mut response = next(req).await;
    let disclosed = response.extensions_mut().remove::<Disclosure>();
    if target.is_none() && disclosed.is_none() {
        return response;
    }
    let route = format!("{method} {template}");
    let client_address = client_address.map(|a| a.to_string());
    let status = response.status().as_u16();
    let key = response.extensions().get::<AuthenticatedKey>().cloned();
    let entry = |(action, record_type, resource_id, resource_ids): Named| AuditEntry {
        organization_id: key.as_ref().map(|k| k.organization_id),
        at: chrono::Utc::now(),
        key_prefix: key.as_ref().map(|k| k.key_prefix.clone()).or_else(|| presented_prefix.clone()),
        action,
        resource_type: record_type.as_str(),
        resource_id,
        resource_ids,
        status,
        request_id: request_id.clone(),
        client_address: client_address.clone(),
        route: route.clone(),
    };

    let Some(target) = target else {
        // A route about something else (the event log): only what its response showed.
        if let Some(disclosure) = disclosed.filter(|_| response.status().is_success()) {
            for named in shown_elsewhere(disclosure) {
                state.audit.record(entry(named)).await;
            }
        }
        return response;
    };
    let from_path = path_id(&template, &path);
    if matches!(status, 401 | 403 | 404) {
        state.audit.record(entry(("denied", target.resource_type, from_path, None))).await;
        return response;
    }
    if !response.status().is_success() {
        state.audit.record(entry((target.action, target.resource_type, from_path, None))).await;
        return response;
    }
    let (response, disclosure) = match disclosed {
        Some(disclosure) => (response, disclosure),
        None => {
            if !response.headers().contains_key("idempotent-replayed") {
                tracing::warn!(route, "a PHI route answered without saying what it showed; audited from its body");
            }
            let (parts, body) = response.into_parts();
            let Ok(bytes) = to_bytes(body, usize::MAX).await else {
                state.audit.record(entry((target.action, target.resource_type, from_path, None))).await;
                return Response::from_parts(parts, Body::empty());
            };
            let list = target.action == "list";
            let disclosure = Disclosure::from_json_body(target.resource_type, list, &bytes);
            (Response::from_parts(parts, Body::from(bytes)), disclosure)
        }
    };
    for named in shown_on_route(target, from_path, disclosure) {
        state.audit.record(entry(named)).await;
    }
    response
}

/// An entry before the request's particulars: action, record type, the record the request
/// named, the records it showed.
type Named = (&'static str, RecordType, Option<i64>, Option<Vec<i64>>);

/// The display prefix of the key the request presented, if it looks like one: a denied
/// request's entry names it (the key itself may not exist).
fn presented_prefix(req: &Request) -> Option<String> {
    req.headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| {
            k.len() >= 11 && k.starts_with("kv_") && k[..11].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .map(|k| k[..11].to_string())
}

/// A successful request on a PHI route: the route's own entry, then one per other type shown
/// (`read`, or `list` when the route lists).
fn shown_on_route(target: Target, from_path: Option<i64>, mut disclosure: Disclosure) -> Vec<Named> {
    let own = disclosure.take(target.resource_type);
    let list = target.action == "list" || disclosure.is_list();
    let action = if list { "list" } else { "read" };
    let mut entries = Vec::new();
    if target.action == "list" {
        // One entry for the whole page (an empty page too): one row instead of one per record
        // keeps auditing a page of 50 from costing more than serving it.
        entries.push(("list", target.resource_type, None, Some(own)));
    } else {
        let id = if target.id_from_path { from_path } else { own.first().copied() };
        entries.push((target.action, target.resource_type, id, None));
        let others: Vec<i64> = own.into_iter().filter(|other| Some(*other) != id).collect();
        if !others.is_empty() {
            entries.push((action, target.resource_type, None, Some(others)));
        }
    }
    entries.extend(disclosure.into_groups().into_iter().map(|(t, ids)| (action, t, None, Some(ids))));
    entries
}

/// What a response on any other route showed, one entry per type: `read`, or `list` for a page.
fn shown_elsewhere(disclosure: Disclosure) -> Vec<Named> {
    let action = if disclosure.is_list() { "list" } else { "read" };
    disclosure.into_groups().into_iter().map(|(t, ids)| (action, t, None, Some(ids))).collect()
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;
    use crate::audit::Disclose;

    struct Detail;

    impl Disclose for Detail {
        fn disclose(&self, to: &mut Disclosure) {
            to.add(RecordType::Consultation, 3);
            to.add(RecordType::SoapNote, 5);
            to.add(RecordType::SoapNote, 6);
        }
    }

    fn on(method: Method, template: &str, from_path: Option<i64>, disclosure: Disclosure) -> Vec<Named> {
        shown_on_route(classify(&method, template).unwrap(), from_path, disclosure)
    }

    #[test]
    fn a_record_and_what_it_embeds() {
        let read = on(Method::GET, "/api/v1/consultations/{id}", Some(3), Disclosure::of(&Detail));
        assert_eq!(
            read,
            vec![
                ("read", RecordType::Consultation, Some(3), None),
                ("read", RecordType::SoapNote, None, Some(vec![5, 6]))
            ]
        );
        assert_eq!(on(Method::HEAD, "/api/v1/consultations/{id}", Some(3), Disclosure::of(&Detail)), read);
        let ended = on(Method::POST, "/api/v1/consultations/{id}/end", Some(3), Disclosure::of(&Detail));
        assert_eq!(ended[0], ("transition", RecordType::Consultation, Some(3), None));
        assert_eq!(ended[1], ("read", RecordType::SoapNote, None, Some(vec![5, 6])));
    }

    #[test]
    fn a_page_of_records_and_what_they_embed() {
        let mut page = Disclosure::default();
        page.add_page(&[Detail, Detail]);
        assert_eq!(
            on(Method::GET, "/api/v1/consultations", None, page),
            vec![
                ("list", RecordType::Consultation, None, Some(vec![3, 3])),
                ("list", RecordType::SoapNote, None, Some(vec![5, 6, 5, 6]))
            ]
        );
        let empty = on(Method::GET, "/api/v1/patients", None, Disclosure::default());
        assert_eq!(empty, vec![("list", RecordType::Patient, None, Some(vec![]))]);
    }

    #[test]
    fn other_routes_name_only_what_they_showed() {
        assert_eq!(
            shown_elsewhere(Disclosure::of(&Detail)),
            vec![
                ("read", RecordType::Consultation, None, Some(vec![3])),
                ("read", RecordType::SoapNote, None, Some(vec![5, 6]))
            ]
        );
        let mut page = Disclosure::default();
        page.add_page(&[Detail]);
        assert_eq!(shown_elsewhere(page)[0].0, "list");
        assert!(shown_elsewhere(Disclosure::default()).is_empty());
    }
}
