//! Pieces of the clinic's domain that several front doors share (the REST API, clinic set-up,
//! the demo seed, the benchmark): no HTTP here, and nothing here imports `http` or `api`.

pub mod address;
pub mod search_text;
pub mod slots;

pub use address::Address;
