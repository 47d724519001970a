//! The console (Settings → Integrations) driven over HTTP as a browser would: cookies, forms,
//! `Origin`; sign-in, sessions, CSRF, tenancy, roles and the audit of console actions. The
//! end-to-end suite in `e2e/` drives the same pages in a real Chromium.

mod browser;
mod cli;
mod keys;
mod people;
mod sessions;
