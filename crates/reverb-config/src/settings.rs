//! The typed settings Reverb runs on, with their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Origin;
use crate::resolve::RawConfig;
use crate::secret::Secret;

pub(crate) const DEFAULT_ADDRESS: &str = "0.0.0.0";
pub(crate) const DEFAULT_PORT: u16 = 8089;
/// Orca's largest events (an execution with hundreds of stages) stay well below this.
pub(crate) const DEFAULT_MAX_REQUEST_BODY_BYTES: usize = 16 << 20;
/// Request bodies held in memory at once, all connections together: with the default body
/// limit, three maximum-size bodies, and well inside the chart's 128 MiB memory limit.
pub(crate) const DEFAULT_MAX_BUFFERED_BODY_BYTES: usize = 48 << 20;
/// Echo's packaged `echo.yml` defaults, placeholders included.
pub(crate) const DEFAULT_SPINNAKER_BASE_URL: &str =
    "${services.deck.baseUrl:http://localhost:9000}";
pub(crate) const DEFAULT_ORCA_BASE_URL: &str = "${services.orca.baseUrl:http://localhost:8083}";
/// Where every Spinnaker service looks for Fiat.
pub(crate) const DEFAULT_FIAT_BASE_URL: &str = "http://localhost:7003";
pub(crate) const SLACK_CHAT_BASE_URL: &str = "https://slack.com";
pub(crate) const SLACK_WEBHOOK_BASE_URL: &str = "https://hooks.slack.com/services";
pub(crate) const DEFAULT_STORE_PATH: &str = "data/reverb.db";
/// Echo posts interaction replies to this host plus the `response_url`'s path.
pub(crate) const DEFAULT_RESPONSE_URL_BASE: &str = "https://hooks.slack.com";

/// Everything Reverb reads from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    /// `spinnaker.baseUrl` (Deck), used in every message link; no trailing slash.
    pub spinnaker_base_url: String,
    /// `orca.baseUrl`; no trailing slash.
    pub orca_base_url: String,
    /// Fiat's base URL when `services.fiat.enabled` (`services.fiat.baseUrl`, Spinnaker's own
    /// keys); `None`: Fiat is off and judgments are not checked against it.
    pub fiat_base_url: Option<String>,
    pub slack: SlackSettings,
    pub reverb: ReverbSettings,
    /// Active profiles, in order.
    pub profiles: Vec<String>,
    /// Files actually read, lowest precedence first.
    pub sources: Vec<PathBuf>,
    /// The merged property view, for lookups beyond the typed fields.
    pub raw: RawConfig,
    /// Where each key in [`Settings::describe`] came from; keys not listed are defaults.
    pub origins: BTreeMap<String, Origin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// `server.address`, default `0.0.0.0`.
    pub address: String,
    /// `server.port`, default 8089.
    pub port: u16,
    /// `reverb.server.maxRequestBodySize`, default 16 MiB.
    pub max_request_body_bytes: usize,
    /// `reverb.server.maxBufferedBodySize`: bytes of request bodies in memory at once, over all
    /// connections (default 48 MiB); a request waits for room, up to its body timeout.
    pub max_buffered_body_bytes: usize,
    /// `reverb.server.bodyTimeout`: a request body must arrive whole within this (default 30s).
    pub body_timeout: Duration,
    /// `reverb.server.headerTimeout`: the request line and headers must arrive within this
    /// (default 5s).
    pub header_timeout: Duration,
    /// `reverb.server.idleTimeout`: an idle keep-alive connection is closed after this
    /// (default 30s).
    pub idle_timeout: Duration,
    /// `reverb.server.maxConnections`: open connections at once (default 1024).
    pub max_connections: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlackSettings {
    /// `slack.enabled`, default false.
    pub enabled: bool,
    /// `slack.botName` (ignored by Echo; the display name in Reverb's Slack manifest).
    pub bot_name: Option<String>,
    /// `slack.*`: event notifications and non-interactive `POST /notifications`.
    pub legacy: SlackClientSettings,
    /// `slack.app.*`: interactive messages and `users.info`; unset fields fall back to `slack.*`.
    pub app: SlackClientSettings,
    /// `slack.app.signingSecret`, else `slack.signingSecret`.
    pub signing_secret: Option<Secret>,
    /// `slack.app.verificationToken`, else `slack.verificationToken` (bound, never checked, as in Echo).
    pub verification_token: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackClientSettings {
    /// Bot token (`xoxb-…`) or incoming-webhook path (`T…/B…/…`); blank counts as unset.
    pub token: Option<Secret>,
    /// Explicit non-blank `baseUrl` (trailing slash trimmed), else
    /// `https://hooks.slack.com/services` in incoming-webhook mode, else `https://slack.com`.
    pub base_url: String,
    /// `forceUseIncomingWebhook`, or a non-blank token with at least two `/`.
    pub incoming_webhook: bool,
    /// `sendCompactMessages` (`send-compact-messages`).
    pub send_compact_messages: bool,
    /// `expandUserNames`: sends `link_names=1`.
    pub expand_user_names: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReverbSettings {
    /// `reverb.store.path`, default `data/reverb.db` (relative to the working directory).
    pub store_path: PathBuf,
    /// `reverb.templates.dir`: an operator's template overrides.
    pub templates_dir: Option<PathBuf>,
    /// `reverb.slack.messageStyle`.
    pub message_style: MessageStyle,
    /// `reverb.slack.threads`, default false.
    pub threads: bool,
    /// `reverb.slack.responseUrlBase`: where `response_url` paths are posted (Echo: Slack's hooks
    /// host, never the host inside a payload). Only a Slack stand-in changes it.
    pub response_url_base: String,
    /// `reverb.logging.format`.
    pub log_format: LogFormat,
    /// `reverb.logging.level` (`RUST_LOG` wins).
    pub log_level: Option<String>,
    pub judgments: JudgmentSettings,
    pub delivery: DeliverySettings,
    /// `reverb.echo.baseUrl`: an Echo behind Reverb; no trailing slash.
    pub echo_base_url: Option<String>,
}

/// How Slack messages are laid out (`reverb.slack.messageStyle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageStyle {
    /// Block Kit blocks inside one coloured attachment.
    #[default]
    Blocks,
    /// Echo's legacy attachment, key for key.
    Attachments,
}

impl MessageStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blocks => "blocks",
            Self::Attachments => "attachments",
        }
    }
}

impl std::fmt::Display for MessageStyle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message style '{0}': use 'blocks' or 'attachments'")]
pub struct UnknownMessageStyle(pub String);

impl std::str::FromStr for MessageStyle {
    type Err = UnknownMessageStyle;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "blocks" => Ok(Self::Blocks),
            "attachments" => Ok(Self::Attachments),
            _ => Err(UnknownMessageStyle(s.to_string())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgmentSettings {
    /// `reverb.judgments.interactive`, default true.
    pub interactive: bool,
    /// `reverb.judgments.identityFallback`, default `none`.
    pub identity_fallback: IdentityFallback,
    /// `reverb.judgments.spinnakerUser`: how a Slack e-mail becomes a Spinnaker user id.
    pub spinnaker_user: SpinnakerUserRule,
    /// `reverb.judgments.usersFile`: explicit Slack user → Spinnaker user entries.
    pub users_file: Option<crate::users_file::UsersFile>,
    /// `reverb.judgments.allowGuests`: let restricted and single-channel guests judge.
    pub allow_guests: bool,
    /// `reverb.judgments.allowExternalUsers`: let users of other organisations (Slack Connect
    /// shared channels) judge.
    pub allow_external_users: bool,
}

/// Who a judgment is recorded as when Slack gives no e-mail for the clicker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentityFallback {
    /// Nobody: refuse the click. The safe default.
    #[default]
    None,
    /// The Slack username: not unique, not verified. An explicit, unsafe opt-in.
    Username,
}

/// The Spinnaker user id made from a clicker's Slack e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpinnakerUserRule {
    /// `alice@example.com`.
    #[default]
    Email,
    /// `alice` (LDAP `uid`, SAML names).
    LocalPart,
}

/// Tuning of the delivery engine (`reverb.delivery.*`); `reverb-slack` takes it as is.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// `reverb.delivery.maxAge`: give up on a message older than this (default 24h).
    pub max_age: Duration,
    /// `reverb.delivery.concurrency`: deliveries in flight (default 16).
    pub concurrency: usize,
    /// `reverb.delivery.channelRate`: messages per second per channel (default 1.0).
    pub channel_rate: f64,
    /// `reverb.delivery.channelBurst` (default 3).
    pub channel_burst: u32,
    /// `reverb.delivery.requestTimeout` (default 10s).
    pub request_timeout: Duration,
    /// `reverb.delivery.initialBackoff` (default 1s).
    pub initial_backoff: Duration,
    /// `reverb.delivery.maxBackoff` (default 5m).
    pub max_backoff: Duration,
    /// `reverb.delivery.maxRetryAfter`: the longest `Retry-After` obeyed (default 15m); a longer
    /// one is clamped to it.
    pub max_retry_after: Duration,
}

/// One line of `reverb config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub key: String,
    pub value: String,
    pub origin: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            address: DEFAULT_ADDRESS.to_owned(),
            port: DEFAULT_PORT,
            max_request_body_bytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
            max_buffered_body_bytes: DEFAULT_MAX_BUFFERED_BODY_BYTES,
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

impl Default for SlackClientSettings {
    fn default() -> Self {
        SlackClientSettings {
            token: None,
            base_url: SLACK_CHAT_BASE_URL.to_owned(),
            incoming_webhook: false,
            send_compact_messages: false,
            expand_user_names: false,
        }
    }
}

impl Default for JudgmentSettings {
    fn default() -> Self {
        JudgmentSettings {
            interactive: true,
            identity_fallback: IdentityFallback::None,
            spinnaker_user: SpinnakerUserRule::Email,
            users_file: None,
            allow_guests: false,
            allow_external_users: false,
        }
    }
}

impl DeliverySettings {
    /// `initialBackoff`, `maxBackoff` and `maxRetryAfter` as the one backoff: no wait before a
    /// retry, computed or asked for with `Retry-After`, is longer than `maxRetryAfter`.
    pub fn backoff(&self) -> reverb_support::Backoff {
        reverb_support::Backoff {
            initial: self.initial_backoff,
            max: self.max_backoff,
            ceiling: self.max_retry_after,
        }
    }
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_age: Duration::from_secs(24 * 3600),
            concurrency: 16,
            channel_rate: 1.0,
            channel_burst: 3,
            request_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(15 * 60),
        }
    }
}

impl Default for ReverbSettings {
    fn default() -> Self {
        ReverbSettings {
            store_path: PathBuf::from(DEFAULT_STORE_PATH),
            templates_dir: None,
            message_style: MessageStyle::Blocks,
            threads: false,
            response_url_base: DEFAULT_RESPONSE_URL_BASE.to_owned(),
            log_format: LogFormat::Text,
            log_level: None,
            judgments: JudgmentSettings::default(),
            delivery: DeliverySettings::default(),
            echo_base_url: None,
        }
    }
}

/// What loading nothing at all gives: every default, profile `local`, no sources.
impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings::default(),
            spinnaker_base_url: "http://localhost:9000".to_owned(),
            orca_base_url: "http://localhost:8083".to_owned(),
            fiat_base_url: None,
            slack: SlackSettings::default(),
            reverb: ReverbSettings::default(),
            profiles: vec![crate::profiles::DEFAULT_PROFILE.to_owned()],
            sources: Vec::new(),
            raw: RawConfig::default(),
            origins: BTreeMap::new(),
        }
    }
}

impl Settings {
    /// `<service>.baseUrl` by relaxed lookup (e.g. `keel.baseUrl`), for Echo's interactive
    /// callbacks; `None` when unset, blank or unresolvable. Trailing slash trimmed.
    pub fn service_base_url(&self, service_id: &str) -> Option<String> {
        let key = format!("{service_id}.baseUrl");
        match self.raw.get(&key) {
            Ok(Some(resolved)) if crate::bind::is_encrypted_reference(&resolved.value) => {
                tracing::warn!(
                    key,
                    "service base URL is an encrypted: reference, which Reverb cannot decrypt"
                );
                None
            }
            Ok(Some(resolved)) => {
                let url = resolved.value.trim().trim_end_matches('/');
                (!url.is_empty()).then(|| url.to_owned())
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "service base URL unusable");
                None
            }
        }
    }

    /// Interactivity is on when a signing secret is present and `reverb.judgments.interactive`.
    pub fn interactive_judgments(&self) -> bool {
        self.slack.signing_secret.is_some() && self.reverb.judgments.interactive
    }

    /// Where `key` (as listed by [`Settings::describe`]) came from.
    pub fn origin_of(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }
}
