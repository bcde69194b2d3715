//! Integration tests for the sandbox fakes, over real HTTP on 127.0.0.1.

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
