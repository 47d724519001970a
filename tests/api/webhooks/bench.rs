//! (benchmark, below)
