//! What every handler and background task shares.

use std::sync::Arc;

use sqlx::PgPool;

use crate::audit::AuditSink;
use crate::auth::authenticator::Authenticator;
use crate::config::Config;
use crate::db::direct::DirectPool;
use crate::db::health::DbHealth;
use crate::events::wake::DeliveryWake;
use crate::metrics::Metrics;

/// The shared state, behind one `Arc`: axum clones the state for every layer and extractor
/// that asks for it, several times per request, and one reference count to bump is cheaper
/// than one per field (they are shared between cores, so each bump is a cache-line transfer).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub db: PgPool,
    /// Reads on generic plans, outside transactions (`db::generic_reads`): patient search.
    pub generic_reads: DirectPool,
    /// Single-statement reads outside transactions (`db::single_reads`): a record by id.
    pub reads: DirectPool,
    pub config: Arc<Config>,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    pub audit: AuditSink,
    /// Wakes the webhook dispatchers after a write that queued deliveries commits.
    pub wake: DeliveryWake,
    /// Whether the database is reachable, as requests last found it.
    pub db_health: Arc<DbHealth>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(db: PgPool, config: Config) -> Self {
        let config = Arc::new(config);
        AppState(Arc::new(Shared {
            auth: Arc::new(Authenticator::new(config.rate_limit_per_minute)),
            metrics: Arc::new(Metrics::default()),
            audit: AuditSink::new(),
            wake: DeliveryWake::default(),
            db_health: Arc::default(),
            generic_reads: crate::db::generic_reads(&db),
            reads: crate::db::single_reads(&db, config.db_max_connections),
            db,
            config,
        }))
    }
}
