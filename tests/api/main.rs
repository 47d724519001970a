//! Integration tests: the real server on a real socket against a real PostgreSQL.
//! One test binary (fast to link); one module per area.

mod helpers;

mod appointments;
mod audit;
mod availability;
mod clinic;
mod console;
mod consultations;
mod direct_reads;
mod fhir;
mod foundation;
mod holds;
mod hostile;
mod idempotency;
mod intake;
mod migrations;
mod openapi;
mod outage;
mod patients;
mod process;
mod rate_limit;
mod security;
mod sync;
mod tenancy;
mod webhooks;
