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
pub mod openapi;
pub mod patients;
pub mod providers;
pub mod webhooks;

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
        (name = "Health", description = "Check a key: who you are and what you may do"),
        (name = "Patients", description = "Search, register and update patients (READ_PATIENTS, WRITE_PATIENTS)"),
        (name = "Locations", description = "Where providers see patients, with their IANA time zones (READ_PROVIDERS)"),
        (name = "Providers", description = "Providers, their weekly schedules and free slots (READ_PROVIDERS, READ_APPOINTMENTS)"),
        (name = "Appointments", description = "Book appointments and move them through their lifecycle (READ_APPOINTMENTS, WRITE_APPOINTMENTS)"),
        (name = "Consultations", description = "Consultations of appointments and their SOAP notes (READ_CONSULTATIONS, WRITE_CONSULTATIONS)"),
        (name = "Prescriptions", description = "Prescriptions written in consultations (READ_CONSULTATIONS, WRITE_CONSULTATIONS)"),
        (name = "Intake forms", description = "Patient intake forms: pending → started → completed (READ_PATIENTS, WRITE_PATIENTS)"),
        (name = "Webhooks", description = "Subscriptions, deliveries, redelivery and recovery (MANAGE_WEBHOOKS)"),
        (name = "Events", description = "The organization's event log, kept 30 days (MANAGE_WEBHOOKS)"),
        (name = "Audit log", description = "Who read or changed which record, when, from where (READ_AUDIT_LOG)"),
        (name = "Operations", description = "Unauthenticated endpoints for operators"),
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

/// The published OpenAPI document, as `GET /api/v1/openapi.json` serves it.
pub fn openapi_document() -> serde_json::Value {
    let (_, doc) = router().split_for_parts();
    openapi::finish(doc)
}
