//! Slack delivery: a Web API client that reads Slack's envelope honestly, and a durable,
//! rate-limited delivery engine over the outbox in [`reverb_store`].
//!
//! Nothing here knows about pipelines or clicks: callers hand in [`OutboundMessage`]s and the
//! engine gets them to Slack, in order per channel, as fast as Slack allows, through restarts.

mod client;
mod engine;
mod error;
mod metrics;
mod response_url;

pub use client::{PostedMessage, SlackClient, SlackClientConfig, SlackUser, TokenIdentity};
pub use engine::{DeliveryEngine, EnqueueError, SlackClients, TokenBucket};
pub use error::{ErrorClass, SlackError};
pub use metrics::DeliveryMetrics;

pub use reverb_config::DeliverySettings;
pub use reverb_model::OutboundMessage;
