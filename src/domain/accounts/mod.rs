//! The console's people: owners and admins of one organization, their passwords, set-password
//! links, sessions and the throttle on failed sign-ins. Nothing here is PHI, and nothing here
//! knows of HTTP: the console and the command line (`klinivo user`) call in.

pub mod secrets;
pub mod sessions;
pub mod throttle;
pub mod users;

pub use sessions::Session;
pub use users::{Role, User};
