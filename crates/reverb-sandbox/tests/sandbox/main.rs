//! Integration tests for the sandbox fakes, over real HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod click;
mod fiat;
mod identity;
mod orca;
mod orca_fiat;
mod rate_limit;
mod recorder;
mod runtime;
mod slack_api;
mod support;
mod ui;
