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
    /// nothing was accepted, so the caller's retry loses nothing.
    pub async fn enqueue(&self, messages: Vec<OutboundMessage>) -> Result<(), ApiError> {
        let Some(engine) = &self.delivery else {
            return Ok(());
        };
        let messages = messages
            .into_iter()
            .map(guard_judgment_edit)
            .collect::<Vec<_>>();
        engine.enqueue(messages).await.map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, "could not store messages");
            ApiError::unavailable("Reverb could not store the messages; retry later")
        })
    }
}

/// A judgment decided by a click in Slack already shows who decided and how; Orca's later
/// "judged" notification or stage event must not overwrite that richer view. The store drops
/// such an edit atomically if the judgment is decided (see `OutboundMessage::unless_judgment_decided`).
fn guard_judgment_edit(mut message: OutboundMessage) -> OutboundMessage {
    if message.kind == "judgment_resolved"
        && let Some((judgment, _lane)) = message.ref_key.as_deref().and_then(|k| k.split_once('@'))
    {
        message.unless_judgment_decided = Some(judgment.to_string());
    }
    message
}
