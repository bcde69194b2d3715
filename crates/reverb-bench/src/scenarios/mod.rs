//! One module per benchmark; each prints its tables and writes `bench-results/<name>.json`.

pub mod callback;
mod common;
pub mod events;
pub mod footprint;
pub mod makespan;
pub mod slow_clients;
