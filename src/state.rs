//! What every handler and background task shares.

use std::sync::Arc;

use sqlx::PgPool;

use crate::audit::AuditSink;
use crate::config::Config;
use crate::http::layers::auth::Authenticator;
use crate::http::layers::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    pub audit: AuditSink,
}

impl AppState {
    pub fn new(db: PgPool, config: Config) -> Self {
        let config = Arc::new(config);
        AppState {
            auth: Arc::new(Authenticator::new(config.rate_limit_per_minute)),
            metrics: Arc::new(Metrics::default()),
            audit: AuditSink::new(),
            db,
            config,
        }
    }
}
