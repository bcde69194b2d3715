//! What every route shares.

use std::sync::Arc;

use prometheus::Registry;
use reverb_config::Settings;
use reverb_slack::DeliveryEngine;
use reverb_store::Store;

/// Shared application state, behind `web::Data`.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    /// `None` when Slack is disabled: Echo then sends nothing to Slack, and neither do we.
    pub delivery: Option<DeliveryEngine>,
    pub registry: Registry,
}
