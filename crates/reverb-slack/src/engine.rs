//! The delivery engine: durable outbox in, Slack out.
//!
//! Every message is in the store before `enqueue` returns. Messages wait in lanes, each served by
//! one task that sends them strictly in acceptance order; lanes run concurrently, so a busy or
//! failing lane never delays another (docs/architecture.md, "Concurrency"):
//!
//! - a channel's posts (and ephemeral messages) share the channel's lane, paced by a token
//!   bucket at Slack's per-channel rate;
//! - a channel's edits (`chat.update`) have a lane of their own, `edit:<channel>`, so the
//!   clicked message changes at once instead of after the posts queued in the channel; an edit
//!   still waits for an earlier post of the message it edits;
//! - each `response_url` has its own lane, `response_url:<digest>`.
//!
//! A message leaves the store only after Slack confirmed it (or it was dead-lettered, or it can
//! no longer be delivered), so a crash at any moment at worst repeats the one message that was in
//! flight in each lane. Store failures are retried, never read as "nothing there".
//!
//! The engine's rooms:
//!
//! - [`run`]: starting, stopping, and the lane tasks;
//! - [`intake`]: accepting (`enqueue`), with concurrent requests committed together;
//! - [`lanes`]: which lane a message waits in, and the queues' bookkeeping;
//! - [`attempt`]: one attempt, by each of the four send paths;
//! - [`settle`]: what an attempt's outcome makes of the message: done, retried, dead-lettered;
//! - [`pacing`]: the per-channel and workspace-wide token buckets;
//! - [`addresses`]: e-mail addresses resolved to users.
//!
//! Time is Tokio's: the epoch clock of [`reverb_support::now_ms`] and the pacing instants both
//! move with a paused test clock.

mod addresses;
mod attempt;
mod intake;
mod lanes;
mod pacing;
mod run;
mod settle;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use reverb_config::DeliverySettings;
use reverb_store::{Store, StoreError};
use reverb_support::Backoff;
use tokio::sync::{Notify, Semaphore, watch};

use crate::client::SlackClient;
use crate::metrics::DeliveryMetrics;

pub use pacing::TokenBucket;

/// The two Slack clients Echo distinguishes; `None` where that client is not configured.
#[derive(Clone, Default)]
pub struct SlackClients {
    pub legacy: Option<SlackClient>,
    pub app: Option<SlackClient>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The transaction this request shared with others failed (group commit): nothing of it
    /// was stored.
    #[error("{0}")]
    Shared(String),
    #[error("the store worker stopped")]
    WorkerGone,
}

impl From<reverb_support::WorkerGone> for EnqueueError {
    fn from(_: reverb_support::WorkerGone) -> Self {
        Self::WorkerGone
    }
}

/// Handle to the running engine; cheap to clone.
#[derive(Clone)]
pub struct DeliveryEngine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clients: attempt::Clients,
    settings: DeliverySettings,
    /// `settings`' backoff, for every retry the engine waits for.
    backoff: Backoff,
    /// Echo posts `response_url` replies to `https://hooks.slack.com` + the URL's path, never to
    /// the host inside the payload; this is that base (`reverb.slack.responseUrlBase`).
    response_url_base: String,
    metrics: DeliveryMetrics,
    lanes: Mutex<lanes::Lanes>,
    pacer: pacing::Pacer,
    users_by_email: addresses::UsersByEmail,
    /// Into the group committer (see [`intake`]).
    intake: intake::Sender,
    permits: Semaphore,
    shutdown_tx: watch::Sender<bool>,
    stopping: AtomicBool,
    running_lanes: AtomicUsize,
    lanes_idle: Notify,
    /// Signalled whenever a queued post that records a message reference leaves its queue, for
    /// the edits waiting on it.
    posts_settled: Notify,
    /// The runtime the engine was started on. Lanes are spawned there, never on the runtime of
    /// whoever called `enqueue` (an actix worker's runtime dies with the worker at shutdown).
    runtime: tokio::runtime::Handle,
    /// Lanes whose task panics at its next turn (tests of the panic recovery only).
    #[cfg(test)]
    panic_next_turn: Mutex<std::collections::HashSet<String>>,
}
