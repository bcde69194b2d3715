//! Helpers for the end-to-end tests (the one test binary is `tests/it/`): start the real
//! `reverb` binary on a port of its own choosing with a config folder of its own, talk to it
//! over HTTP, read its metrics, and wait for things with a deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod metrics;
mod reverb;
mod wait;

pub use metrics::{metric, metric_sample};
pub use reverb::{ConfigDir, Reverb, reverb_bin, run_reverb};
pub use wait::eventually;
