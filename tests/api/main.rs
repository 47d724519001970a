//! Integration tests: the real server on a real socket against a real PostgreSQL.
//! One test binary (fast to link); one module per area.

mod helpers;

mod foundation;
mod process;
mod rate_limit;
mod idempotency;
