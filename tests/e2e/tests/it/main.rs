//! The end-to-end tests, as one test binary: the real `reverb` binary over HTTP against the
//! sandbox's fake Slack, Orca and Fiat, and recording stand-ins for Keel and Echo. One module per
//! area. What they share is the crate's library (`reverb_e2e`: starting Reverb, waiting,
//! metrics) and two harnesses here: `slackops` (Reverb with a fake Slack, Orca, Fiat and Keel)
//! and `delivery::support` (Reverb with a fake Slack, and the outbox).
//!
//! Build the binaries first: `cargo build --workspace --bins` (`make test` does).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod slackops;

mod delivery;
mod echo_passthrough;
mod events;
mod foundation;
mod hardening_delivery;
mod hardening_http;
mod hardening_markup;
mod judgments;
mod notifications;
mod prometheus;
mod trust;
