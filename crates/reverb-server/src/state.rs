//! What every route shares.

use std::sync::Arc;

use prometheus::Registry;
use reverb_callbacks::ClickHandler;
use reverb_config::Settings;
use reverb_model::OutboundMessage;
use reverb_notify::NotifyContext;
use reverb_slack::DeliveryEngine;
use reverb_store::Store;
use reverb_templates::TemplateEngine;

use crate::http::errors::ApiError;

/// Shared application state, behind `web::Data`.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    /// `None` when Slack is disabled: Echo then sends nothing to Slack, and neither do we.
    pub delivery: Option<DeliveryEngine>,
    pub templates: Arc<TemplateEngine>,
    pub notify: NotifyContext,
    /// `None` unless Slack is enabled and a signing secret is configured.
    pub clicks: Option<Arc<ClickHandler>>,
    pub registry: Registry,
    /// The main runtime: background work started by a request runs here, not on the actix
    /// worker's runtime, which is dropped (cancelling its tasks) when the worker stops.
    pub runtime: tokio::runtime::Handle,
}

impl AppState {
    /// Store messages in the outbox before the caller gets its answer. A store failure is a 503:
    /// nothing was accepted, so the caller's retry loses nothing.
    pub async fn enqueue(&self, messages: Vec<OutboundMessage>) -> Result<(), ApiError> {
        let Some(engine) = &self.delivery else {
            return Ok(());
        };
        let messages = self.without_settled_judgment_updates(messages).await;
        if messages.is_empty() {
            return Ok(());
        }
        engine.enqueue(messages).await.map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, "could not store messages");
            ApiError::unavailable("Reverb could not store the messages; retry later")
        })
    }

    /// A judgment decided by a click in Slack already shows who decided and how; Orca's later
    /// "judged" notification or stage event must not overwrite that richer view.
    async fn without_settled_judgment_updates(
        &self,
        messages: Vec<OutboundMessage>,
    ) -> Vec<OutboundMessage> {
        if !messages.iter().any(|m| m.kind == "judgment_resolved") {
            return messages;
        }
        let store = self.store.clone();
        let checked = tokio::task::spawn_blocking(move || {
            messages
                .into_iter()
                .filter(|m| {
                    if m.kind != "judgment_resolved" {
                        return true;
                    }
                    let key = m
                        .ref_key
                        .as_deref()
                        .and_then(|k| k.split_once('@'))
                        .map(|(judgment, _lane)| judgment.to_string());
                    match key {
                        Some(k) => !matches!(store.judgment_outcome(&k), Ok(Some(_))),
                        None => true,
                    }
                })
                .collect::<Vec<_>>()
        })
        .await;
        checked.unwrap_or_default()
    }
}
