//! The resources of `/api/v1`, one module each with its own `router()`. This file is the
//! table of contents of the API.

pub mod appointments;
pub mod audit_events;
pub mod availability;
pub mod common;
pub mod consultations;
pub mod docs;
pub mod events;
pub mod health;
pub mod holds;
pub mod intake;
pub mod locations;
pub mod openapi;
pub mod patients;
pub mod providers;
pub mod route;
pub mod webhooks;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Klinivo API", version = "1.0.0"),
    components(schemas(crate::http::error::ErrorBody, crate::http::error::FieldError))
)]
// The description and the tags are added by `openapi::finish`.
struct ApiDoc;

/// Every `/api/v1` route with its OpenAPI description. Each route names its full path rather
/// than being nested under `/api/v1`: a nested route strips the prefix from, and so rebuilds,
/// every request's URI (bench/README.md, "Layers").
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(patients::router())
        .merge(locations::router())
        .merge(providers::router())
        .merge(availability::router())
        .merge(appointments::router())
        .merge(holds::router())
        .merge(consultations::router())
        .merge(intake::router())
        .merge(webhooks::router())
        .merge(events::router())
        .merge(audit_events::router())
}

/// The published OpenAPI document, as `GET /api/v1/openapi.json` serves it.
pub fn openapi_document() -> serde_json::Value {
    let (_, doc) = router().split_for_parts();
    openapi::finish(doc)
}
