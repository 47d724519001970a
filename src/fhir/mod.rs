//! The FHIR R4 (4.0.1) facade at `/fhir/R4`: the clinic's records as standard resources, read
//! and searched under the same keys, permissions, rate limits, tenancy and audit log as
//! `/api/v1`, and the Bulk Data `$export` (docs/fhir.md has the mapping). A front door like
//! `api`: it extracts, calls `domain` and maps the records to FHIR JSON; it writes nothing but
//! export jobs.

mod capability;
pub mod export;
pub mod outcome;
mod resources;
mod search;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use crate::audit::{Disclosure, RecordType};
use crate::state::AppState;

pub use outcome::operation_outcome;

/// The FHIR version served.
pub const FHIR_VERSION: &str = "4.0.1";
pub const BASE: &str = "/fhir/R4";
pub const CONTENT_TYPE: &str = "application/fhir+json; fhirVersion=4.0; charset=utf-8";

/// The facade: `metadata` needs no key; everything else sits behind the API's authentication,
/// rate limiting and write layer (`http::protect`). Every error, the layers' included, leaves as
/// an OperationOutcome (`outcome::errors_as_outcomes`, a layer of the whole application).
pub fn router(state: &AppState) -> Router {
    let protected = crate::http::protect(resources::router(), state);
    Router::new()
        .route(&format!("{BASE}/metadata"), get(capability::metadata))
        .route(
            &format!("{BASE}/{{*rest}}"),
            axum::routing::any(|| async {
                crate::http::error::ApiError::NotFound("Resource type (see /fhir/R4/metadata for those served)")
            }),
        )
        .with_state(state.clone())
        .merge(protected)
}

/// A FHIR JSON body, and the records it shows for the audit log.
pub struct Fhir {
    pub body: Value,
    pub disclosure: Option<Disclosure>,
}

impl Fhir {
    /// A resource or Bundle that shows no clinical record (practitioners, locations, …).
    pub fn plain(body: Value) -> Fhir {
        Fhir { body, disclosure: None }
    }

    /// A body showing these records of one type.
    pub fn showing(body: Value, record_type: RecordType, ids: &[i64]) -> Fhir {
        let mut disclosure = Disclosure::default();
        for id in ids {
            disclosure.add(record_type, *id);
        }
        Fhir { body, disclosure: Some(disclosure) }
    }
}

impl IntoResponse for Fhir {
    fn into_response(self) -> Response {
        let bytes = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut response = ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], bytes).into_response();
        if let Some(d) = self.disclosure {
            response.extensions_mut().insert(d);
        }
        response
    }
}
