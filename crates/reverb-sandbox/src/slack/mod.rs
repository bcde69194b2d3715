//! A fake Slack: Web API (`/api/<method>`), incoming webhooks, `response_url`, signed clicks
//! towards Reverb's Interactivity URL, per-channel rate limits and fault injection.
//!
//! Seed workspace: channels `general` (C0GENERAL01), `deploys` (C0DEPLOYS01), `deploy-approvals`
//! (C0DEPLOY01), `alerts` (C0ALERTS01), `archived` (archived: `is_archived`) and
//! `private-noinvite` (G0NOINVITE1: `not_in_channel`); any other valid `#name` is created when
//! first posted to, except the names in [`REJECTED_CHANNEL_NAMES`].
//!
//! Users (team T00000000 unless noted):
//! - U0JANE0001 jane (jane@example.com), U0JOHN0001 john.doe (john@doe.com), U0MALLORY1 mallory
//!   (mallory@example.com), U0NOEMAIL1 noemail (no email);
//! - U0VIEWER01 viewer (viewer@example.com), U0ADMIN001 admin (admin@example.com): the fake
//!   Fiat's read-only user and Spinnaker admin (not Slack admins);
//! - U0GUEST001 guest (guest@example.com, `is_restricted`), U0SGUEST01 sguest
//!   (sguest@example.com, single-channel guest: `is_restricted` and `is_ultra_restricted`);
//! - U0GONE0001 gone (gone@example.com, `deleted`), U0BOT00001 deploybot (`is_bot`, no email);
//! - U0EXTERN01 extern (extern@other.example) of team T0OTHER001: another organisation's member
//!   of a Slack Connect channel (told apart by `team_id`; not `is_stranger`, which Slack sets
//!   only for people sharing no channel with the app);
//! - U0WEIRD001 jane.doe (`  Jane.Doe@Example.COM `, as stored), U0UNICOD01 john.u
//!   (`jöhn@exämple.com`);
//! - the bot U0REVERB01 reverb.
//!
//! Scopes: the token has [`DEFAULT_SCOPES`] unless configured otherwise; every Web API answer
//! to a valid token carries `x-oauth-scopes`, a method lacking its scope answers
//! `missing_scope`, and without `users:read.email` user objects carry no `profile.email`.

mod blocks;
mod click;
mod control;
mod hooks;
mod model;
mod rate_limit;
mod reply;
mod request;
mod routes;
mod state;
mod web_api;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) use click::selector_for;
pub use click::{ClickRequest, SignedInteraction};
pub use model::{
    Failure, MessageOrigin, SlackAuth, SlackCall, SlackChannel, SlackStats, SlackStoredMessage,
    SlackUser,
};
pub use state::{OTHER_TEAM_ID, REJECTED_CHANNEL_NAMES, SlackState};

use crate::error::SandboxError;
use crate::http_server::{self, RunningServer};
use state::InitialSettings;

pub const TEAM_ID: &str = "T00000000";
pub const TEAM_DOMAIN: &str = "example";
/// The bot's ids (docs/echo-contract.md, "Payloads").
pub const BOT_ID: &str = "B0123456789";
pub const BOT_USER_ID: &str = "U0REVERB01";
pub const APP_ID: &str = "A0123456789";
/// The deprecated verification token Slack still puts in every payload.
pub const VERIFICATION_TOKEN: &str = "unused-verification-token";
/// An incoming-webhook "token" in Echo's sense (`slack.token` with two slashes): with
/// `slack.baseUrl` = [`FakeSlack::webhook_base_url`], Echo posts to `/services/<this>`.
pub const WEBHOOK_TOKEN: &str = "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
/// The bot token's scopes by default: what Reverb's app manifest asks for.
pub const DEFAULT_SCOPES: &[&str] = &[
    "chat:write",
    "chat:write.public",
    "users:read",
    "users:read.email",
    "im:write",
    "channels:read",
    "groups:read",
];

#[derive(Debug, Clone)]
pub struct FakeSlackConfig {
    /// Messages per second per channel (chat.postMessage and webhooks). 0 or ∞ = unlimited.
    pub channel_rate_per_sec: f64,
    pub channel_burst: u32,
    pub signing_secret: String,
    /// Reverb's callback URL (e.g. `http://127.0.0.1:8089/notifications/callbacks/slack`).
    pub interactivity_url: Option<String>,
    pub bind: Option<SocketAddr>,
    /// Tokens starting with one of these are valid; others get `invalid_auth`.
    pub token_prefixes: Vec<String>,
    /// The scopes granted to every valid token (default [`DEFAULT_SCOPES`]).
    pub scopes: Vec<String>,
}

impl Default for FakeSlackConfig {
    fn default() -> Self {
        Self {
            channel_rate_per_sec: 1.0,
            channel_burst: 3,
            signing_secret: "sandbox-signing-secret".to_owned(),
            interactivity_url: None,
            bind: None,
            token_prefixes: vec!["xoxb-".to_owned(), "xoxp-".to_owned()],
            scopes: DEFAULT_SCOPES
                .iter()
                .map(|scope| (*scope).to_owned())
                .collect(),
        }
    }
}

/// A running fake Slack. Dropping it stops the server.
pub struct FakeSlack {
    state: Arc<SlackState>,
    server: RunningServer,
}

/// Starts a fake Slack on `cfg.bind` (default `127.0.0.1:0`). Needs a tokio runtime.
pub async fn start_fake_slack(cfg: FakeSlackConfig) -> io::Result<FakeSlack> {
    let runtime = http_server::current_runtime()?;
    let listener = http_server::bind(cfg.bind)?;
    let base_url = http_server::base_url(listener.local_addr()?);
    let initial = InitialSettings {
        rate_per_sec: cfg.channel_rate_per_sec,
        burst: cfg.channel_burst,
        interactivity_url: cfg.interactivity_url,
        scopes: cfg.scopes,
    };
    let http = crate::http_client::build()?;
    let state = Arc::new(SlackState::new(
        base_url,
        cfg.signing_secret,
        cfg.token_prefixes,
        initial,
        http,
        runtime.clone(),
    ));
    let server = RunningServer::spawn(listener, &runtime, routes::configure(state.clone()))?;
    tracing::info!(url = %state.base_url(), "fake Slack listening");
    Ok(FakeSlack { state, server })
}

impl FakeSlack {
    /// `http://127.0.0.1:<port>`; the Web API is under `{base}/api/<method>` (Echo's `slack.baseUrl`).
    pub fn base_url(&self) -> String {
        self.state.base_url().to_owned()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Where this fake serves a `response_url` it handed out (those read
    /// `https://hooks.slack.com/actions/…`, as Slack writes them): the same path on this fake.
    pub fn local_url(&self, response_url: &str) -> String {
        let path = response_url
            .strip_prefix("https://hooks.slack.com")
            .unwrap_or(response_url);
        format!("{}{path}", self.state.base_url())
    }

    /// `{base}/services`: Echo's `slack.baseUrl` for incoming-webhook mode (with [`WEBHOOK_TOKEN`]).
    pub fn webhook_base_url(&self) -> String {
        format!("{}/services", self.state.base_url())
    }

    /// The shared state (read accessors for pages and tests).
    pub fn state(&self) -> &Arc<SlackState> {
        &self.state
    }

    /// Every request received, in arrival order.
    pub fn calls(&self) -> Vec<SlackCall> {
        self.state.calls()
    }

    /// The requests to one method (`chat.postMessage`, `webhook`, `response_url`, …).
    pub fn calls_to(&self, method: &str) -> Vec<SlackCall> {
        self.state
            .calls()
            .into_iter()
            .filter(|call| call.method == method)
            .collect()
    }

    /// Current messages in a channel (`#name`, `name`, id, or a user id for the DM), edits applied.
    pub fn posted(&self, channel: &str) -> Vec<SlackStoredMessage> {
        self.state.messages(channel)
    }

    /// Ephemeral messages in a channel (chat.postEphemeral, ephemeral response_url posts).
    pub fn ephemerals(&self, channel: &str) -> Vec<SlackStoredMessage> {
        self.state.ephemerals(channel)
    }

    /// Number of 429 answers so far.
    pub fn rate_limited_count(&self) -> usize {
        self.state.stats().rate_limited
    }

    /// Makes the next `times` requests to `method` fail (`"*"` = any Slack-facing request).
    pub fn fail_next(&self, method: &str, times: usize, failure: Failure) {
        self.state.fail_next(method, times, failure);
    }

    /// Per-channel limit; 0 or `f64::INFINITY` = unlimited. Buckets restart full.
    pub fn set_rate_limit(&self, per_sec: f64, burst: u32) {
        self.state.set_rate_limit(per_sec, burst);
    }

    pub fn set_interactivity_url(&self, url: Option<&str>) {
        self.state.set_interactivity_url(url.map(str::to_owned));
    }

    /// The scopes the token has now.
    pub fn scopes(&self) -> Vec<String> {
        self.state.scopes()
    }

    /// Grants exactly these scopes from now on, e.g. `&["chat:write", "users:read"]` to see
    /// Reverb without `users:read.email`. [`Self::reset`] returns to the configured ones.
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.state
            .set_scopes(scopes.iter().map(|scope| (*scope).to_owned()).collect());
    }

    pub fn add_user(&self, user: SlackUser) {
        self.state.add_user(user);
    }

    pub fn add_channel(&self, channel: SlackChannel) {
        self.state.add_channel(channel);
    }

    /// Stores a message as if the bot had posted it earlier, with the `ts` it carries (e.g. the
    /// message a recorded click names). Its `channel` may be an id or a name.
    pub fn put_message(&self, message: SlackStoredMessage) -> Result<(), SandboxError> {
        let channel = message.channel.clone();
        self.state
            .put_message(message)
            .then_some(())
            .ok_or(SandboxError::ChannelNotFound(channel))
    }

    /// Accepts `response_url` (as Slack writes it, `https://hooks.slack.com/actions/…`, or its
    /// path) as the response_url of message `message_ts` in `channel`, clicked by `user`, as if
    /// this fake had handed it out with a click; `legacy` for an `interactive_message` click
    /// (its posts replace the original by default).
    pub fn issue_response_url(
        &self,
        response_url: &str,
        channel: &str,
        message_ts: &str,
        user: &str,
        legacy: bool,
    ) -> Result<(), SandboxError> {
        let path = response_url
            .strip_prefix("https://hooks.slack.com")
            .unwrap_or(response_url);
        let key = path.strip_prefix("/actions/").unwrap_or(path);
        self.state
            .issue_response_url(key, channel, message_ts, user, legacy)
            .then_some(())
            .ok_or_else(|| SandboxError::ChannelNotFound(channel.to_owned()))
    }

    /// Back to the seed workspace and the start configuration.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Clicks the button (or legacy attachment button) `action` of message `ts` in `channel` as
    /// user `user` (a Slack user id), and returns Reverb's answer.
    pub async fn click(
        &self,
        channel: &str,
        ts: &str,
        action: &str,
        user: &str,
    ) -> Result<reqwest::Response, SandboxError> {
        self.click_with(ClickRequest::new(channel, ts, action, user))
            .await
    }

    /// A click with options (menu choice, timestamp or secret overrides, forged team, value or
    /// message binding).
    pub async fn click_with(
        &self,
        request: ClickRequest,
    ) -> Result<reqwest::Response, SandboxError> {
        if self.state.interactivity_url().is_none() {
            return Err(SandboxError::NoInteractivityUrl);
        }
        let interaction = click::build(&self.state, &request)?;
        click::send(&self.state, interaction).await
    }

    /// Builds and signs a click without sending it (to inspect or send it yourself).
    pub fn build_click(&self, request: &ClickRequest) -> Result<SignedInteraction, SandboxError> {
        click::build(&self.state, request)
    }

    /// Stops the server and waits until it is down.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}
