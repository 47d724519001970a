//! Who is calling: keys, permissions, the authenticated key, and what authentication remembers
//! between requests (key cache, throttle, rate-limit windows).

pub mod authenticator;
pub mod key_cache;
pub mod keys;
pub mod permissions;
pub mod store;
pub mod window;

pub use permissions::{Permission, RequiredPermission};

use uuid::Uuid;

/// The key a request was authenticated with, available to every handler.
#[derive(Debug, Clone)]
pub struct AuthenticatedKey {
    pub key_id: i64,
    pub organization_id: Uuid,
    pub key_prefix: String,
    pub permissions: Vec<Permission>,
    pub rate_limit_per_minute: u32,
}

impl AuthenticatedKey {
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}
