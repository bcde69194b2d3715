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

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reverb_model::{DeliveryMethod, OutboundMessage, SlackClientKind};
use reverb_store::{MessageRef, QueuedMessage, Store, StoreError, StoredMessage};
use serde_json::json;
use tokio::sync::{Notify, Semaphore, watch};
use tracing::Instrument;

use crate::client::SlackClient;
use crate::error::{ErrorClass, SlackError};
use crate::metrics::DeliveryMetrics;
use crate::pacing::TokenBucket;
use crate::response_url;

/// Tuning of the engine (from `reverb.delivery.*`).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Slack calls in flight at once, across all channels.
    pub concurrency: usize,
    /// `chat.postMessage` pacing per channel.
    pub channel_rate: f64,
    pub channel_burst: u32,
    /// A message still failing after this long is dead-lettered.
    pub max_age: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest wait obeyed, from Slack's `Retry-After` or from backoff
    /// (`reverb.delivery.maxRetryAfter`): a hostile or mistaken `Retry-After` cannot stall a
    /// lane for longer.
    pub max_retry_after: Duration,
    /// Echo posts `response_url` replies to `https://hooks.slack.com` + the URL's path, never to
    /// the host inside the payload; this is that base.
    pub response_url_base: String,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            channel_rate: 1.0,
            channel_burst: 3,
            max_age: Duration::from_secs(24 * 3600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(15 * 60),
            response_url_base: "https://hooks.slack.com".into(),
        }
    }
}

/// How long Slack accepts a `response_url` after the click (docs/architecture.md, "Concurrency").
const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);

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
    #[error("the store worker stopped")]
    WorkerGone,
}

/// Handle to the running engine; cheap to clone.
#[derive(Clone)]
pub struct DeliveryEngine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clients: SlackClients,
    settings: DeliverySettings,
    metrics: DeliveryMetrics,
    lanes: Mutex<Lanes>,
    channel_buckets: Mutex<HashMap<String, TokenBucket>>,
    method_buckets: Mutex<HashMap<&'static str, TokenBucket>>,
    permits: Semaphore,
    user_ids_by_email: Mutex<HashMap<String, String>>,
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
    panic_next_turn: Mutex<HashSet<String>>,
}

/// Counts a running lane; the count drops even if the task is cancelled.
struct LaneGuard(Arc<Inner>);

impl Drop for LaneGuard {
    fn drop(&mut self) {
        if self.0.running_lanes.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.lanes_idle.notify_waiters();
        }
    }
}

/// A pending message as its lane holds it (the message itself stays in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: i64,
    next_attempt_ms: i64,
    /// For a post that records a message reference: that key (edits of it wait for the post).
    posts_ref: Option<String>,
}

/// A pending message and the lane it waits in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scheduled {
    lane: String,
    entry: Entry,
}

impl Scheduled {
    fn of(message: &OutboundMessage, id: i64, next_attempt_ms: i64) -> Self {
        let posts_ref = match message.method {
            DeliveryMethod::Post => message.ref_key.clone().filter(|k| !k.is_empty()),
            _ => None,
        };
        Self {
            lane: lane_of(message),
            entry: Entry {
                id,
                next_attempt_ms,
                posts_ref,
            },
        }
    }
}

/// The lane a message waits in (see the module documentation).
fn lane_of(message: &OutboundMessage) -> String {
    match message.method {
        DeliveryMethod::Post | DeliveryMethod::Ephemeral => message.lane(),
        DeliveryMethod::Update => format!("edit:{}", message.lane()),
        DeliveryMethod::ResponseUrl => response_url::lane(&message.address),
    }
}

/// Read the pending messages' bodies to place them in their lanes. A message gone meanwhile is
/// left out; one the store cannot read now waits in the lane the store recorded (its channel's),
/// where it keeps its order with the channel's posts.
fn schedule(store: &dyn Store, queued: Vec<QueuedMessage>) -> Vec<Scheduled> {
    queued
        .into_iter()
        .filter_map(|q| match store.pending_message(q.id) {
            Ok(Some(m)) => Some(Scheduled::of(&m.message, q.id, q.next_attempt_ms)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(id = q.id, error = %e, "cannot read a pending message to place it; it waits in its channel's lane");
                Some(Scheduled {
                    lane: q.lane,
                    entry: Entry {
                        id: q.id,
                        next_attempt_ms: q.next_attempt_ms,
                        posts_ref: None,
                    },
                })
            }
        })
        .collect()
}

/// Per-lane queues, and every id queued anywhere (so a message is never queued twice).
#[derive(Default)]
struct Lanes {
    queues: HashMap<String, VecDeque<Entry>>,
    queued_ids: HashSet<i64>,
    /// Lanes with a running task, with that task's number: exactly one task per lane keeps the
    /// order, and a task that ends only ever clears its own mark.
    running: HashMap<String, u64>,
    next_task: u64,
    /// Reference keys of queued posts, with their ids.
    queued_posts: HashMap<String, BTreeSet<i64>>,
    highest_id: i64,
}

impl Lanes {
    /// Queue one message; returns the task number to start when its lane has no task.
    fn push(&mut self, s: Scheduled) -> Option<(String, u64)> {
        self.highest_id = self.highest_id.max(s.entry.id);
        if !self.queued_ids.insert(s.entry.id) {
            return None;
        }
        if let Some(key) = &s.entry.posts_ref {
            self.queued_posts
                .entry(key.clone())
                .or_default()
                .insert(s.entry.id);
        }
        self.queues
            .entry(s.lane.clone())
            .or_default()
            .push_back(s.entry);
        self.claim(&s.lane)
    }

    /// Mark `lane` as served by a new task, unless one serves it already.
    fn claim(&mut self, lane: &str) -> Option<(String, u64)> {
        if self.running.contains_key(lane) {
            return None;
        }
        self.next_task += 1;
        self.running.insert(lane.to_string(), self.next_task);
        Some((lane.to_string(), self.next_task))
    }

    /// Remove message `id` from `lane`; true when it was a post others may wait for.
    fn remove(&mut self, lane: &str, id: i64) -> bool {
        let mut was_post = false;
        if let Some(queue) = self.queues.get_mut(lane)
            && let Some(at) = queue.iter().position(|e| e.id == id)
            && let Some(entry) = queue.remove(at)
            && let Some(key) = entry.posts_ref
        {
            was_post = true;
            if let Some(ids) = self.queued_posts.get_mut(&key) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.queued_posts.remove(&key);
                }
            }
        }
        self.queued_ids.remove(&id);
        was_post
    }

    /// Whether a post recording `key` was accepted before message `id` and is still queued.
    fn earlier_post_queued(&self, key: &str, id: i64) -> bool {
        self.queued_posts
            .get(key)
            .and_then(BTreeSet::first)
            .is_some_and(|&first| first < id)
    }

    /// Lanes with queued messages and no task (their task ended abnormally).
    fn orphaned(&mut self) -> Vec<(String, u64)> {
        let lanes: Vec<String> = self
            .queues
            .iter()
            .filter(|(lane, queue)| !queue.is_empty() && !self.running.contains_key(*lane))
            .map(|(lane, _)| lane.clone())
            .collect();
        lanes.iter().filter_map(|lane| self.claim(lane)).collect()
    }
}

/// How one attempt ended.
enum Attempt {
    Delivered(Option<(String, MessageRef)>),
    /// Nothing to do (an update of a message that was never posted).
    Skipped(&'static str),
    Failed(SlackError),
    /// The store could not answer a question the send depends on; nothing was sent.
    StoreFailed(String),
}

/// What to do with the head of a lane after an attempt.
enum Settled {
    /// Gone from the store (confirmed, dead-lettered, dropped): next message.
    Done,
    /// Try again at this time (epoch ms).
    Retry(i64),
    /// Shutdown came first; the message stays in the store.
    Interrupted,
}

impl DeliveryEngine {
    /// Start the engine and resume every message a previous process left pending.
    pub async fn start(
        store: Arc<dyn Store>,
        clients: SlackClients,
        settings: DeliverySettings,
        metrics: DeliveryMetrics,
    ) -> Result<Self, EnqueueError> {
        let (shutdown_tx, _) = watch::channel(false);
        let engine = Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(settings.concurrency.max(1)),
                store,
                clients,
                settings,
                metrics,
                lanes: Mutex::default(),
                channel_buckets: Mutex::default(),
                method_buckets: Mutex::default(),
                user_ids_by_email: Mutex::default(),
                shutdown_tx,
                stopping: AtomicBool::new(false),
                running_lanes: AtomicUsize::new(0),
                lanes_idle: Notify::new(),
                posts_settled: Notify::new(),
                runtime: tokio::runtime::Handle::current(),
                #[cfg(test)]
                panic_next_turn: Mutex::default(),
            }),
        };
        let pending = engine
            .blocking(|s| s.pending_queue(0).map(|q| schedule(s, q)))
            .await??;
        if !pending.is_empty() {
            tracing::info!(count = pending.len(), "resuming pending Slack messages");
        }
        engine.dispatch(pending);
        engine.spawn_sweeper();
        Ok(engine)
    }

    /// Pick up messages another process added to the store (a dead letter revived with
    /// `reverb outbox retry` while this one runs), and restart lanes whose task died.
    fn spawn_sweeper(&self) {
        let engine = self.clone();
        let mut shutdown = self.inner.shutdown_tx.subscribe();
        self.inner.runtime.spawn(async move {
            while engine.sleep(Duration::from_secs(2), &mut shutdown).await {
                let after = engine.lanes().highest_id;
                if let Ok(Ok(found)) = engine
                    .blocking(move |s| s.pending_queue(after).map(|q| schedule(s, q)))
                    .await
                {
                    engine.dispatch(found);
                }
                engine.restart_orphaned_lanes();
            }
        });
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    /// Persist the messages, then schedule them. Returns once they are durable.
    pub async fn enqueue(&self, messages: Vec<OutboundMessage>) -> Result<Vec<i64>, EnqueueError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        // The store may leave messages out (a decided judgment), so each stored one is placed by
        // its body, read back in the same call (no second chance to fail after the write).
        let (stored, scheduled) = self
            .blocking(move |s| {
                s.enqueue(&messages, now).map(|stored| {
                    let scheduled = schedule(s, stored.clone());
                    (stored, scheduled)
                })
            })
            .await??;
        for m in &stored {
            self.inner
                .metrics
                .accepted
                .with_label_values(&[&m.kind])
                .inc();
        }
        let ids = stored.iter().map(|m| m.id).collect();
        self.dispatch(scheduled);
        Ok(ids)
    }

    /// Refresh the outbox gauges (called before a scrape).
    pub async fn refresh_gauges(&self) {
        let now = now_ms();
        if let Ok(Ok(stats)) = self.blocking(move |s| s.stats(now)).await {
            let m = &self.inner.metrics;
            m.pending.set(stats.pending as i64);
            m.dead_letters.set(stats.dead as i64);
            m.oldest_age
                .set(stats.oldest_pending_age_ms.map(|ms| ms / 1000).unwrap_or(0));
        }
    }

    /// Stop starting new sends, and wait up to `grace` for sends in flight to finish. Whatever
    /// is not delivered stays in the store for the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let _ = self.inner.shutdown_tx.send(true);
        let deadline = tokio::time::Instant::now().checked_add(grace);
        while self.inner.running_lanes.load(Ordering::SeqCst) > 0 {
            // Register before re-checking, so a lane finishing in between is not missed.
            let idle = self.inner.lanes_idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.running_lanes.load(Ordering::SeqCst) == 0 {
                break;
            }
            let finished = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, idle).await.is_ok(),
                None => {
                    idle.await;
                    true
                }
            };
            if !finished {
                tracing::warn!("delivery still in flight at shutdown; it resumes on next start");
                break;
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> T + Send + 'static,
    ) -> Result<T, EnqueueError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| EnqueueError::WorkerGone)
    }

    /// A store call of the delivery path; a failure is counted and described, for a retry.
    async fn store_call<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let result = match self.blocking(f).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        self.inner
            .metrics
            .store_errors
            .with_label_values(&[op])
            .inc();
        Err(result)
    }

    fn lanes(&self) -> MutexGuard<'_, Lanes> {
        self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dispatch(&self, messages: Vec<Scheduled>) {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        let to_start: Vec<(String, u64)> = {
            let mut lanes = self.lanes();
            messages.into_iter().filter_map(|m| lanes.push(m)).collect()
        };
        for (lane, task) in to_start {
            self.start_lane(lane, task);
        }
    }

    fn restart_orphaned_lanes(&self) {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        let orphaned = self.lanes().orphaned();
        for (lane, task) in orphaned {
            tracing::info!(lane = %lane, "restarting a delivery lane whose task ended early");
            self.start_lane(lane, task);
        }
    }

    /// Run task number `task` for `lane`. The lane's work runs as a task of its own, awaited
    /// here: however it ends (its queue empty, shutdown, even a panic), the lane's mark is
    /// cleared, so the next message for it starts a new task.
    fn start_lane(&self, lane: String, task: u64) {
        self.inner.running_lanes.fetch_add(1, Ordering::SeqCst);
        let guard = LaneGuard(self.inner.clone());
        let engine = self.clone();
        let span = tracing::info_span!("lane", lane = %lane);
        let runtime = self.inner.runtime.clone();
        self.inner.runtime.spawn(
            async move {
                let _guard = guard;
                let work = runtime.spawn(
                    engine
                        .clone()
                        .run_lane(lane.clone(), task)
                        .in_current_span(),
                );
                let ended = work.await;
                engine.lane_ended(&lane, task, ended);
            }
            .instrument(span),
        );
    }

    fn lane_ended(&self, lane: &str, task: u64, ended: Result<(), tokio::task::JoinError>) {
        if let Err(e) = &ended
            && e.is_panic()
        {
            self.inner.metrics.lane_panics.inc();
            tracing::error!(
                lane,
                "a delivery lane panicked; its messages stay queued and the lane restarts"
            );
        }
        let mut lanes = self.lanes();
        if lanes.running.get(lane) == Some(&task) {
            lanes.running.remove(lane);
        }
    }

    /// Deliver one lane's messages in order until its queue is empty.
    async fn run_lane(self, lane: String, task: u64) {
        let mut shutdown = self.inner.shutdown_tx.subscribe();
        // Consecutive failures to read the head from the store.
        let mut read_failures = 0u32;
        loop {
            #[cfg(test)]
            self.test_fault(&lane);
            if self.inner.stopping.load(Ordering::SeqCst) {
                break;
            }
            let head = {
                let mut lanes = self.lanes();
                match lanes.queues.get(&lane).and_then(|q| q.front().cloned()) {
                    Some(m) => m,
                    None => {
                        // Under the same lock as `dispatch`: a message queued from now on
                        // starts a new task.
                        lanes.queues.remove(&lane);
                        if lanes.running.get(&lane) == Some(&task) {
                            lanes.running.remove(&lane);
                        }
                        break;
                    }
                }
            };
            let wait = self.wait_until(head.next_attempt_ms);
            if !wait.is_zero() && !self.sleep(wait, &mut shutdown).await {
                break;
            }
            let id = head.id;
            let head = match self
                .store_call("pending_message", move |s| s.pending_message(id))
                .await
            {
                Ok(Some(m)) => {
                    read_failures = 0;
                    m
                }
                Ok(None) => {
                    // No longer pending (dropped by `reverb outbox drop`, or already handled).
                    self.remove(&lane, id);
                    continue;
                }
                Err(e) => {
                    // Keep it at the head (the lane's order holds) and read it again later.
                    read_failures = read_failures.saturating_add(1);
                    let delay = self.backoff(read_failures);
                    tracing::warn!(id, error = %e, retry_in_ms = millis(delay), "cannot read the next message from the store; retrying");
                    self.set_next_attempt(&lane, id, at(now_ms(), delay));
                    continue;
                }
            };
            let span = tracing::info_span!(
                "deliver",
                id = head.id,
                lane = %lane,
                kind = %head.message.kind,
                method = head.message.method.as_str(),
                attempt = head.attempts + 1
            );
            if head.message.method == DeliveryMethod::ResponseUrl && self.expired(&head) {
                self.drop_expired_reply(&head).instrument(span).await;
                self.remove(&lane, head.id);
                continue;
            }
            let attempt = self
                .attempt(&head, &mut shutdown)
                .instrument(span.clone())
                .await;
            let Some(attempt) = attempt else { break };
            match self
                .settle(&head, attempt, &mut shutdown)
                .instrument(span)
                .await
            {
                Settled::Done => self.remove(&lane, head.id),
                Settled::Retry(next_attempt_ms) => {
                    self.set_next_attempt(&lane, head.id, next_attempt_ms);
                }
                Settled::Interrupted => break,
            }
        }
    }

    #[cfg(test)]
    fn test_fault(&self, lane: &str) {
        let panic_now = self
            .inner
            .panic_next_turn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(lane);
        if panic_now {
            panic!("injected lane failure in {lane}");
        }
    }

    fn remove(&self, lane: &str, id: i64) {
        let was_post = self.lanes().remove(lane, id);
        if was_post {
            self.inner.posts_settled.notify_waiters();
        }
    }

    fn set_next_attempt(&self, lane: &str, id: i64, next_attempt_ms: i64) {
        let mut lanes = self.lanes();
        if let Some(entry) = lanes
            .queues
            .get_mut(lane)
            .and_then(|q| q.iter_mut().find(|e| e.id == id))
        {
            entry.next_attempt_ms = next_attempt_ms;
        }
    }

    /// How long until `next_attempt_ms`, never longer than the longest wait this engine obeys
    /// (a row scheduled far ahead by an older version does not stall its lane either).
    fn wait_until(&self, next_attempt_ms: i64) -> Duration {
        let ms = next_attempt_ms.saturating_sub(now_ms());
        if ms <= 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(ms as u64).min(self.inner.settings.max_retry_after)
    }

    /// Sleep unless shutting down; false when shutdown interrupted it.
    async fn sleep(&self, d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
        if *shutdown.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = shutdown.changed() => false,
        }
    }

    fn expired(&self, head: &StoredMessage) -> bool {
        let age_ms = now_ms().saturating_sub(head.created_ms);
        age_ms > 0 && Duration::from_millis(age_ms as u64) > RESPONSE_URL_LIFETIME
    }

    /// Slack no longer takes this `response_url`: drop the reply, count it and say so once.
    async fn drop_expired_reply(&self, head: &StoredMessage) {
        self.inner.metrics.response_url_expired.inc();
        tracing::warn!(
            age_s = now_ms().saturating_sub(head.created_ms) / 1000,
            "response_url reply dropped: Slack accepts a response_url for 30 minutes only"
        );
        let id = head.id;
        if let Err(e) = self
            .store_call("complete", move |s| s.complete(id, None, now_ms()))
            .await
        {
            // Still pending in the store: the next start finds it expired and drops it then.
            tracing::error!(error = %e, "could not remove the expired reply from the store");
        }
    }

    /// Record the outcome.
    async fn settle(
        &self,
        head: &StoredMessage,
        attempt: Attempt,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Settled {
        let m = &self.inner.metrics;
        let kind = head.message.kind.clone();
        match attempt {
            Attempt::Delivered(reference) => {
                m.delivered.with_label_values(&[&kind]).inc();
                self.record_completion(head.id, reference, shutdown).await
            }
            Attempt::Skipped(why) => {
                tracing::debug!(why, "nothing to deliver");
                self.record_completion(head.id, None, shutdown).await
            }
            Attempt::Failed(err) => {
                let delay = self.retry_delay(&err, head.attempts.saturating_add(1));
                self.failed(head, err.to_string(), err.is_permanent(), delay)
                    .await
            }
            Attempt::StoreFailed(why) => {
                let delay = self.backoff(head.attempts.saturating_add(1));
                self.failed(head, why, false, delay).await
            }
        }
    }

    /// Slack has the message: remove it from the outbox (and record where it landed). A store
    /// that fails here is retried with backoff for as long as the process runs, and the message
    /// is never sent again meanwhile: it stays at the head of its lane, unsent.
    async fn record_completion(
        &self,
        id: i64,
        reference: Option<(String, MessageRef)>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Settled {
        let mut failures = 0u32;
        loop {
            let reference = reference.clone();
            let result = self
                .store_call("complete", move |s| {
                    s.complete(
                        id,
                        reference.as_ref().map(|(k, r)| (k.as_str(), r)),
                        now_ms(),
                    )
                })
                .await;
            let error = match result {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(failures, "the store recorded the delivered message");
                    }
                    return Settled::Done;
                }
                Err(e) => e,
            };
            failures = failures.saturating_add(1);
            let delay = self.backoff(failures);
            if failures == 1 {
                tracing::error!(error = %error, "Slack has the message but the store could not record it; retrying the store, not Slack");
            } else {
                tracing::debug!(error = %error, failures, "store still failing");
            }
            if !self.sleep(delay, shutdown).await {
                tracing::warn!(
                    "stopping before the store recorded a delivered message; it is sent again at the next start"
                );
                return Settled::Interrupted;
            }
        }
    }

    /// A failed attempt: dead-letter it (permanent, or too old), or retry after `delay`.
    async fn failed(
        &self,
        head: &StoredMessage,
        reason: String,
        permanent: bool,
        delay: Duration,
    ) -> Settled {
        let m = &self.inner.metrics;
        let kind = head.message.kind.clone();
        let id = head.id;
        let now = now_ms();
        let age = Duration::from_millis(now.saturating_sub(head.created_ms).max(0) as u64);
        let give_up_reason = if permanent {
            Some(reason.clone())
        } else if age >= self.inner.settings.max_age {
            Some(format!("{reason}; still failing after {}s", age.as_secs()))
        } else {
            None
        };
        if let Some(reason) = give_up_reason {
            // Logged once, here, with the destination and Slack's own words.
            tracing::warn!(
                channel = %log_address(&head.message),
                error = %reason,
                "Slack message dead-lettered; list with `reverb outbox list`"
            );
            m.dead_lettered.with_label_values(&[&kind]).inc();
            if let Err(e) = self
                .store_call("dead_letter", move |s| s.dead_letter(id, &reason, now))
                .await
            {
                // Left pending in the store: it is tried again at the next start, never here.
                tracing::error!(error = %e, op = "dead_letter", "store update failed");
            }
            return Settled::Done;
        }
        let attempts = head.attempts.saturating_add(1);
        let next = at(now, delay);
        tracing::info!(error = %reason, retry_in_ms = millis(delay), "Slack delivery will be retried");
        m.retried.with_label_values(&[&kind]).inc();
        if let Err(e) = self
            .store_call("schedule_retry", move |s| {
                s.schedule_retry(id, attempts, next, &reason)
            })
            .await
        {
            // The retry happens anyway (it is kept in memory); only the count is not stored.
            tracing::error!(error = %e, op = "schedule_retry", "store update failed");
        }
        Settled::Retry(next)
    }

    fn retry_delay(&self, err: &SlackError, attempts: u32) -> Duration {
        retry_delay(&self.inner.settings, err, attempts, unit_random())
    }

    fn backoff(&self, attempts: u32) -> Duration {
        backoff(&self.inner.settings, attempts, unit_random())
    }

    fn client(&self, kind: SlackClientKind) -> Result<&SlackClient, SlackError> {
        let clients = &self.inner.clients;
        let chosen = match kind {
            SlackClientKind::Legacy => clients.legacy.as_ref().or(clients.app.as_ref()),
            SlackClientKind::App => clients.app.as_ref().or(clients.legacy.as_ref()),
        };
        chosen.ok_or_else(|| SlackError {
            method: "none",
            code: "slack_not_configured".into(),
            class: ErrorClass::Permanent,
            http_status: None,
            detail: Some("no Slack token is configured".into()),
        })
    }

    /// One delivery attempt; `None` when shutdown interrupted the wait before sending.
    async fn attempt(
        &self,
        head: &StoredMessage,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Attempt> {
        let msg = &head.message;
        let client = match self.client(msg.client) {
            Ok(c) => c.clone(),
            Err(e) => return Some(Attempt::Failed(e)),
        };
        Some(match msg.method {
            DeliveryMethod::Post => self.post(&client, msg, shutdown).await?,
            DeliveryMethod::Update => {
                let key = msg.ref_key.clone().unwrap_or_default();
                // The message this edits may still be queued in the channel's lane.
                if !self.wait_for_earlier_posts(&key, head.id, shutdown).await {
                    return None;
                }
                let lookup = key.clone();
                match self
                    .store_call("message_ref", move |s| s.message_ref(&lookup))
                    .await
                {
                    Err(e) => Attempt::StoreFailed(format!("looking up the message to edit: {e}")),
                    Ok(Some(r)) => {
                        if !self.pace_method("chat.update", shutdown).await {
                            return None;
                        }
                        let result = self
                            .call(
                                "chat.update",
                                client.update_message(&r.channel_id, &r.ts, &msg.message),
                            )
                            .await;
                        match result {
                            Ok(_) => Attempt::Delivered(None),
                            Err(e) => Attempt::Failed(e),
                        }
                    }
                    Ok(None) if msg.post_if_missing => self.post(&client, msg, shutdown).await?,
                    Ok(None) => Attempt::Skipped("no message recorded to update"),
                }
            }
            DeliveryMethod::Ephemeral => {
                if !self.pace_method("chat.postEphemeral", shutdown).await {
                    return None;
                }
                let user = msg.ephemeral_user.clone().unwrap_or_default();
                match self
                    .call(
                        "chat.postEphemeral",
                        client.post_ephemeral(&msg.address, &user, &msg.message),
                    )
                    .await
                {
                    Ok(()) => Attempt::Delivered(None),
                    Err(e) => Attempt::Failed(e),
                }
            }
            DeliveryMethod::ResponseUrl => {
                let url = match response_url::rebase(
                    &self.inner.settings.response_url_base,
                    &msg.address,
                ) {
                    Ok(url) => url,
                    Err(why) => {
                        return Some(Attempt::Failed(SlackError {
                            method: "response_url",
                            code: "invalid_response_url".into(),
                            class: ErrorClass::Permanent,
                            http_status: None,
                            detail: Some(format!("not sent: {why}")),
                        }));
                    }
                };
                let mut body = serde_json::to_value(&msg.message).unwrap_or_else(|_| json!({}));
                body["replace_original"] = json!(true);
                match self
                    .call("response_url", client.post_response_url(&url, &body))
                    .await
                {
                    Ok(()) => Attempt::Delivered(None),
                    Err(e) => Attempt::Failed(e),
                }
            }
        })
    }

    /// Wait while a post recording `key`, accepted before edit `id`, is still queued: the edit
    /// would otherwise find no message (and be dropped) or edit an older one. False on shutdown.
    async fn wait_for_earlier_posts(
        &self,
        key: &str,
        id: i64,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut told = false;
        loop {
            // Register before checking, so a post leaving in between is not missed.
            let settled = self.inner.posts_settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if !self.lanes().earlier_post_queued(key, id) {
                return true;
            }
            if !told {
                tracing::debug!("the message to edit is not posted yet; the edit waits for it");
                told = true;
            }
            if *shutdown.borrow() {
                return false;
            }
            tokio::select! {
                _ = settled => {}
                _ = shutdown.changed() => return false,
            }
        }
    }

    async fn post(
        &self,
        client: &SlackClient,
        msg: &OutboundMessage,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Attempt> {
        // Posts are paced per channel, whichever lane they come from.
        let channel_lane = msg.lane();
        let mut channel = match self.resolve_address(client, &msg.address).await {
            Ok(c) => c,
            Err(e) => return Some(Attempt::Failed(e)),
        };
        let mut thread_ts = None;
        if let Some(key) = msg.thread_key.clone() {
            match self
                .store_call("message_ref", move |s| s.message_ref(&key))
                .await
            {
                Ok(Some(parent)) => {
                    channel = parent.channel_id;
                    thread_ts = Some(parent.ts);
                }
                Ok(None) => {}
                // Never a reply posted outside its thread because the store had a bad moment.
                Err(e) => {
                    return Some(Attempt::StoreFailed(format!(
                        "looking up the thread to reply in: {e}"
                    )));
                }
            }
        }
        if !self.pace_lane(&channel_lane, shutdown).await {
            return None;
        }
        let method = if client.is_webhook() {
            "webhook"
        } else {
            "chat.postMessage"
        };
        let result = self
            .call(
                method,
                client.post_message(&channel, &msg.message, thread_ts.as_deref()),
            )
            .await;
        let answered = Instant::now();
        {
            let mut buckets = self
                .inner
                .channel_buckets
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let bucket = buckets
                .entry(channel_lane)
                .or_insert_with(|| self.new_channel_bucket());
            match &result {
                Err(SlackError {
                    class: ErrorClass::RateLimited { retry_after },
                    ..
                }) => bucket.block_for(
                    (*retry_after).min(self.inner.settings.max_retry_after),
                    answered,
                ),
                _ => bucket.consume(answered),
            }
        }
        Some(match result {
            Ok(posted) => Attempt::Delivered(match (posted, &msg.ref_key) {
                (Some(p), Some(key)) => Some((
                    key.clone(),
                    MessageRef {
                        channel_id: p.channel_id,
                        ts: p.ts,
                    },
                )),
                _ => None,
            }),
            Err(e) => Attempt::Failed(e),
        })
    }

    fn new_channel_bucket(&self) -> TokenBucket {
        let s = &self.inner.settings;
        TokenBucket::new(s.channel_rate, s.channel_burst, Instant::now())
    }

    /// Wait for the channel's bucket; false on shutdown.
    async fn pace_lane(&self, channel_lane: &str, shutdown: &mut watch::Receiver<bool>) -> bool {
        loop {
            let wait = {
                let mut buckets = self
                    .inner
                    .channel_buckets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                buckets
                    .entry(channel_lane.to_string())
                    .or_insert_with(|| self.new_channel_bucket())
                    .wait_time(Instant::now())
            };
            if wait.is_zero() {
                return true;
            }
            if !self.sleep(wait, shutdown).await {
                return false;
            }
        }
    }

    /// Workspace-wide pacing of the tiered methods (Tier 3: ~50/min, Tier 4: ~100/min).
    async fn pace_method(
        &self,
        method: &'static str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let (rate, burst) = match method {
            "chat.update" => (50.0 / 60.0, 10),
            _ => (100.0 / 60.0, 20),
        };
        loop {
            let wait = {
                let mut buckets = self
                    .inner
                    .method_buckets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let bucket = buckets
                    .entry(method)
                    .or_insert_with(|| TokenBucket::new(rate, burst, Instant::now()));
                let wait = bucket.wait_time(Instant::now());
                if wait.is_zero() {
                    bucket.consume(Instant::now());
                }
                wait
            };
            if wait.is_zero() {
                return true;
            }
            if !self.sleep(wait, shutdown).await {
                return false;
            }
        }
    }

    /// Run one Slack call under the concurrency limit, with metrics.
    async fn call<T>(
        &self,
        method: &'static str,
        fut: impl Future<Output = Result<T, SlackError>>,
    ) -> Result<T, SlackError> {
        let _permit = self.inner.permits.acquire().await;
        let started = Instant::now();
        let result = fut.await;
        let m = &self.inner.metrics;
        m.api_latency
            .with_label_values(&[method])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => match e.class {
                ErrorClass::RateLimited { .. } => {
                    m.rate_limited.with_label_values(&[method]).inc();
                    "rate_limited"
                }
                ErrorClass::Retryable => "retryable_error",
                ErrorClass::Permanent => "permanent_error",
            },
        };
        m.api_calls.with_label_values(&[method, outcome]).inc();
        result
    }

    /// Spinnaker users write e-mail addresses too: those become the user's DM.
    async fn resolve_address(
        &self,
        client: &SlackClient,
        address: &str,
    ) -> Result<String, SlackError> {
        let address = address.trim();
        if !address.contains('@') || client.is_webhook() {
            return Ok(address.to_string());
        }
        let key = address.to_lowercase();
        if let Some(id) = self
            .inner
            .user_ids_by_email
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(id.clone());
        }
        let user = self
            .call("users.lookupByEmail", client.lookup_by_email(address))
            .await?;
        self.inner
            .user_ids_by_email
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, user.id.clone());
        Ok(user.id)
    }
}

/// Where a message goes, for logs: a `response_url` is a credential (and untrusted text), so
/// only its lane's digest is shown.
fn log_address(message: &OutboundMessage) -> String {
    match message.method {
        DeliveryMethod::ResponseUrl => response_url::lane(&message.address),
        _ => message.address.clone(),
    }
}

/// The delay before retrying after `err`: Slack's `Retry-After` when it gave one, backoff
/// otherwise; never longer than `max_retry_after`.
fn retry_delay(s: &DeliverySettings, err: &SlackError, attempts: u32, jitter: f64) -> Duration {
    match err.class {
        ErrorClass::RateLimited { retry_after } => retry_after.min(s.max_retry_after),
        _ => backoff(s, attempts, jitter),
    }
}

/// Exponential backoff with ±20% jitter (`jitter` in [0, 1)), capped by `max_backoff` and by
/// `max_retry_after`.
fn backoff(s: &DeliverySettings, attempts: u32, jitter: f64) -> Duration {
    let exp = s.initial_backoff.saturating_mul(
        1u32.checked_shl(attempts.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX),
    );
    let capped = exp.min(s.max_backoff);
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Duration::try_from_secs_f64(capped.as_secs_f64() * factor)
        .unwrap_or(capped)
        .min(s.max_retry_after)
}

/// `now_ms + delay` in epoch milliseconds, saturating.
fn at(now_ms: i64, delay: Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A number in [0, 1) for jitter; quality does not matter, only spread.
fn unit_random() -> f64 {
    let mut bytes = [0u8; 8];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
