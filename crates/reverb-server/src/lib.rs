//! Reverb's server: wiring only. It builds the parts (store, delivery engine, click handler,
//! Echo passthrough), puts them behind actix-web's route table (`routes::configure`), and runs the
//! `reverb` command line.

pub mod cli;
mod http;
mod outbox_cmd;
mod rendering;
mod routes;
mod startup;
mod state;
mod telemetry;

/// The Echo passthrough lives in `reverb-echo`; the routes and the shared state reach it here.
use reverb_echo as echo;

pub use startup::{Application, BuildError};
