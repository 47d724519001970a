//! Clinic set-up, which has no public write API: `import` applies a clinic file (locations,
//! providers, their weekly working hours) idempotently; `demo` seeds a realistic demo clinic.
//! Both write straight to the database in one transaction and record no events.

pub mod demo;
pub mod import;
