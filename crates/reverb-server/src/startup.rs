//! Building and running the server: open the store, start delivery, bind, serve, and on
//! SIGTERM/SIGINT stop accepting, finish in-flight requests, and flush the store.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use prometheus::Registry;
use reverb_callbacks::{CallbackSettings, ClickHandler, IdentitySettings, SlackAppCheck};
use reverb_config::{Secret, ServerSettings, Settings};
use reverb_echo::{EchoConfigError, EchoPassthrough};
use reverb_model::judgment::ButtonKey;
use reverb_notify::NotifyContext;
use reverb_slack::{DeliveryEngine, DeliveryMetrics, SlackClient, SlackClientConfig, SlackClients};
use reverb_store::{SqliteStore, Store, StoreError};
use reverb_support::{now_ms, off_thread};
use reverb_templates::{TemplateEngine, TemplateError, TemplateOptions};

use crate::http::body::{BodyLimits, close_after_unread_body};
use crate::http::errors::jsonify_errors;
use crate::http::metrics::{HttpMetrics, record};
use crate::routes::health::StoreHealth;
use crate::routes::{self, Shared};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("delivery engine: {0}")]
    Delivery(#[from] reverb_slack::EnqueueError),
    #[error("HTTP client: {0}")]
    HttpClient(String),
    #[error("templates: {0}")]
    Templates(#[from] TemplateError),
    #[error(transparent)]
    Echo(#[from] EchoConfigError),
    #[error("the operating system's random source failed")]
    Random,
    #[error("resuming unfinished clicks: {0}")]
    Clicks(#[from] reverb_callbacks::StoreCallError),
}

impl BuildError {
    /// Failures an operator fixes in configuration (exit code 2).
    pub fn is_configuration(&self) -> bool {
        match self {
            // Another Reverb serves the same store: fix `reverb.store.path` or stop that one.
            Self::Bind { .. } | Self::Templates(_) | Self::Store(StoreError::InUse { .. }) => true,
            Self::Echo(e) => e.is_configuration(),
            _ => false,
        }
    }
}

/// A built, bound, not yet running Reverb.
pub struct Application {
    server: Server,
    port: u16,
    delivery: Option<DeliveryEngine>,
    echo: Option<EchoPassthrough>,
    store: Arc<SqliteStore>,
    store_probe: tokio::task::JoinHandle<()>,
}

/// How long a closing connection may take to shut down cleanly before it is dropped.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Echo's CORS headers, on every response (docs/echo-contract.md, "CORS headers").
fn cors_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .add((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "POST, GET, OPTIONS, DELETE",
        ))
        .add((header::ACCESS_CONTROL_MAX_AGE, "3600"))
        .add((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "x-requested-with,Content-Type",
        ))
}

/// The HTTP client every outbound call shares, on rustls with the ring provider.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, BuildError> {
    // Installing twice (tests build several apps) is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("reverb/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BuildError::HttpClient(e.to_string()))
}

fn slack_clients(settings: &Settings, http: &reqwest::Client) -> SlackClients {
    let timeout = settings.reverb.delivery.request_timeout;
    let make = |c: &reverb_config::SlackClientSettings| {
        c.token.as_ref().map(|token| {
            SlackClient::new(
                http.clone(),
                SlackClientConfig {
                    base_url: c.base_url.clone(),
                    token: Some(token.expose().to_string()),
                    incoming_webhook: c.incoming_webhook,
                    timeout,
                },
            )
        })
    };
    SlackClients {
        legacy: make(&settings.slack.legacy),
        app: make(&settings.slack.app),
    }
}

fn notify_context(settings: &Settings, button_key: &ButtonKey) -> NotifyContext {
    NotifyContext {
        spinnaker_base_url: settings.spinnaker_base_url.clone(),
        legacy_compact: settings.slack.legacy.send_compact_messages,
        app_compact: settings.slack.app.send_compact_messages,
        legacy_link_names: settings.slack.legacy.expand_user_names,
        app_link_names: settings.slack.app.expand_user_names,
        judgment_buttons: settings.interactive_judgments().then(|| button_key.clone()),
        threads: settings.reverb.threads,
    }
}

fn load_templates(settings: &Settings) -> Result<TemplateEngine, TemplateError> {
    TemplateEngine::load(TemplateOptions {
        override_dir: settings.reverb.templates_dir.clone(),
        style: settings.reverb.message_style,
    })
}

/// The store's name for the key judgment buttons are minted with.
const BUTTON_KEY_SECRET: &str = "judgment-button-key";

/// The installation's button key: made at the first start, kept in the store ever after, so
/// buttons posted before a restart still work after it.
async fn button_key(store: &Arc<SqliteStore>) -> Result<ButtonKey, BuildError> {
    let fresh = ButtonKey::generate_bytes().ok_or(BuildError::Random)?;
    let bytes = off_thread(store.clone(), move |s| {
        s.secret_or_insert(BUTTON_KEY_SECRET, &fresh, now_ms())
    })
    .await
    .map_err(|_| BuildError::Random)??;
    Ok(ButtonKey::from_bytes(&bytes))
}

fn callback_settings(
    settings: &Arc<Settings>,
    button_key: ButtonKey,
    signing_secret: &Secret,
) -> CallbackSettings {
    let mut c = CallbackSettings::new(
        &settings.orca_base_url,
        &settings.spinnaker_base_url,
        button_key,
    );
    c.signing_secret = Some(signing_secret.clone());
    c.identity = IdentitySettings {
        rules: settings.reverb.judgments.clone(),
        ..IdentitySettings::default()
    };
    c.fiat_base_url = settings.fiat_base_url.clone();
    let lookup = settings.clone();
    c.service_base_url = Arc::new(move |service| lookup.service_base_url(service));
    c
}

/// Take up clicks a stopped process accepted but never finished.
async fn resume_clicks(clicks: Arc<ClickHandler>) -> Result<(), BuildError> {
    for click in clicks.resume_unfinished().await? {
        let clicks = clicks.clone();
        tokio::spawn(async move {
            let outcome = clicks.run(click).await;
            tracing::info!(outcome = ?outcome, "resumed Slack click handled");
        });
    }
    Ok(())
}

/// One line about the Slack app's token: its workspace, and what missing scopes disable.
fn log_slack_app(check: &SlackAppCheck) {
    let text = check.describe();
    match check {
        SlackAppCheck::Complete { .. } => {
            tracing::info!(slack_app = %text, "Slack app token checked")
        }
        _ => tracing::warn!(slack_app = %text, "Slack app token checked: features are off"),
    }
}

/// `auth.test` with the token clicks are handled with, for `reverb config`; `None` without one.
pub async fn check_slack_token(settings: &Settings) -> Option<SlackAppCheck> {
    let http = http_client(Duration::from_secs(5)).ok()?;
    let clients = slack_clients(settings, &http);
    let client = clients.app.or(clients.legacy).filter(|c| !c.is_webhook())?;
    Some(SlackAppCheck::of(client.token_identity().await))
}

/// What every part of Reverb is built from.
struct Core {
    settings: Arc<Settings>,
    store: Arc<SqliteStore>,
    templates: Arc<TemplateEngine>,
    button_key: ButtonKey,
    registry: Registry,
    http: reqwest::Client,
}

impl Core {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

/// The Echo behind Reverb (`reverb.echo.baseUrl`), forwarding already, when there is one.
fn start_echo(core: &Core) -> Result<Option<EchoPassthrough>, BuildError> {
    let echo = EchoPassthrough::from_settings(
        &core.settings,
        core.store(),
        core.http.clone(),
        &core.registry,
    )?;
    if let Some(echo) = &echo {
        echo.start();
    }
    Ok(echo)
}

/// The delivery engine over the outbox; `None` when Slack is off (Echo then sends nothing either).
async fn start_delivery(
    core: &Core,
    clients: &SlackClients,
) -> Result<Option<DeliveryEngine>, BuildError> {
    if !core.settings.slack.enabled {
        tracing::info!("slack.enabled is not true: Reverb sends nothing to Slack (as Echo)");
        return Ok(None);
    }
    let engine = DeliveryEngine::start(
        core.store(),
        clients.clone(),
        core.settings.reverb.response_url_base.clone(),
        core.settings.reverb.delivery.clone(),
        DeliveryMetrics::register(&core.registry)?,
    )
    .await?;
    Ok(Some(engine))
}

/// The click handler, when Slack is on, a signing secret is set and a token can act on clicks.
fn click_handler(
    core: &Core,
    delivery: Option<&DeliveryEngine>,
    clients: SlackClients,
) -> Result<Option<Arc<ClickHandler>>, BuildError> {
    let secret = core.settings.slack.signing_secret.as_ref();
    match (delivery, secret, clients.app.or(clients.legacy)) {
        (Some(engine), Some(secret), Some(app_client)) => Ok(Some(Arc::new(ClickHandler::new(
            core.store(),
            engine.clone(),
            app_client,
            core.http.clone(),
            callback_settings(&core.settings, core.button_key.clone(), secret),
            crate::rendering::judgment_renderer(core.templates.clone()),
            &core.registry,
        )?))),
        (Some(_), None, _) => {
            tracing::warn!(
                "no Slack signing secret (slack.app.signingSecret): callbacks are refused and manual judgments get no buttons"
            );
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Resume unfinished clicks, then check the Slack app's token in the background; what it says
/// is shown by `/health`.
async fn start_clicks(clicks: Option<&Arc<ClickHandler>>) -> Result<SlackAppSlot, BuildError> {
    let slack_app = SlackAppSlot::default();
    if let Some(clicks) = clicks {
        resume_clicks(clicks.clone()).await?;
        let (clicks, slack_app) = (clicks.clone(), slack_app.clone());
        tokio::spawn(async move {
            let check = clicks.check_slack_app().await;
            log_slack_app(&check);
            *slack_app.write().unwrap_or_else(|p| p.into_inner()) = Some(check);
        });
    }
    Ok(slack_app)
}

type SlackAppSlot = Arc<std::sync::RwLock<Option<SlackAppCheck>>>;

/// Bind the address and start serving the route table on actix's workers.
fn serve(server_settings: &ServerSettings, shared: Shared) -> Result<(Server, u16), BuildError> {
    let address = format!("{}:{}", server_settings.address, server_settings.port);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(server_settings.max_connections.max(1));
    let bind_error = |source| BuildError::Bind {
        address: address.clone(),
        source,
    };
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(close_after_unread_body))
            .wrap(from_fn(record))
            .wrap(ErrorHandlers::new().default_handler(jsonify_errors))
            .wrap(cors_headers())
            .configure(|cfg| routes::configure(cfg, &shared))
    })
    // Bounded time and connections per client (docs/configuration.md, "Reverb's own keys"):
    // the request head within the header timeout, nothing idle beyond the idle timeout, and
    // `maxConnections` shared out over the workers (each worker stops accepting at its
    // share; further clients wait in the listen backlog).
    .workers(workers)
    .client_request_timeout(server_settings.header_timeout)
    .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
    .keep_alive(server_settings.idle_timeout)
    .max_connections((server_settings.max_connections / workers).max(1))
    .backlog(u32::try_from(server_settings.max_connections).unwrap_or(u32::MAX))
    .bind(&address)
    .map_err(bind_error)?
    .shutdown_timeout(30);
    let port = server
        .addrs()
        .first()
        .map(std::net::SocketAddr::port)
        .unwrap_or(server_settings.port);
    tracing::info!(%address, port, "Reverb listening");
    Ok((server.run(), port))
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        let settings = Arc::new(settings);
        // Template overrides are checked before anything else starts: a broken one is a
        // start-up error naming the file and line, never a failure at send time.
        let templates = Arc::new(load_templates(&settings)?);
        // Only the serving process locks the store; `reverb outbox` opens it beside us.
        let store = Arc::new(SqliteStore::open_for_serving(&settings.reverb.store_path)?);
        let (store_health, store_probe) = StoreHealth::start(store.clone()).await;
        let core = Core {
            button_key: button_key(&store).await?,
            http: http_client(Duration::from_secs(30))?,
            registry: Registry::new(),
            settings,
            store,
            templates,
        };
        let http_metrics = HttpMetrics::register(&core.registry)?;
        let echo = start_echo(&core)?;
        let clients = slack_clients(&core.settings, &core.http);
        let delivery = start_delivery(&core, &clients).await?;
        let clicks = click_handler(&core, delivery.as_ref(), clients)?;
        let slack_app = start_clicks(clicks.as_ref()).await?;

        let body_limits = BodyLimits::new(
            core.settings.server.max_buffered_body_bytes,
            core.settings.server.max_request_body_bytes,
            core.settings.server.body_timeout,
        );
        let state = AppState {
            notify: notify_context(&core.settings, &core.button_key),
            slack_app,
            settings: core.settings.clone(),
            delivery: delivery.clone(),
            templates: core.templates,
            clicks,
            registry: core.registry,
            runtime: tokio::runtime::Handle::current(),
            echo: echo.clone(),
            store_health,
        };
        let shared = Shared {
            state: web::Data::new(state),
            http_metrics: web::Data::new(http_metrics),
            body_limits: web::Data::new(body_limits),
            echo: echo.clone().map(web::Data::new),
        };
        let (server, port) = serve(&core.settings.server, shared)?;
        Ok(Self {
            server,
            port,
            delivery,
            echo,
            store: core.store,
            store_probe,
        })
    }

    /// The bound port (useful with `server.port: 0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until SIGTERM/SIGINT (actix stops accepting and drains requests), then let
    /// deliveries in flight finish and checkpoint the store.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.store_probe.abort();
        if let Some(engine) = &self.delivery {
            engine.shutdown(Duration::from_secs(10)).await;
        }
        if let Some(echo) = &self.echo {
            echo.shutdown(Duration::from_secs(5)).await;
        }
        match off_thread(self.store.clone(), |s| s.checkpoint()).await {
            Ok(Ok(())) => tracing::info!("store flushed; Reverb stopped"),
            Ok(Err(e)) => tracing::warn!(error = %e, "store checkpoint failed"),
            Err(e) => tracing::warn!(error = %e, "store checkpoint failed"),
        }
        result
    }
}
