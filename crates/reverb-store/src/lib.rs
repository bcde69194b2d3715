//! Reverb's durable store.
//!
//! Everything Reverb accepted but has not yet finished lives here: the outbox of Slack messages,
//! the references of delivered messages (channel ID and `ts`, so they can be edited or threaded
//! later), and the locks that make a manual judgment happen exactly once. The [`Store`] trait is
//! the interface the rest of Reverb uses; [`SqliteStore`] is the single-node implementation.

mod migrations;
mod sqlite;
mod types;

pub use sqlite::SqliteStore;
pub use types::{
    ClickAcceptance, ForwardedRequest, JudgmentClaim, MessageRef, OutboxStats, PendingClick,
    QueuedMessage, StoreError, StoredMessage,
};

use reverb_model::OutboundMessage;

/// The storage interface. Methods are synchronous and fast; async callers run them on a
/// blocking thread.
pub trait Store: Send + Sync + 'static {
    /// Persist several requests' messages in one transaction (group commit). The answer is
    /// aligned with `groups`: for each message, its queue entry, or `None` when it was left out
    /// (its `unless_judgment_decided` names a decided judgment, checked in the same
    /// transaction); ids grow in the given order. All or nothing: on an error none is stored.
    fn enqueue_groups(
        &self,
        groups: &[&[OutboundMessage]],
        now_ms: i64,
    ) -> Result<Vec<Vec<Option<QueuedMessage>>>, StoreError>;
    /// [`Store::enqueue_groups`] for one request: the stored messages, in the given order.
    fn enqueue(
        &self,
        messages: &[OutboundMessage],
        now_ms: i64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        Ok(self
            .enqueue_groups(&[messages], now_ms)?
            .into_iter()
            .flatten()
            .flatten()
            .collect())
    }
    /// Every pending message, oldest first (for listing).
    fn pending(&self) -> Result<Vec<StoredMessage>, StoreError>;
    /// The queue entries of pending messages with an id above `after_id`, oldest first: all of
    /// them at start (`0`), later those added by another process (a dead letter revived by
    /// `reverb outbox retry`).
    fn pending_queue(&self, after_id: i64) -> Result<Vec<QueuedMessage>, StoreError>;
    /// One pending message, when it is still pending.
    fn pending_message(&self, id: i64) -> Result<Option<StoredMessage>, StoreError>;
    /// Slack confirmed the message: remove it and, when given, record where it landed.
    fn complete(
        &self,
        id: i64,
        reference: Option<(&str, &MessageRef)>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// A retryable failure: remember the attempt and when to try next.
    fn schedule_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<(), StoreError>;
    /// A permanent failure or a message too old to retry: keep it as a dead letter.
    fn dead_letter(&self, id: i64, error: &str, now_ms: i64) -> Result<(), StoreError>;
    fn dead_letters(&self) -> Result<Vec<StoredMessage>, StoreError>;
    /// Move a dead letter back to pending; returns it when it existed.
    fn revive(&self, id: i64, now_ms: i64) -> Result<Option<StoredMessage>, StoreError>;
    /// Delete a dead letter; returns whether it existed.
    fn drop_dead_letter(&self, id: i64) -> Result<bool, StoreError>;
    fn stats(&self, now_ms: i64) -> Result<OutboxStats, StoreError>;

    fn message_ref(&self, key: &str) -> Result<Option<MessageRef>, StoreError>;
    fn record_ref(&self, key: &str, reference: &MessageRef, now_ms: i64) -> Result<(), StoreError>;
    /// Every reference whose key starts with `prefix` (all channels of one judgment).
    fn refs_with_prefix(&self, prefix: &str) -> Result<Vec<(String, MessageRef)>, StoreError>;

    /// Claim the right to judge `key`. The first claim wins; a claim older than `stale_ms` that
    /// never finished (a crash mid-judgment) can be taken over.
    fn claim_judgment(
        &self,
        key: &str,
        claimant: &str,
        now_ms: i64,
        stale_ms: i64,
    ) -> Result<JudgmentClaim, StoreError>;
    /// Record how a claimed judgment ended; `decided` false releases the claim for a new try.
    fn finish_judgment(
        &self,
        key: &str,
        outcome: &str,
        decided: bool,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// The recorded outcome of a decided judgment.
    fn judgment_outcome(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Release every claim still in progress: at start, when no click of this store can be
    /// running (one process per store), so nobody is told "already being judged" by a claim
    /// whose holder is gone. Returns how many were released.
    fn release_unfinished_claims(&self) -> Result<usize, StoreError>;

    /// The installation's secret `name`: the stored one, or `fresh` stored now when there is
    /// none yet (first start). Every caller gets the same value.
    fn secret_or_insert(
        &self,
        name: &str,
        fresh: &[u8],
        now_ms: i64,
    ) -> Result<Vec<u8>, StoreError>;

    /// Record a signed Slack request (`request_key`: its timestamp and signature) and store its
    /// payload, in one transaction: [`ClickAcceptance::Replay`] when the same request was
    /// accepted less than `window_ms` ago. Older records are forgotten on the way.
    fn accept_click(
        &self,
        request_key: &str,
        payload: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<ClickAcceptance, StoreError>;
    /// The click was handled to the end.
    fn finish_click(&self, id: i64) -> Result<(), StoreError>;
    /// Clicks accepted and never finished, oldest first.
    fn unfinished_clicks(&self) -> Result<Vec<PendingClick>, StoreError>;

    /// Echo passthrough queue: persist a request to forward, in order.
    fn enqueue_forward(&self, request: &ForwardedRequest, now_ms: i64) -> Result<i64, StoreError>;
    fn pending_forwards(&self, limit: usize) -> Result<Vec<(i64, ForwardedRequest)>, StoreError>;
    fn complete_forward(&self, id: i64) -> Result<(), StoreError>;
    fn forward_backlog(&self) -> Result<u64, StoreError>;

    /// A tiny write (one row, rewritten each time) that proves the store still takes writes;
    /// `/health` calls it in the background. It waits for a busy database only briefly.
    fn heartbeat(&self, now_ms: i64) -> Result<(), StoreError>;
}
