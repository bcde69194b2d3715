//! Reverb's server: actix-web routes wired to the notification, delivery and callback crates,
//! and the `reverb` command line.

pub mod cli;
pub mod echo;
mod http;
mod outbox_cmd;
mod rendering;
mod routes;
mod startup;
mod state;
mod telemetry;

pub use startup::{Application, BuildError};
