//! Local stand-ins for Slack, Orca and Fiat (plus a generic recording server for Keel/Echo), used by
//! the end-to-end tests, by benchmarks and by the `reverb-sandbox` demo binary.
//!
//! Every fake is a real actix-web server on `127.0.0.1` (port 0 unless told otherwise), so Reverb
//! talks to it over HTTP exactly as it would to the real service. The fakes must be started from
//! inside a tokio runtime (`#[tokio::test(flavor = "multi_thread")]` or `#[tokio::main]`); each
//! returns a handle whose `Drop` (or `stop().await`) shuts the server down.
//!
//! This crate is a development and test tool; nothing in production depends on it.

mod error;
pub mod fiat;
mod http_client;
mod http_server;
mod ids;
pub mod orca;
mod recorder;
mod signing;
pub mod slack;
mod ui;
mod wait;

pub use error::SandboxError;
pub use fiat::{
    FakeFiat, FakeFiatConfig, FiatAuthorization, FiatFailure, FiatPermissions, FiatRequest,
    FiatUser, start_fake_fiat,
};
pub use orca::{
    DeliveryKind, FakeOrca, FakeOrcaConfig, Judgment, OrcaDelivery, OrcaPatch, OrcaRequest,
    OrcaState, SamplePipeline, start_fake_orca,
};
pub use recorder::{RecordedRequest, Recorder, start_recorder};
pub use signing::{sign, slack_form_encode, slack_json};
pub use slack::{
    ClickRequest, Failure, FakeSlack, FakeSlackConfig, MessageOrigin, SignedInteraction, SlackAuth,
    SlackCall, SlackChannel, SlackState, SlackStats, SlackStoredMessage, SlackUser,
    start_fake_slack,
};
pub use wait::eventually;
