//! Reverb's HTTP edge, shared by the server's own routes and the Echo passthrough's proxy:
//! every error answers in Spinnaker's JSON shape ([`errors`]), and every request body is read
//! under one size limit, one deadline and one buffered-bytes budget ([`body`]).

pub mod body;
pub mod errors;

pub use errors::{ApiError, error_body, error_response};
