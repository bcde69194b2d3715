//! What every route shares.

use std::sync::Arc;

use prometheus::Registry;
use reverb_callbacks::ClickHandler;
use reverb_config::Settings;
use reverb_model::OutboundMessage;
use reverb_notify::NotifyContext;
use reverb_slack::DeliveryEngine;
use reverb_templates::TemplateEngine;

use crate::http::errors::ApiError;

/// Shared application state, behind `web::Data`.
pub struct AppState {
    pub settings: Arc<Settings>,
    /// `None` when Slack is disabled: Echo then sends nothing to Slack, and neither do we.
    pub delivery: Option<DeliveryEngine>,
    pub templates: Arc<TemplateEngine>,
    pub notify: NotifyContext,
    /// `None` unless Slack is enabled and a signing secret is configured.
    pub clicks: Option<Arc<ClickHandler>>,
    /// What the Slack app token's `auth.test` said (scopes), once asked.
    pub slack_app: Arc<std::sync::RwLock<Option<reverb_callbacks::SlackAppCheck>>>,
    pub registry: Registry,
    /// The main runtime: background work started by a request runs here, not on the actix
    /// worker's runtime, which is dropped (cancelling its tasks) when the worker stops.
    pub runtime: tokio::runtime::Handle,
    /// The Echo behind Reverb (`reverb.echo.baseUrl`), when there is one.
    pub echo: Option<crate::echo::EchoPassthrough>,
    /// Whether the store takes writes, probed in the background for `/health`.
    pub store_health: Arc<crate::routes::health::StoreHealth>,
}

impl AppState {
    /// Store messages in the outbox before the caller gets its answer. A store failure is a 503:
    /// nothing was accepted, so the caller's retry loses nothing. (An edit from Orca's side of a
    /// judgment decided in Slack is left out by the store: the message says so itself, see
    /// `reverb_model::outbound::Update::judgment_ended_in_orca`.)
    pub async fn enqueue(&self, messages: Vec<OutboundMessage>) -> Result<(), ApiError> {
        let Some(engine) = &self.delivery else {
            return Ok(());
        };
        engine.enqueue(messages).await.map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, "could not store messages");
            ApiError::unavailable("Reverb could not store the messages; retry later")
        })
    }
}
