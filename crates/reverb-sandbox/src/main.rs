//! `reverb-sandbox`: a fake Slack, a fake Orca and a fake Fiat for demos, wired to a running
//! Reverb. The fake Orca checks permissions with the fake Fiat.
//!
//! `reverb-sandbox --slack-addr 127.0.0.1:9101 --orca-addr 127.0.0.1:9102 \
//!     --fiat-addr 127.0.0.1:9103 --reverb-url http://127.0.0.1:8089 --signing-secret <secret>`
//! Then `curl -X POST http://127.0.0.1:9102/_sandbox/pipelines` starts a sample pipeline.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use reverb_sandbox::{
    FakeFiatConfig, FakeOrcaConfig, FakeSlackConfig, start_fake_fiat, start_fake_orca,
    start_fake_slack,
};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "reverb-sandbox",
    about = "Fake Slack, Orca and Fiat for trying Reverb locally (never for production)"
)]
struct Args {
    /// Where the fake Slack listens (Reverb's `slack.baseUrl`).
    #[arg(long, default_value = "127.0.0.1:9101")]
    slack_addr: SocketAddr,
    /// Where the fake Orca listens (Reverb's `orca.baseUrl`).
    #[arg(long, default_value = "127.0.0.1:9102")]
    orca_addr: SocketAddr,
    /// Where the fake Fiat listens (Reverb's `services.fiat.baseUrl`).
    #[arg(long, default_value = "127.0.0.1:9103")]
    fiat_addr: SocketAddr,
    /// Reverb's base URL: Orca's events and notifications go there.
    #[arg(long, default_value = "http://127.0.0.1:8089")]
    reverb_url: String,
    /// Slack app signing secret (Reverb's `slack.app.signingSecret`).
    #[arg(
        long,
        env = "REVERB_SANDBOX_SIGNING_SECRET",
        default_value = "sandbox-signing-secret"
    )]
    signing_secret: String,
    /// Where clicks go; default `{reverb-url}/notifications/callbacks/slack`.
    #[arg(long)]
    interactivity_url: Option<String>,
    /// Slack's per-channel limit (messages per second; 0 = unlimited).
    #[arg(long, default_value_t = 1.0)]
    rate_per_sec: f64,
    #[arg(long, default_value_t = 3)]
    burst: u32,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let reverb_url = args.reverb_url.trim_end_matches('/').to_owned();
    let interactivity_url = args
        .interactivity_url
        .unwrap_or_else(|| format!("{reverb_url}/notifications/callbacks/slack"));

    let slack = start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: args.rate_per_sec,
        channel_burst: args.burst,
        signing_secret: args.signing_secret,
        interactivity_url: Some(interactivity_url.clone()),
        bind: Some(args.slack_addr),
        ..FakeSlackConfig::default()
    })
    .await
    .with_context(|| format!("starting the fake Slack on {}", args.slack_addr))?;
    let fiat = start_fake_fiat(FakeFiatConfig {
        bind: Some(args.fiat_addr),
        ..FakeFiatConfig::default()
    })
    .await
    .with_context(|| format!("starting the fake Fiat on {}", args.fiat_addr))?;
    let orca = start_fake_orca(FakeOrcaConfig {
        reverb_url: Some(reverb_url.clone()),
        bind: Some(args.orca_addr),
        fiat: Some(fiat.permissions()),
        ..FakeOrcaConfig::default()
    })
    .await
    .with_context(|| format!("starting the fake Orca on {}", args.orca_addr))?;

    tracing::info!(
        slack = %slack.base_url(),
        orca = %orca.base_url(),
        fiat = %fiat.base_url(),
        reverb = %reverb_url,
        interactivity = %interactivity_url,
        "sandbox ready: POST {}/_sandbox/pipelines starts a sample pipeline; Slack state at {}/_sandbox/channels",
        orca.base_url(),
        slack.base_url(),
    );

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("stopping");
    slack.stop().await;
    orca.stop().await;
    fiat.stop().await;
    Ok(())
}
