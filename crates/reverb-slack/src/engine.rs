//! The delivery engine: durable outbox in, Slack out.
//!
//! Every message is in the store before `enqueue` returns. Each channel ("lane") has one task
//! that sends its messages strictly in acceptance order, paced by a token bucket at Slack's
//! per-channel rate; lanes run concurrently, so a busy or failing channel never delays another.
//! A message leaves the store only after Slack confirmed it (or it was dead-lettered), so a crash
//! at any moment at worst repeats the one message that was in flight.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
            response_url_base: "https://hooks.slack.com".into(),
        }
    }
}

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
    /// The runtime the engine was started on. Lanes are spawned there, never on the runtime of
    /// whoever called `enqueue` (an actix worker's runtime dies with the worker at shutdown).
    runtime: tokio::runtime::Handle,
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

/// Per-channel queues of message ids (the messages stay in the store), and every id queued
/// anywhere (so a message is never queued twice).
#[derive(Default)]
struct Lanes {
    queues: HashMap<String, VecDeque<QueuedMessage>>,
    queued_ids: HashSet<i64>,
    /// Lanes with a running task; exactly one task per lane keeps the order.
    running: HashSet<String>,
    highest_id: i64,
}

/// How one attempt ended.
enum Attempt {
    Delivered(Option<(String, MessageRef)>),
    /// Nothing to do (an update of a message that was never posted).
    Skipped(&'static str),
    Failed(SlackError),
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
                runtime: tokio::runtime::Handle::current(),
            }),
        };
        let pending = engine.blocking(|s| s.pending_queue(0)).await??;
        if !pending.is_empty() {
            tracing::info!(count = pending.len(), "resuming pending Slack messages");
        }
        engine.dispatch(pending);
        engine.spawn_sweeper();
        Ok(engine)
    }

    /// Pick up messages another process added to the store (a dead letter revived with
    /// `reverb outbox retry` while this one runs).
    fn spawn_sweeper(&self) {
        let engine = self.clone();
        let mut shutdown = self.inner.shutdown_tx.subscribe();
        self.inner.runtime.spawn(async move {
            while engine.sleep(Duration::from_secs(2), &mut shutdown).await {
                let after = engine
                    .inner
                    .lanes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .highest_id;
                if let Ok(Ok(found)) = engine.blocking(move |s| s.pending_queue(after)).await {
                    engine.dispatch(found);
                }
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
        let stored = self.blocking(move |s| s.enqueue(&messages, now)).await??;
        for m in &stored {
            self.inner
                .metrics
                .accepted
                .with_label_values(&[&m.kind])
                .inc();
        }
        let ids = stored.iter().map(|m| m.id).collect();
        self.dispatch(stored);
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
        let deadline = Instant::now() + grace;
        while self.inner.running_lanes.load(Ordering::SeqCst) > 0 {
            // Register before re-checking, so a lane finishing in between is not missed.
            let idle = self.inner.lanes_idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.running_lanes.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline.into(), idle)
                .await
                .is_err()
            {
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

    fn dispatch(&self, messages: Vec<QueuedMessage>) {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        let mut to_start = Vec::new();
        {
            let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            for m in messages {
                lanes.highest_id = lanes.highest_id.max(m.id);
                if !lanes.queued_ids.insert(m.id) {
                    continue;
                }
                let lane = m.lane.clone();
                lanes.queues.entry(lane.clone()).or_default().push_back(m);
                if lanes.running.insert(lane.clone()) {
                    to_start.push(lane);
                }
            }
        }
        for lane in to_start {
            self.inner.running_lanes.fetch_add(1, Ordering::SeqCst);
            let guard = LaneGuard(self.inner.clone());
            let engine = self.clone();
            let span = tracing::info_span!("lane", channel = %lane);
            self.inner.runtime.spawn(
                async move {
                    let _guard = guard;
                    engine.run_lane(lane).await
                }
                .instrument(span),
            );
        }
    }

    /// Deliver one channel's messages in order until its queue is empty.
    async fn run_lane(self, lane: String) {
        let mut shutdown = self.inner.shutdown_tx.subscribe();
        loop {
            if self.inner.stopping.load(Ordering::SeqCst) {
                self.inner
                    .lanes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .running
                    .remove(&lane);
                break;
            }
            let head = {
                let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
                match lanes.queues.get(&lane).and_then(|q| q.front().cloned()) {
                    Some(m) => m,
                    None => {
                        lanes.queues.remove(&lane);
                        lanes.running.remove(&lane);
                        break;
                    }
                }
            };
            let wait_ms = head.next_attempt_ms - now_ms();
            if wait_ms > 0
                && !self
                    .sleep(Duration::from_millis(wait_ms as u64), &mut shutdown)
                    .await
            {
                break;
            }
            let id = head.id;
            let Ok(Ok(Some(head))) = self.blocking(move |s| s.pending_message(id)).await else {
                // No longer pending (dropped by `reverb outbox drop`), or the store failed: forget
                // it here; a message that is still pending is queued again at the next start.
                self.pop_head(&lane, id);
                continue;
            };
            let span = tracing::info_span!(
                "deliver",
                id = head.id,
                kind = %head.message.kind,
                method = head.message.method.as_str(),
                attempt = head.attempts + 1
            );
            let attempt = self
                .attempt(&lane, &head, &mut shutdown)
                .instrument(span.clone())
                .await;
            let Some(attempt) = attempt else { break };
            match self.settle(&head, attempt).instrument(span).await {
                Some(retry) => {
                    let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(front) = lanes.queues.get_mut(&lane).and_then(|q| q.front_mut()) {
                        front.next_attempt_ms = retry.next_attempt_ms;
                    }
                }
                None => self.pop_head(&lane, head.id),
            }
        }
    }

    fn pop_head(&self, lane: &str, id: i64) {
        let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queue) = lanes.queues.get_mut(lane)
            && queue.front().is_some_and(|m| m.id == id)
        {
            queue.pop_front();
        }
        lanes.queued_ids.remove(&id);
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

    /// Record the outcome; returns the head to keep (retry) or `None` to pop it.
    async fn settle(&self, head: &StoredMessage, attempt: Attempt) -> Option<StoredMessage> {
        let m = &self.inner.metrics;
        let kind = head.message.kind.clone();
        let id = head.id;
        let now = now_ms();
        match attempt {
            Attempt::Delivered(reference) => {
                m.delivered.with_label_values(&[&kind]).inc();
                let result = self
                    .blocking(move |s| {
                        s.complete(id, reference.as_ref().map(|(k, r)| (k.as_str(), r)), now)
                    })
                    .await;
                log_store_failure(result, "complete");
                None
            }
            Attempt::Skipped(why) => {
                tracing::debug!(why, "nothing to deliver");
                log_store_failure(
                    self.blocking(move |s| s.complete(id, None, now)).await,
                    "complete",
                );
                None
            }
            Attempt::Failed(err) => {
                let age = Duration::from_millis((now - head.created_ms).max(0) as u64);
                let give_up_reason = if err.is_permanent() {
                    Some(err.to_string())
                } else if age >= self.inner.settings.max_age {
                    Some(format!("{err}; still failing after {}s", age.as_secs()))
                } else {
                    None
                };
                if let Some(reason) = give_up_reason {
                    // Logged once, here, with the channel and Slack's own words.
                    tracing::warn!(
                        channel = %head.message.address,
                        error = %reason,
                        "Slack message dead-lettered; list with `reverb outbox list`"
                    );
                    m.dead_lettered.with_label_values(&[&kind]).inc();
                    log_store_failure(
                        self.blocking(move |s| s.dead_letter(id, &reason, now))
                            .await,
                        "dead_letter",
                    );
                    return None;
                }
                let attempts = head.attempts + 1;
                let delay = match err.class {
                    ErrorClass::RateLimited { retry_after } => retry_after,
                    _ => self.backoff(attempts),
                };
                let next = now + delay.as_millis() as i64;
                tracing::info!(error = %err, retry_in_ms = delay.as_millis() as u64, "Slack delivery will be retried");
                m.retried.with_label_values(&[&kind]).inc();
                let text = err.to_string();
                log_store_failure(
                    self.blocking(move |s| s.schedule_retry(id, attempts, next, &text))
                        .await,
                    "schedule_retry",
                );
                Some(StoredMessage {
                    attempts,
                    next_attempt_ms: next,
                    last_error: Some(err.to_string()),
                    ..head.clone()
                })
            }
        }
    }

    /// Exponential backoff with ±20% jitter, capped.
    fn backoff(&self, attempts: u32) -> Duration {
        let s = &self.inner.settings;
        let exp = s.initial_backoff.saturating_mul(
            1u32.checked_shl(attempts.saturating_sub(1).min(20))
                .unwrap_or(u32::MAX),
        );
        let capped = exp.min(s.max_backoff);
        capped.mul_f64(0.8 + 0.4 * unit_random())
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
        lane: &str,
        head: &StoredMessage,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Attempt> {
        let msg = &head.message;
        let client = match self.client(msg.client) {
            Ok(c) => c.clone(),
            Err(e) => return Some(Attempt::Failed(e)),
        };
        Some(match msg.method {
            DeliveryMethod::Post => self.post(lane, &client, msg, shutdown).await?,
            DeliveryMethod::Update => {
                let key = msg.ref_key.clone().unwrap_or_default();
                let existing = match self.blocking(move |s| s.message_ref(&key)).await {
                    Ok(Ok(r)) => r,
                    _ => None,
                };
                match existing {
                    Some(r) => {
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
                    None if msg.post_if_missing => self.post(lane, &client, msg, shutdown).await?,
                    None => Attempt::Skipped("no message recorded to update"),
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
                let url = rebase_response_url(&self.inner.settings.response_url_base, &msg.address);
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

    async fn post(
        &self,
        lane: &str,
        client: &SlackClient,
        msg: &OutboundMessage,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Attempt> {
        let mut channel = match self.resolve_address(client, &msg.address).await {
            Ok(c) => c,
            Err(e) => return Some(Attempt::Failed(e)),
        };
        let mut thread_ts = None;
        if let Some(key) = msg.thread_key.clone()
            && let Ok(Ok(Some(parent))) = self.blocking(move |s| s.message_ref(&key)).await
        {
            channel = parent.channel_id;
            thread_ts = Some(parent.ts);
        }
        if !self.pace_lane(lane, shutdown).await {
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
                .entry(lane.to_string())
                .or_insert_with(|| self.new_channel_bucket());
            match &result {
                Err(SlackError {
                    class: ErrorClass::RateLimited { retry_after },
                    ..
                }) => bucket.block_for(*retry_after, answered),
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
    async fn pace_lane(&self, lane: &str, shutdown: &mut watch::Receiver<bool>) -> bool {
        loop {
            let wait = {
                let mut buckets = self
                    .inner
                    .channel_buckets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                buckets
                    .entry(lane.to_string())
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

fn log_store_failure<T>(result: Result<Result<T, StoreError>, EnqueueError>, op: &str) {
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, op, "store update failed"),
        Err(e) => tracing::error!(error = %e, op, "store update failed"),
    }
}

/// Keep only the path (and query) of a `response_url`, on the configured Slack hooks base.
fn rebase_response_url(base: &str, url: &str) -> String {
    let path = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            after.find('/').map(|j| &after[j..]).unwrap_or("/")
        }
        None => url,
    };
    format!("{}{}", base.trim_end_matches('/'), path)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_urls_keep_only_the_path() {
        assert_eq!(
            rebase_response_url(
                "https://hooks.slack.com",
                "https://evil.example/actions/T0/1/abc"
            ),
            "https://hooks.slack.com/actions/T0/1/abc"
        );
        assert_eq!(
            rebase_response_url("http://127.0.0.1:9/", "https://hooks.slack.com/actions/x"),
            "http://127.0.0.1:9/actions/x"
        );
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let r = unit_random();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
