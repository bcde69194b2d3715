//! HTTP plumbing of the server: the error-shaping and request-metrics middleware. Error answers
//! and body reading themselves live in `reverb-http`, shared with the Echo passthrough.

pub mod errors;
pub mod metrics;

pub use reverb_http::body;
