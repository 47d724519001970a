//! Unauthenticated operator endpoints: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers and every migration this build knows is applied.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match crate::db::check_ready(&state.db).await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))).into_response(),
        Err(reason) => {
            tracing::warn!(reason = %reason, "not ready");
            let body = json!({"error": "service_unavailable", "message": reason});
            let retry = [(header::RETRY_AFTER, crate::http::error::RETRY_AFTER_UNAVAILABLE)];
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, retry, Json(body)).into_response();
            if reason == crate::db::UNREACHABLE {
                response.extensions_mut().insert(crate::db::health::Unreachable);
            }
            response
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = state.metrics.render();
    body.push_str(&format!(
        "# TYPE klinivo_db_pool_connections gauge\nklinivo_db_pool_connections {}\n\
         # TYPE klinivo_db_pool_idle_connections gauge\nklinivo_db_pool_idle_connections {}\n\
         # TYPE klinivo_db_direct_connections gauge\n\
         klinivo_db_direct_connections{{pool=\"reads\"}} {}\nklinivo_db_direct_connections{{pool=\"search\"}} {}\n\
         # TYPE klinivo_db_direct_idle_connections gauge\n\
         klinivo_db_direct_idle_connections{{pool=\"reads\"}} {}\nklinivo_db_direct_idle_connections{{pool=\"search\"}} {}\n\
         # TYPE klinivo_audit_queue_entries gauge\nklinivo_audit_queue_entries {}\n",
        state.db.size(),
        state.db.num_idle(),
        state.reads.open(),
        state.generic_reads.open(),
        state.reads.idle(),
        state.generic_reads.idle(),
        state.audit.queued()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
