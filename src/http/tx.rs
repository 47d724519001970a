//! The transaction a write handler runs in.
//!
//! The idempotency layer begins it, hands it to the handler through the `Tx` extractor, and
//! after the handler returns stores the response (if an `Idempotency-Key` was sent) and
//! commits — or rolls back. A handler cannot commit, so it cannot forget to make its writes,
//! its events and the stored response one atomic unit.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use crate::http::error::ApiError;

type Slot = Arc<Mutex<Option<Transaction<'static, Postgres>>>>;

/// Put into the request's extensions by the layer that owns the transaction.
#[derive(Clone)]
pub struct TxSlot(Slot);

impl TxSlot {
    pub fn new(tx: Transaction<'static, Postgres>) -> Self {
        TxSlot(Arc::new(Mutex::new(Some(tx))))
    }

    /// Takes the transaction back once the handler is done with it.
    pub async fn take(&self) -> Option<Transaction<'static, Postgres>> {
        self.0.lock().await.take()
    }
}

/// Exclusive access to the request's transaction; derefs to a connection.
pub struct Tx(OwnedMappedMutexGuard<Option<Transaction<'static, Postgres>>, Transaction<'static, Postgres>>);

impl std::ops::Deref for Tx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let slot = parts
            .extensions
            .get::<TxSlot>()
            .cloned()
            .ok_or_else(|| ApiError::internal("route has no transaction: it is not behind the write layer"))?;
        let guard: OwnedMutexGuard<Option<Transaction<'static, Postgres>>> = slot.0.lock_owned().await;
        OwnedMutexGuard::try_map(guard, |t| t.as_mut())
            .map(Tx)
            .map_err(|_| ApiError::internal("transaction already taken"))
    }
}
