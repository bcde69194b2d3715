//! HTTP plumbing shared by the routes: error bodies, body reading, CORS, request metrics.

pub mod body;
pub mod errors;
pub mod metrics;
