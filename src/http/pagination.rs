//! The paging of every list, as the API's query parameters give it: see [`crate::domain::page`].

pub use crate::domain::page::{Page, PageRequest, DEFAULT_LIMIT, MAX_LIMIT};
