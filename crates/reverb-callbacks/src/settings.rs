//! How the click handler reaches Orca and the services behind Echo-style callbacks.

use std::sync::Arc;
use std::time::Duration;

use reverb_config::Secret;
use reverb_model::judgment::ButtonKey;

use crate::identity::IdentitySettings;

/// `<serviceId>.baseUrl` lookup (e.g. `keel` → `http://keel:8087`).
pub type ServiceBaseUrls = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

#[derive(Clone)]
pub struct CallbackSettings {
    /// Orca's base URL (`services.orca.baseUrl`).
    pub orca_base_url: String,
    /// Deck's base URL (`spinnaker.baseUrl`), for links in messages.
    pub spinnaker_base_url: String,
    /// Fiat's base URL when Fiat is on (`services.fiat.enabled`).
    pub fiat_base_url: Option<String>,
    /// The key judgment button values are minted and checked with.
    pub button_key: ButtonKey,
    /// The Slack app's signing secret (`slack.app.signingSecret`): callbacks over HTTP are
    /// accepted only when signed with it. `None` (clicks over Socket Mode) refuses them all.
    pub signing_secret: Option<Secret>,
    pub identity: IdentitySettings,
    pub service_base_url: ServiceBaseUrls,
    /// How long to keep retrying while Orca (or a callback service) is unreachable or answers
    /// 5xx before giving up on a click.
    pub orca_retry_for: Duration,
    /// How long to read the stage back after the PATCH, waiting for Orca to act on it.
    pub readback_timeout: Duration,
    /// Pause between read-backs.
    pub readback_poll_interval: Duration,
    /// Timeout of each single HTTP request to Orca or a callback service.
    pub request_timeout: Duration,
}

impl CallbackSettings {
    /// Settings with the defaults: no identity fallback, no Fiat, no callback services, retry
    /// Orca for 2 minutes, read back for 20 seconds every 500 ms, 10 s per request.
    pub fn new(
        orca_base_url: impl Into<String>,
        spinnaker_base_url: impl Into<String>,
        button_key: ButtonKey,
    ) -> Self {
        Self {
            orca_base_url: orca_base_url.into(),
            spinnaker_base_url: spinnaker_base_url.into(),
            fiat_base_url: None,
            button_key,
            signing_secret: None,
            identity: IdentitySettings::default(),
            service_base_url: Arc::new(|_| None),
            orca_retry_for: Duration::from_secs(120),
            readback_timeout: Duration::from_secs(20),
            readback_poll_interval: Duration::from_millis(500),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for CallbackSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSettings")
            .field("orca_base_url", &self.orca_base_url)
            .field("spinnaker_base_url", &self.spinnaker_base_url)
            .field("fiat_base_url", &self.fiat_base_url)
            .field("identity", &self.identity)
            .field("orca_retry_for", &self.orca_retry_for)
            .field("readback_timeout", &self.readback_timeout)
            .field("readback_poll_interval", &self.readback_poll_interval)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}
