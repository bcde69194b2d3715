//! "Reverb in front of Echo": Reverb answers what it handles itself (Slack notifications,
//! Slack callbacks, health, metrics) and hands everything else to an existing Echo at
//! `reverb.echo.baseUrl` (triggers, webhooks, cron, pubsub, e-mail, Jira...).
//!
//! - Events (`POST /`) are stored and forwarded by a durable, ordered forwarder
//!   ([`EchoPassthrough::forward_event`]); Echo answers events before processing them anyway,
//!   so nothing waits on Echo.
//! - `POST /notifications` of a type Reverb does not send is relayed synchronously
//!   ([`EchoPassthrough::forward_notification`]): Orca's Jira stage reads Echo's answer.
//! - Every other route is proxied as it is, streamed both ways ([`proxy_to_echo`]).
//!
//! Everything sent to Echo carries `X-Reverb-Forwarded: 1`, and such a request is never
//! forwarded again, so a misconfiguration cannot make requests circle.
//!
//! The server only wires it: [`EchoPassthrough::from_settings`] at start, [`proxy_to_echo`] as
//! the default service, and the two hand-offs from its `POST /` and `POST /notifications`.

mod forwarder;
mod headers;
mod health;
mod metrics;
mod proxy;
mod target;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use prometheus::Registry;
use reverb_config::Settings;
use reverb_http::ApiError;
use reverb_store::{Store, StoreError};
use reverb_support::{Backoff, WorkerGone};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use headers::{FORWARDED_HEADER, is_forwarded};
pub use proxy::{RelayedFromEcho, proxy_to_echo};
pub use target::{ECHO_BASE_URL_KEY, EchoConfigError};

use health::HealthCache;
use metrics::EchoMetrics;
use target::EchoTarget;

/// The Echo behind Reverb. Cheap to clone; every clone shares one forwarder.
#[derive(Clone)]
pub struct EchoPassthrough {
    inner: Arc<Inner>,
}

/// Timings, fixed in production and shortened by tests.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    /// The event forwarder's retry delay: doubles per failure from `initial`, ±20 % jitter, never
    /// longer than `ceiling`.
    pub backoff: Backoff,
    /// How often the forwarder looks at the store when nobody woke it.
    pub idle_poll: Duration,
    /// Health checks of Echo while it answers UP, and while it does not.
    pub probe_interval_up: Duration,
    pub probe_interval_down: Duration,
    /// Limits for the small calls (health check, metadata) and for one forwarded event.
    pub probe_timeout: Duration,
    pub metadata_timeout: Duration,
    pub forward_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
            idle_poll: Duration::from_secs(5),
            probe_interval_up: Duration::from_secs(5),
            probe_interval_down: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(2),
            metadata_timeout: Duration::from_secs(5),
            forward_timeout: Duration::from_secs(30),
        }
    }
}

pub(crate) struct Inner {
    target: EchoTarget,
    store: Arc<dyn Store>,
    /// For the small calls Reverb makes on its own behalf (health check, metadata).
    http: reqwest::Client,
    /// For relaying callers' requests: never follows redirects (the caller sees Echo's 3xx)
    /// and has no overall deadline (large bodies stream for as long as they take).
    relay: reqwest::Client,
    metrics: EchoMetrics,
    max_body_bytes: usize,
    timing: Timing,
    /// An event was stored: the idle forwarder should look.
    new_work: Notify,
    /// Echo answered UP again after being down: a backing-off forwarder should retry now.
    echo_back: Notify,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    health: HealthCache,
    /// Held while storing an event and while re-counting the backlog, so the pending gauge
    /// never loses an increment to a concurrent re-count.
    counting: Mutex<()>,
}

/// Storing an event for Echo failed; the caller should hear about it (Orca logs it).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("cannot store the event for the Echo behind Reverb: {0}")]
    Store(#[from] StoreError),
    #[error("cannot store the event for the Echo behind Reverb: the store task failed: {0}")]
    Task(#[from] WorkerGone),
}

impl From<ForwardError> for ApiError {
    fn from(e: ForwardError) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl EchoPassthrough {
    /// `None` when `reverb.echo.baseUrl` is unset. Fails when it points at Reverb itself or
    /// is unusable. The metrics are registered either way (a passthrough that is off shows 0).
    pub fn from_settings(
        settings: &Settings,
        store: Arc<dyn Store>,
        http: reqwest::Client,
        registry: &Registry,
    ) -> Result<Option<Self>, EchoConfigError> {
        let metrics = EchoMetrics::register(registry)?;
        let Some(raw) = settings.reverb.echo_base_url.as_deref() else {
            return Ok(None);
        };
        let target = EchoTarget::parse(raw, &settings.server)?;
        let relay = relay_client()?;
        Ok(Some(Self::with_parts(
            target,
            store,
            http,
            relay,
            metrics,
            settings.server.max_request_body_bytes,
            Timing::default(),
        )))
    }

    pub(crate) fn with_parts(
        target: EchoTarget,
        store: Arc<dyn Store>,
        http: reqwest::Client,
        relay: reqwest::Client,
        metrics: EchoMetrics,
        max_body_bytes: usize,
        timing: Timing,
    ) -> Self {
        let (stop, _) = watch::channel(false);
        let health = HealthCache::new();
        Self {
            inner: Arc::new(Inner {
                target,
                store,
                http,
                relay,
                metrics,
                max_body_bytes,
                timing,
                new_work: Notify::new(),
                echo_back: Notify::new(),
                stop,
                tasks: Mutex::new(Vec::new()),
                health,
                counting: Mutex::new(()),
            }),
        }
    }

    /// Where Echo is, password masked.
    pub fn base_url(&self) -> &str {
        self.inner.target.shown()
    }

    /// Spawn the durable event forwarder and Echo's health check on the current tokio
    /// runtime. Calling it again does nothing.
    pub fn start(&self) {
        let mut tasks = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !tasks.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                "EchoPassthrough::start needs a tokio runtime; nothing is forwarded to Echo"
            );
            return;
        };
        tasks.push(runtime.spawn(forwarder::run(
            self.inner.clone(),
            self.inner.stop.subscribe(),
        )));
        tasks.push(runtime.spawn(health::run(self.inner.clone(), self.inner.stop.subscribe())));
        tracing::info!(echo = %self.base_url(), "forwarding what Reverb does not handle to Echo");
    }

    /// Stop the background work: a forward in flight gets up to `grace` to finish; whatever is
    /// left stays in the store for the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stop.send_replace(true);
        let tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let deadline = tokio::time::Instant::now() + grace;
        for mut task in tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
    }

    /// For `POST /`: store the event exactly as received (body bytes, `X-SPINNAKER-*` headers,
    /// `Content-Type`) for the forwarder. Call it before answering. A request that a Reverb
    /// already forwarded is not stored again.
    pub async fn forward_event(&self, req: &HttpRequest, body: &Bytes) -> Result<(), ForwardError> {
        forwarder::enqueue(&self.inner, req, body).await
    }

    /// For `POST /notifications` of a type Reverb does not send itself: relay it to Echo now
    /// and answer with Echo's status, headers and body.
    pub async fn forward_notification(&self, req: &HttpRequest, body: Bytes) -> HttpResponse {
        proxy::relay_buffered(&self.inner, req, body).await
    }

    /// `GET /notifications/metadata`: Echo's list merged with Reverb's own (none); `[]` when
    /// Echo cannot say.
    pub async fn metadata(&self) -> HttpResponse {
        proxy::metadata(&self.inner).await
    }

    /// Echo's reachability for `/health` under `details.echo`; read from a cache the
    /// background health check refreshes, so it never waits on Echo.
    pub fn health_detail(&self) -> serde_json::Value {
        self.inner.health.detail(self.inner.metrics.pending())
    }
}

/// The client for relayed requests; see [`Inner::relay`].
fn relay_client() -> Result<reqwest::Client, EchoConfigError> {
    // Installing the provider twice is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        // Orca's own read timeout towards Echo (kork's OkHttp default).
        .read_timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("reverb/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| EchoConfigError::HttpClient(e.to_string()))
}
