//! Running the engine: starting it (and resuming what a previous process left pending),
//! accepting messages, stopping, and the lane tasks that deliver each lane in order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use reverb_config::DeliverySettings;
use reverb_store::{Store, StoreError};
use reverb_support::{clock, now_ms, off_thread};
use tokio::sync::{Notify, Semaphore, watch};
use tracing::Instrument;

use super::attempt::Clients;
use super::intake;
use super::lanes::{Lanes, Scheduled, schedule};
use super::pacing::Pacer;
use super::settle::Settled;
use super::{DeliveryEngine, EnqueueError, Inner, SlackClients};
use crate::metrics::DeliveryMetrics;

/// Counts a running lane; the count drops even if the task is cancelled.
struct LaneGuard(Arc<Inner>);

impl Drop for LaneGuard {
    fn drop(&mut self) {
        if self.0.running_lanes.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.lanes_idle.notify_waiters();
        }
    }
}

/// Sleep unless shutting down; false when shutdown interrupted it.
pub(super) async fn sleep(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.changed() => false,
    }
}

impl DeliveryEngine {
    /// Start the engine and resume every message a previous process left pending.
    /// `response_url_base` is where `response_url` replies go (`reverb.slack.responseUrlBase`).
    pub async fn start(
        store: Arc<dyn Store>,
        clients: SlackClients,
        response_url_base: impl Into<String>,
        settings: DeliverySettings,
        metrics: DeliveryMetrics,
    ) -> Result<Self, EnqueueError> {
        Self::start_with(
            store,
            clients.into(),
            response_url_base.into(),
            settings,
            metrics,
        )
        .await
    }

    /// [`DeliveryEngine::start`] with any Slack (the tests' stands in process).
    pub(super) async fn start_with(
        store: Arc<dyn Store>,
        clients: Clients,
        response_url_base: String,
        settings: DeliverySettings,
        metrics: DeliveryMetrics,
    ) -> Result<Self, EnqueueError> {
        let (shutdown_tx, _) = watch::channel(false);
        let (intake, requests) = intake::channel();
        let engine = Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(settings.concurrency.max(1)),
                store,
                clients,
                backoff: settings.backoff(),
                pacer: Pacer::new(&settings),
                settings,
                response_url_base,
                metrics,
                lanes: Default::default(),
                users_by_email: Default::default(),
                intake,
                shutdown_tx,
                stopping: AtomicBool::new(false),
                running_lanes: AtomicUsize::new(0),
                lanes_idle: Notify::new(),
                posts_settled: Notify::new(),
                runtime: tokio::runtime::Handle::current(),
                #[cfg(test)]
                panic_next_turn: Default::default(),
            }),
        };
        let pending = off_thread(engine.inner.store.clone(), |s| {
            s.pending_queue(0).map(|q| schedule(s, q))
        })
        .await??;
        if !pending.is_empty() {
            tracing::info!(count = pending.len(), "resuming pending Slack messages");
        }
        engine.dispatch(pending);
        engine.inner.runtime.spawn(intake::commit_requests(
            Arc::downgrade(&engine.inner),
            engine.inner.store.clone(),
            requests,
        ));
        engine.spawn_sweeper();
        Ok(engine)
    }

    /// Pick up messages another process added to the store (a dead letter revived with
    /// `reverb outbox retry` while this one runs), and restart lanes whose task died.
    fn spawn_sweeper(&self) {
        let engine = self.clone();
        let mut shutdown = self.inner.shutdown_tx.subscribe();
        self.inner.runtime.spawn(async move {
            while sleep(Duration::from_secs(2), &mut shutdown).await {
                let after = engine.lanes().highest_id;
                if let Ok(Ok(found)) = off_thread(engine.inner.store.clone(), move |s| {
                    s.pending_queue(after).map(|q| schedule(s, q))
                })
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

    /// Refresh the outbox gauges (called before a scrape).
    pub async fn refresh_gauges(&self) {
        let now = now_ms();
        if let Ok(Ok(stats)) = off_thread(self.inner.store.clone(), move |s| s.stats(now)).await {
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

    /// A store call of the delivery path, off the async workers; a failure is counted and
    /// described, for a retry.
    pub(super) async fn store_call<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let result = match off_thread(self.inner.store.clone(), f).await {
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

    pub(super) fn lanes(&self) -> MutexGuard<'_, Lanes> {
        self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn dispatch(&self, messages: Vec<Scheduled>) {
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
        self.lanes().release(lane, task);
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
            let Some(head) = self.lanes().head(&lane, task) else {
                break;
            };
            let wait = self.wait_until(head.next_attempt_ms);
            if !wait.is_zero() && !sleep(wait, &mut shutdown).await {
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
                    let delay = self.inner.backoff.delay(read_failures);
                    tracing::warn!(id, error = %e, retry_in_ms = clock::duration_ms(delay), "cannot read the next message from the store; retrying");
                    self.lanes()
                        .set_next_attempt(&lane, id, clock::after(now_ms(), delay));
                    continue;
                }
            };
            let span = tracing::info_span!(
                "deliver",
                id = head.id,
                lane = %lane,
                kind = head.message.kind().as_str(),
                method = head.message.method().as_str(),
                attempt = head.attempts + 1
            );
            if self.expired(&head) {
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
                    self.lanes()
                        .set_next_attempt(&lane, head.id, next_attempt_ms);
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

    /// How long until `next_attempt_ms`, never longer than the longest wait this engine obeys
    /// (a row scheduled far ahead by an older version does not stall its lane either).
    fn wait_until(&self, next_attempt_ms: i64) -> Duration {
        clock::until(now_ms(), next_attempt_ms).min(self.inner.settings.max_retry_after)
    }
}
