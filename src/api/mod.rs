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
pub mod intake;
pub mod locations;
pub mod patients;
pub mod providers;
pub mod webhooks;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Klinivo API",
        version = "1.0.0",
        description = "The Klinivo public API: patients, providers, locations, schedules, appointments, \
                       consultations, intake forms and webhooks. Authenticate with the `X-API-Key` header."
    ),
    components(schemas(crate::http::error::ErrorBody, crate::http::error::FieldError)),
    tags(
        (name = "Health", description = "Check a key"),
    )
)]
struct ApiDoc;

/// Every `/api/v1` route with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(health::router())
        .merge(patients::router())
        .merge(locations::router())
        .merge(providers::router())
        .merge(availability::router())
        .merge(appointments::router())
        .merge(consultations::router())
        .merge(intake::router())
        .merge(webhooks::router())
        .merge(events::router())
        .merge(audit_events::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1)
}

/// Adds what the route annotations cannot: the security scheme.
pub fn finish_openapi(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "ApiKey",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-API-Key",
            "An API key of the form kv_…, created with `klinivo key create`.",
        ))),
    );
    doc
}
