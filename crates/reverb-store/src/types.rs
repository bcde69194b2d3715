use reverb_model::{MessageKind, OutboundMessage};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("store holds a message that cannot be read (id {id}): {source}")]
    Corrupt {
        id: i64,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode a message for the store: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the store's schema version {found} is newer than this binary knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    /// Another process serves this store (it holds the lock file beside the database).
    #[error(
        "the store {path} is in use by another Reverb (pid {holder}, lock file {lock}); only one process may serve a store"
    )]
    InUse {
        path: String,
        lock: String,
        /// The holder's pid as it wrote it into the lock file, or `unknown`.
        holder: String,
    },
}

/// A message as the outbox holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: i64,
    pub message: OutboundMessage,
    pub created_ms: i64,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
}

/// A pending message as a delivery queue holds it: just enough to schedule it. The message
/// itself stays in the store until it reaches the head of its channel's queue, so a long
/// backlog (a Slack outage) costs disk, not memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: i64,
    /// The ordering lane (`OutboundMessage::lane`).
    pub lane: String,
    pub kind: MessageKind,
    pub next_attempt_ms: i64,
}

/// Where a delivered message landed: what `chat.update` and `thread_ts` need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel_id: String,
    pub ts: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: u64,
    pub dead: u64,
    pub oldest_pending_age_ms: Option<i64>,
}

/// The answer to a judgment claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JudgmentClaim {
    /// This claimant may judge now.
    Granted,
    /// Someone else is judging it right now.
    InProgress { claimant: String },
    /// It was already decided; the recorded outcome.
    Decided { outcome: String },
}

/// A request stored for forwarding to the Echo behind Reverb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the store made of a signed Slack request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClickAcceptance {
    /// First time seen: stored under this id until it is handled.
    Accepted(i64),
    /// The same signed request was already accepted within the replay window.
    Replay,
}

/// A click accepted but not yet handled to the end (a crash in between).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingClick {
    pub id: i64,
    /// The interaction payload JSON, as Slack signed it.
    pub payload: String,
    pub received_ms: i64,
}
