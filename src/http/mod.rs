//! The HTTP surface: the router (the API's table of contents), errors, extractors, layers.

pub mod error;
pub mod extract;
pub mod layers;
pub mod ops;
pub mod pagination;
pub mod response;
pub mod time;
pub mod tx;

use std::future::Future;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::api;
use crate::state::AppState;
use error::ApiError;
use layers::{auth, front, idempotency, request_id, timeout};

/// Puts routes behind authentication (with rate limiting) and the write-transaction layer.
pub fn protect(routes: Router<AppState>, state: &AppState) -> Router {
    routes.route_layer(from_fn_with_state(state.clone(), protected)).with_state(state.clone())
}

/// Authentication and rate limiting, then the write layer: one layer ([`finish`] says why).
async fn protected(State(state): State<AppState>, req: Request, next: Next) -> Response {
    auth::authenticate(&state, req, |req| idempotency::write_transaction(&state, req, |req| next.run(req))).await
}

/// Request bodies above this are `413 payload_too_large`.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The whole application: `/api/v1` behind authentication and the write layer, the operator
/// endpoints beside it, and the layers every request passes through.
pub fn app(state: AppState) -> Router {
    finish(app_routes(&state), state)
}

/// The routes of the application without the outer layers.
pub fn app_routes(state: &AppState) -> Router {
    let (api_routes, openapi) = api::router().split_for_parts();
    let openapi_json = std::sync::Arc::new(api::openapi::finish(openapi));
    let api_routes = protect(api_routes, state);

    Router::new()
        .merge(api_routes)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi_json.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(ops::router().with_state(state.clone()))
        .merge(api::docs::router())
        .merge(crate::console::router(state.clone()))
        .merge(crate::fhir::router(state))
}

/// Errors in the API's JSON answered by any layer or fallback become the console's pages under
/// `/console` and OperationOutcomes under `/fhir`; other requests pass untouched (one layer, one
/// prefix test, for every API request).
async fn front_door_errors<F: Future<Output = Response>>(req: Request, next: impl FnOnce(Request) -> F) -> Response {
    let path = req.uri().path();
    if path.starts_with("/fhir") {
        crate::fhir::outcome::errors_as_outcomes(req, next).await
    } else if path.starts_with("/console") {
        crate::console::error::json_errors_as_pages(req, next).await
    } else {
        next(req).await
    }
}

/// The layers every request passes through, around any set of routes (tests mount their own).
/// A tower layer is applied to every route, and axum's `from_fn` layer clones all inside it
/// and boxes its future for every request, so the steps are plain functions, each handed the
/// rest of the stack, chained into one layer ([`outer`]; bench/README.md, "Layers").
pub fn finish(routes: Router, state: AppState) -> Router {
    routes
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn_with_state(state, outer))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("handler panicked").into_response()))
}

/// Every request's steps, outermost first: its id, span and metrics (`request_id`); errors in
/// the console's and FHIR's own forms (`front_door_errors`); method, client address, database
/// gate and common headers (`front`); the audit log (`audit`); the time limit (`timeout`).
async fn outer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    request_id::request_id(&state, req, |req| {
        front_door_errors(req, |req| {
            front::front(&state, req, |req| {
                layers::audit::audit(&state, req, |req| timeout::timeout(req, |req| next.run(req)))
            })
        })
    })
    .await
}
