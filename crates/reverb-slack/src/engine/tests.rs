//! Engine tests: the pure rules (lanes, delays) directly; delivery against the sandbox's fake
//! Slack and recorder, with a store that fails on demand; waits on a paused clock where the
//! timing is the point.

mod paused;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prometheus::Registry;
use reverb_model::{MessageKind, OutboundMessage, SlackMessage};
use reverb_sandbox::{Failure, FakeSlack, FakeSlackConfig, Recorder, start_fake_slack};
use reverb_store::{
    ClickAcceptance, ForwardedRequest, JudgmentClaim, MessageRef, OutboxStats, PendingClick,
    QueuedMessage, SqliteStore, StoredMessage,
};
use reverb_support::now_ms;
use serde_json::json;

use super::lanes::{Lanes, Scheduled, lane_of};
use super::settle::{Settled, retry_delay};
use super::*;
use crate::client::SlackClientConfig;
use crate::error::SlackError;

// ---------------------------------------------------------------------------------------------
// A store that fails on demand.

/// [`SqliteStore::in_memory`] behind the `Store` trait, with injectable failures.
struct FlakyStore {
    inner: SqliteStore,
    /// The next this many `message_ref` calls fail.
    fail_message_ref: AtomicUsize,
    /// The next this many `complete` calls fail.
    fail_complete: AtomicUsize,
    /// Added to the clock of `enqueue` (an old message, without waiting for it to age).
    enqueue_shift_ms: AtomicI64,
}

fn injected() -> StoreError {
    StoreError::Open {
        path: "test".into(),
        reason: "disk full (injected)".into(),
    }
}

/// Take one of `budget`'s injected failures, if any is left.
fn take(budget: &AtomicUsize) -> bool {
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl FlakyStore {
    fn new() -> Self {
        Self {
            inner: SqliteStore::in_memory().expect("in-memory store"),
            fail_message_ref: AtomicUsize::new(0),
            fail_complete: AtomicUsize::new(0),
            enqueue_shift_ms: AtomicI64::new(0),
        }
    }
}

impl Store for FlakyStore {
    fn enqueue_groups(
        &self,
        groups: &[&[OutboundMessage]],
        now_ms: i64,
    ) -> Result<Vec<Vec<Option<QueuedMessage>>>, StoreError> {
        let shift = self.enqueue_shift_ms.load(Ordering::SeqCst);
        self.inner.enqueue_groups(groups, now_ms + shift)
    }
    fn pending(&self) -> Result<Vec<StoredMessage>, StoreError> {
        self.inner.pending()
    }
    fn pending_queue(&self, after_id: i64) -> Result<Vec<QueuedMessage>, StoreError> {
        self.inner.pending_queue(after_id)
    }
    fn pending_message(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        self.inner.pending_message(id)
    }
    fn complete(
        &self,
        id: i64,
        reference: Option<(&str, &MessageRef)>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if take(&self.fail_complete) {
            return Err(injected());
        }
        self.inner.complete(id, reference, now_ms)
    }
    fn schedule_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner
            .schedule_retry(id, attempts, next_attempt_ms, error)
    }
    fn dead_letter(&self, id: i64, error: &str, now_ms: i64) -> Result<(), StoreError> {
        self.inner.dead_letter(id, error, now_ms)
    }
    fn dead_letters(&self) -> Result<Vec<StoredMessage>, StoreError> {
        self.inner.dead_letters()
    }
    fn revive(&self, id: i64, now_ms: i64) -> Result<Option<StoredMessage>, StoreError> {
        self.inner.revive(id, now_ms)
    }
    fn drop_dead_letter(&self, id: i64) -> Result<bool, StoreError> {
        self.inner.drop_dead_letter(id)
    }
    fn stats(&self, now_ms: i64) -> Result<OutboxStats, StoreError> {
        self.inner.stats(now_ms)
    }
    fn message_ref(&self, key: &str) -> Result<Option<MessageRef>, StoreError> {
        if take(&self.fail_message_ref) {
            return Err(injected());
        }
        self.inner.message_ref(key)
    }
    fn record_ref(&self, key: &str, reference: &MessageRef, now_ms: i64) -> Result<(), StoreError> {
        self.inner.record_ref(key, reference, now_ms)
    }
    fn refs_with_prefix(&self, prefix: &str) -> Result<Vec<(String, MessageRef)>, StoreError> {
        self.inner.refs_with_prefix(prefix)
    }
    fn claim_judgment(
        &self,
        key: &str,
        claimant: &str,
        now_ms: i64,
        stale_ms: i64,
    ) -> Result<JudgmentClaim, StoreError> {
        self.inner.claim_judgment(key, claimant, now_ms, stale_ms)
    }
    fn finish_judgment(
        &self,
        key: &str,
        outcome: &str,
        decided: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.inner.finish_judgment(key, outcome, decided, now_ms)
    }
    fn judgment_outcome(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.judgment_outcome(key)
    }
    fn release_unfinished_claims(&self) -> Result<usize, StoreError> {
        self.inner.release_unfinished_claims()
    }
    fn secret_or_insert(
        &self,
        name: &str,
        fresh: &[u8],
        now_ms: i64,
    ) -> Result<Vec<u8>, StoreError> {
        self.inner.secret_or_insert(name, fresh, now_ms)
    }
    fn accept_click(
        &self,
        request_key: &str,
        payload: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<ClickAcceptance, StoreError> {
        self.inner
            .accept_click(request_key, payload, now_ms, window_ms)
    }
    fn finish_click(&self, id: i64) -> Result<(), StoreError> {
        self.inner.finish_click(id)
    }
    fn unfinished_clicks(&self) -> Result<Vec<PendingClick>, StoreError> {
        self.inner.unfinished_clicks()
    }
    fn enqueue_forward(&self, request: &ForwardedRequest, now_ms: i64) -> Result<i64, StoreError> {
        self.inner.enqueue_forward(request, now_ms)
    }
    fn pending_forwards(&self, limit: usize) -> Result<Vec<(i64, ForwardedRequest)>, StoreError> {
        self.inner.pending_forwards(limit)
    }
    fn complete_forward(&self, id: i64) -> Result<(), StoreError> {
        self.inner.complete_forward(id)
    }
    fn forward_backlog(&self) -> Result<u64, StoreError> {
        self.inner.forward_backlog()
    }
    fn heartbeat(&self, now_ms: i64) -> Result<(), StoreError> {
        self.inner.heartbeat(now_ms)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

const WAIT: Duration = Duration::from_secs(20);

fn text(t: &str) -> SlackMessage {
    SlackMessage {
        text: t.to_string(),
        ..SlackMessage::default()
    }
}

/// Where replies go unless a test says otherwise.
const HOOKS: &str = "https://hooks.slack.com";

fn post(channel: &str, t: &str) -> OutboundMessage {
    OutboundMessage::post(MessageKind::Notification, channel, text(t)).into()
}

/// A post recorded under `key`.
fn keyed(channel: &str, t: &str, key: &str) -> OutboundMessage {
    OutboundMessage::post(MessageKind::Notification, channel, text(t))
        .with_ref_key(key)
        .into()
}

/// A reply in the thread of the message recorded under `key`.
fn threaded(channel: &str, t: &str, key: &str) -> OutboundMessage {
    OutboundMessage::post(
        MessageKind::Event(reverb_model::EventKind::Stage),
        channel,
        text(t),
    )
    .with_thread_key(key)
    .into()
}

/// An edit of the message recorded under `key`.
fn edit(channel: &str, key: &str, t: &str) -> OutboundMessage {
    OutboundMessage::update(MessageKind::JudgmentResolved, channel, key, text(t)).into()
}

fn reply(url: &str, t: &str) -> OutboundMessage {
    OutboundMessage::response_url(MessageKind::CallbackResponse, url, text(t)).into()
}

/// Poll `probe` until it answers, or panic naming `what` after [`WAIT`].
async fn until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An engine over a [`FlakyStore`], talking to a fake Slack.
struct Rig {
    slack: FakeSlack,
    store: Arc<FlakyStore>,
    engine: DeliveryEngine,
    metrics: DeliveryMetrics,
}

/// Fast settings for tests: no pacing of ours, short backoff.
fn quick() -> DeliverySettings {
    DeliverySettings {
        channel_rate: 1000.0,
        channel_burst: 100,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..DeliverySettings::default()
    }
}

fn metrics() -> DeliveryMetrics {
    DeliveryMetrics::register(&Registry::new()).expect("metrics")
}

async fn fake_slack() -> FakeSlack {
    start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: 0.0,
        ..FakeSlackConfig::default()
    })
    .await
    .expect("fake Slack")
}

fn slack_client(base_url: &str) -> SlackClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    SlackClient::new(
        reqwest::Client::builder().build().expect("HTTP client"),
        SlackClientConfig {
            base_url: base_url.to_string(),
            token: Some("xoxb-test".into()),
            incoming_webhook: false,
            timeout: Duration::from_secs(5),
        },
    )
}

async fn rig(settings: DeliverySettings) -> Rig {
    rig_on(
        fake_slack().await,
        Arc::new(FlakyStore::new()),
        HOOKS,
        settings,
    )
    .await
}

async fn rig_on(
    slack: FakeSlack,
    store: Arc<FlakyStore>,
    response_url_base: &str,
    settings: DeliverySettings,
) -> Rig {
    let metrics = metrics();
    let engine = DeliveryEngine::start(
        store.clone(),
        SlackClients {
            legacy: Some(slack_client(&slack.base_url())),
            app: None,
        },
        response_url_base,
        settings,
        metrics.clone(),
    )
    .await
    .expect("engine starts");
    Rig {
        slack,
        store,
        engine,
        metrics,
    }
}

impl Rig {
    async fn send(&self, messages: Vec<OutboundMessage>) -> Vec<i64> {
        self.engine.enqueue(messages).await.expect("enqueued")
    }

    fn texts(&self, channel: &str) -> Vec<String> {
        self.slack
            .posted(channel)
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    fn pending(&self) -> usize {
        self.store.inner.pending().expect("pending").len()
    }

    async fn drained(&self) {
        until("the outbox to drain", || {
            (self.pending() == 0).then_some(())
        })
        .await;
    }

    /// Post `key`'s message and wait until its reference is recorded.
    async fn posted_with_ref(&self, channel: &str, key: &str) -> MessageRef {
        self.send(vec![keyed(channel, "original", key)]).await;
        until("the reference to be recorded", || {
            self.store.inner.message_ref(key).ok().flatten()
        })
        .await
    }

    fn store_errors(&self, op: &str) -> u64 {
        self.metrics.store_errors.with_label_values(&[op]).get()
    }
}

// ---------------------------------------------------------------------------------------------
// The pure rules.

#[test]
fn retry_after_and_backoff_never_exceed_max_retry_after() {
    let s = DeliverySettings {
        max_retry_after: Duration::from_secs(2),
        ..DeliverySettings::default()
    };
    let backoff = s.backoff();
    let limited =
        |secs| SlackError::http("chat.postMessage", 429, Some(Duration::from_secs(secs)), "");
    for secs in [u64::MAX, 31_536_000, 3] {
        assert_eq!(
            retry_delay(&backoff, &limited(secs), 1),
            Duration::from_secs(2),
            "{secs}"
        );
    }
    assert_eq!(
        retry_delay(&backoff, &limited(1), 1),
        Duration::from_secs(1),
        "a short Retry-After is obeyed as is"
    );
    let failing = SlackError::http("chat.postMessage", 503, None, "");
    for attempts in [1, 5, 40, u32::MAX] {
        for _ in 0..20 {
            let d = retry_delay(&backoff, &failing, attempts);
            assert!(d <= Duration::from_secs(2), "{attempts}: {d:?}");
        }
    }
    // Without the cap in the way, backoff still grows and jitters within ±20%.
    let wide = DeliverySettings::default().backoff();
    for (attempts, secs) in [(1, 1.0), (3, 4.0), (50, 300.0)] {
        let d = retry_delay(&wide, &failing, attempts).as_secs_f64();
        assert!(d >= secs * 0.8 && d <= secs * 1.2, "{attempts}: {d}");
    }
    // Even absurd settings cannot overflow.
    let absurd = DeliverySettings {
        initial_backoff: Duration::MAX,
        max_backoff: Duration::MAX,
        max_retry_after: Duration::MAX,
        ..DeliverySettings::default()
    };
    assert!(retry_delay(&absurd.backoff(), &failing, u32::MAX) > Duration::from_secs(1));
}

#[test]
fn posts_edits_and_replies_wait_in_lanes_of_their_own() {
    let p = post("#Deploys", "x");
    assert_eq!(lane_of(&p), "deploys");
    let e = edit("deploys", "k", "x");
    assert_eq!(lane_of(&e), "edit:deploys");
    let eph: OutboundMessage =
        OutboundMessage::ephemeral(MessageKind::ClickReply, "deploys", "U1", text("x")).into();
    assert_eq!(lane_of(&eph), "deploys");
    let a = lane_of(&reply("https://hooks.slack.com/actions/T/1/a", "x"));
    let b = lane_of(&reply("https://hooks.slack.com/actions/T/1/b", "x"));
    assert!(a.starts_with("response_url:") && b.starts_with("response_url:"));
    assert_ne!(a, b, "one lane per response_url");
    // Only posts with a key are something an edit may wait for.
    assert_eq!(Scheduled::of(&p, 1, 0).entry.posts_ref, None);
    let keyed = keyed("deploys", "x", "k");
    assert_eq!(
        Scheduled::of(&keyed, 1, 0).entry.posts_ref.as_deref(),
        Some("k")
    );
    assert_eq!(Scheduled::of(&e, 2, 0).entry.posts_ref, None);
}

#[test]
fn an_edit_waits_only_for_earlier_posts_of_its_message() {
    let mut lanes = Lanes::default();
    let keyed = |id| Scheduled::of(&keyed("c", "x", "k"), id, 0);
    assert_eq!(lanes.push(keyed(5)), Some(("c".to_string(), 1)));
    assert_eq!(lanes.push(keyed(5)), None, "never queued twice");
    assert!(lanes.earlier_post_queued("k", 6));
    assert!(
        !lanes.earlier_post_queued("k", 4),
        "a later post is not waited for"
    );
    assert!(!lanes.earlier_post_queued("other", 6));
    assert!(lanes.remove("c", 5), "a post others may wait for");
    assert!(!lanes.earlier_post_queued("k", 6));
    assert!(lanes.queued_posts.is_empty());
}

#[test]
fn a_lane_mark_is_cleared_only_by_its_own_task() {
    let mut lanes = Lanes::default();
    let (lane, first) = lanes
        .push(Scheduled::of(&post("c", "x"), 1, 0))
        .expect("starts a task");
    lanes.running.remove(&lane);
    let (_, second) = lanes
        .push(Scheduled::of(&post("c", "y"), 2, 0))
        .expect("a new task");
    assert_ne!(first, second);
    assert_eq!(lanes.running.get("c"), Some(&second));
    // Orphaned: queued messages, no task; the sweeper claims it anew.
    lanes.running.clear();
    let restarted = lanes.orphaned();
    assert_eq!(restarted.len(), 1);
    assert_eq!(restarted[0].0, "c");
    assert!(lanes.orphaned().is_empty(), "claimed once");
}

// ---------------------------------------------------------------------------------------------
// On a paused clock.

/// A row scheduled a year ahead (say, by a version that obeyed any `Retry-After`) is tried after
/// `max_retry_after`, not in a year. No Slack is configured, so the attempt dead-letters at once.
#[tokio::test(start_paused = true)]
async fn a_row_scheduled_far_ahead_waits_no_longer_than_max_retry_after() {
    let store = Arc::new(FlakyStore::new());
    let queued = store
        .inner
        .enqueue(&[post("general", "late")], now_ms())
        .expect("enqueue");
    let year_ms = 365 * 24 * 3600 * 1000;
    store
        .inner
        .schedule_retry(queued[0].id, 1, now_ms() + year_ms, "ratelimited")
        .expect("schedule");
    let started = tokio::time::Instant::now();
    let metrics = metrics();
    let _engine = DeliveryEngine::start(
        store.clone(),
        SlackClients::default(),
        HOOKS,
        DeliverySettings {
            max_retry_after: Duration::from_secs(120),
            ..DeliverySettings::default()
        },
        metrics.clone(),
    )
    .await
    .expect("engine");
    while store.inner.dead_letters().expect("dead letters").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "still waiting after an hour"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(119), "{waited:?}");
    assert!(waited < Duration::from_secs(130), "{waited:?}");
}

/// Retrying a failed store write backs off (exponentially, capped), and stops at shutdown.
#[tokio::test(start_paused = true)]
async fn store_write_retries_back_off_and_stop_at_shutdown() {
    let store = Arc::new(FlakyStore::new());
    let metrics = metrics();
    let engine = DeliveryEngine::start(
        store.clone(),
        SlackClients::default(),
        HOOKS,
        DeliverySettings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            ..DeliverySettings::default()
        },
        metrics.clone(),
    )
    .await
    .expect("engine");
    store.fail_complete.store(usize::MAX, Ordering::SeqCst);
    let mut shutdown = engine.inner.shutdown_tx.subscribe();
    let task = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.record_completion(42, None, &mut shutdown).await })
    };
    let started = tokio::time::Instant::now();
    // Waits of 1, 2, 4, 8, 8, ... s (each ±20%): the 7th try comes at 24.8 s to 37.2 s.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let failures = metrics.store_errors.with_label_values(&["complete"]).get();
    assert!((6..=7).contains(&failures), "{failures} failures in 30 s");
    engine.shutdown(Duration::from_secs(1)).await;
    let settled = task.await.expect("task");
    assert!(matches!(settled, Settled::Interrupted));
    assert!(
        started.elapsed() < Duration::from_secs(31),
        "stopped at once"
    );
}

// ---------------------------------------------------------------------------------------------
// Against the fake Slack.

/// Bullet: a hostile `Retry-After` cannot wedge a channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_retry_after_is_clamped_and_the_channel_keeps_delivering() {
    let r = rig(DeliverySettings {
        max_retry_after: Duration::from_millis(300),
        ..quick()
    })
    .await;
    r.slack
        .fail_next("chat.postMessage", 1, Failure::RetryAfter(u64::MAX));
    r.slack
        .fail_next("chat.postMessage", 1, Failure::RetryAfter(31_536_000));
    let started = Instant::now();
    r.send(vec![post("general", "one"), post("general", "two")])
        .await;
    until("both messages", || {
        (r.texts("general").len() == 2).then_some(())
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(r.texts("general"), ["one", "two"]);
    assert_eq!(r.slack.rate_limited_count(), 2);
    assert_eq!(r.metrics.lane_panics.get(), 0);
    // And the lane is still alive for later messages.
    r.send(vec![post("general", "three")]).await;
    until("a later message", || {
        (r.texts("general").len() == 3).then_some(())
    })
    .await;
    r.drained().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_that_panics_is_freed_and_the_next_message_restarts_it() {
    let r = rig(quick()).await;
    r.engine
        .inner
        .panic_next_turn
        .lock()
        .unwrap()
        .insert("general".into());
    r.send(vec![post("general", "one")]).await;
    until("the panic to be seen", || {
        (r.metrics.lane_panics.get() == 1 && !r.engine.lanes().running.contains_key("general"))
            .then_some(())
    })
    .await;
    r.send(vec![post("general", "two")]).await;
    until("both messages", || {
        (r.texts("general").len() == 2).then_some(())
    })
    .await;
    assert_eq!(r.texts("general"), ["one", "two"], "order kept");
    r.drained().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_that_panics_is_restarted_by_the_sweeper_without_new_messages() {
    let r = rig(quick()).await;
    r.engine
        .inner
        .panic_next_turn
        .lock()
        .unwrap()
        .insert("alerts".into());
    r.send(vec![post("alerts", "one")]).await;
    until("the message, after a restart", || {
        (r.texts("alerts") == ["one"]).then_some(())
    })
    .await;
    assert_eq!(r.metrics.lane_panics.get(), 1);
    r.drained().await;
}

/// Bullet: the clicked message changes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_does_not_wait_behind_the_channels_queued_posts() {
    let r = rig(DeliverySettings {
        channel_rate: 2.0,
        channel_burst: 1,
        ..quick()
    })
    .await;
    let original = r.posted_with_ref("deploys", "k").await;
    let backlog: Vec<_> = (1..=10)
        .map(|n| post("deploys", &format!("msg {n}")))
        .collect();
    r.send(backlog).await;
    let sent = Instant::now();
    r.send(vec![edit("deploys", "k", "edited")]).await;
    let update = until("the chat.update", || {
        r.slack.calls_to("chat.update").into_iter().next()
    })
    .await;
    let took = sent.elapsed();
    let posted_then = r.slack.posted("deploys").len();
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        posted_then < 11,
        "the backlog was still queued: {posted_then}"
    );
    assert_eq!(update.arg_str("ts"), Some(original.ts.as_str()));
    r.drained().await;
    assert_eq!(r.slack.posted("deploys").len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_waits_for_its_message_still_queued_in_the_channel() {
    let r = rig(quick()).await;
    // The post is slow to answer, so the edit reaches its turn while the post is in flight.
    r.slack.fail_next(
        "chat.postMessage",
        1,
        Failure::Delay(Duration::from_millis(400)),
    );
    r.send(vec![
        keyed("deploys", "awaiting", "k"),
        edit("deploys", "k", "judged"),
    ])
    .await;
    r.drained().await;
    let messages = r.slack.posted("deploys");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].text, "judged");
    assert_eq!(messages[0].edit_count, 1);
    let update = &r.slack.calls_to("chat.update")[0];
    assert_eq!(update.arg_str("ts"), Some(messages[0].ts.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_of_a_message_never_posted_is_dropped() {
    let r = rig(quick()).await;
    // The later post is slow, so the edit surely looks before that post is recorded.
    r.slack.fail_next(
        "chat.postMessage",
        1,
        Failure::Delay(Duration::from_millis(500)),
    );
    // A later post with the same key is not what this edit meant.
    r.send(vec![
        edit("deploys", "nowhere", "judged"),
        keyed("deploys", "later", "nowhere"),
    ])
    .await;
    r.drained().await;
    assert!(r.slack.calls_to("chat.update").is_empty());
    assert_eq!(r.texts("deploys"), ["later"]);
    assert!(r.store.inner.dead_letters().expect("dead").is_empty());
}

/// Bullet: store errors are retryable failures, never a deleted update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_error_finding_the_message_to_edit_is_retried() {
    let r = rig(quick()).await;
    let original = r.posted_with_ref("deploys", "k").await;
    r.store.fail_message_ref.store(3, Ordering::SeqCst);
    r.send(vec![edit("deploys", "k", "edited")]).await;
    let update = until("the chat.update", || {
        r.slack.calls_to("chat.update").into_iter().next()
    })
    .await;
    assert_eq!(update.arg_str("ts"), Some(original.ts.as_str()));
    assert_eq!(r.store_errors("message_ref"), 3);
    r.drained().await;
    assert_eq!(r.slack.posted("deploys")[0].text, "edited");
}

/// Bullet: store errors are retryable failures, never an unthreaded reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_error_finding_the_thread_never_posts_outside_it() {
    let r = rig(quick()).await;
    let parent = r.posted_with_ref("deploys", "parent").await;
    r.store.fail_message_ref.store(2, Ordering::SeqCst);
    r.send(vec![threaded("deploys", "stage done", "parent")])
        .await;
    r.drained().await;
    let posts = r.slack.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 2, "the parent and one reply");
    assert_eq!(posts[1].arg_str("thread_ts"), Some(parent.ts.as_str()));
    assert_eq!(r.store_errors("message_ref"), 2);
}

/// Bullet: a full disk never causes a resend of something Slack confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_write_after_slack_confirmed_is_retried_without_resending() {
    let r = rig(quick()).await;
    r.store.fail_complete.store(4, Ordering::SeqCst);
    r.send(vec![keyed("deploys", "one", "k"), post("deploys", "two")])
        .await;
    r.drained().await;
    assert_eq!(r.texts("deploys"), ["one", "two"]);
    assert_eq!(
        r.slack.calls_to("chat.postMessage").len(),
        2,
        "none sent twice"
    );
    assert_eq!(r.store_errors("complete"), 4);
    let recorded = r.store.inner.message_ref("k").expect("ref");
    assert_eq!(
        recorded.map(|m| m.ts),
        Some(r.slack.posted("deploys")[0].ts.clone())
    );
}

async fn recorder() -> Recorder {
    reverb_sandbox::start_recorder(None)
        .await
        .expect("recorder")
}

/// Bullet: `response_url` replies are queued per URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_response_url_holds_up_only_its_own_replies() {
    let hooks = recorder().await;
    hooks.respond("/actions/T0/1/failing", 500, "oops", "text/plain");
    let r = rig_on(
        fake_slack().await,
        Arc::new(FlakyStore::new()),
        &hooks.base_url(),
        DeliverySettings {
            initial_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(30),
            ..quick()
        },
    )
    .await;
    r.send(vec![reply(
        "https://hooks.slack.com/actions/T0/1/failing",
        "first",
    )])
    .await;
    until("the failing attempt", || {
        (!hooks.requests_to("/actions/T0/1/failing").is_empty()).then_some(())
    })
    .await;
    let sent = Instant::now();
    r.send(vec![reply(
        "https://hooks.slack.com/actions/T0/2/working",
        "second",
    )])
    .await;
    let answered = until("the other reply", || {
        hooks
            .requests_to("/actions/T0/2/working")
            .into_iter()
            .next()
    })
    .await;
    assert!(sent.elapsed() < Duration::from_secs(5));
    assert_eq!(
        answered.body_json().expect("JSON")["replace_original"],
        json!(true)
    );
    assert_eq!(
        hooks.requests_to("/actions/T0/1/failing").len(),
        1,
        "the failing one waits for its backoff"
    );
    // The working reply leaves the store once its answer is recorded; the failing one is kept
    // for its retry.
    let kept = until("only the failing reply to be pending", || {
        let pending = r.store.inner.pending().expect("pending");
        (pending.len() == 1).then_some(pending)
    })
    .await;
    assert_eq!(
        kept[0].message.destination(),
        "https://hooks.slack.com/actions/T0/1/failing"
    );
    assert_eq!(
        hooks.requests_to("/actions/T0/1/failing").len(),
        1,
        "still not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_to_an_expired_response_url_are_dropped_and_counted() {
    let hooks = recorder().await;
    let store = Arc::new(FlakyStore::new());
    store
        .enqueue_shift_ms
        .store(-31 * 60 * 1000, Ordering::SeqCst);
    let r = rig_on(fake_slack().await, store, &hooks.base_url(), quick()).await;
    r.send(vec![reply(
        "https://hooks.slack.com/actions/T0/1/old",
        "late",
    )])
    .await;
    r.drained().await;
    assert_eq!(r.metrics.response_url_expired.get(), 1);
    assert!(hooks.requests().is_empty(), "{:?}", hooks.requests());
    assert!(r.store.inner.dead_letters().expect("dead").is_empty());
}

/// Bullet: `response_url` parsed, not pasted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_response_url_is_refused_and_nothing_is_sent() {
    let target = recorder().await;
    let slack = fake_slack().await;
    let base = slack.base_url();
    let r = rig_on(slack, Arc::new(FlakyStore::new()), &base, quick()).await;
    let port = target.addr().port();
    let hostile = [
        format!("@127.0.0.1:{port}/x"),
        format!("https://hooks.slack.com@127.0.0.1:{port}/x"),
        format!("http://127.0.0.1:{port}/x"),
        format!("https://hooks.slack.com/x\n@127.0.0.1:{port}"),
    ];
    let messages: Vec<_> = hostile.iter().map(|url| reply(url, "replaced")).collect();
    r.send(messages).await;
    r.drained().await;
    let dead = r.store.inner.dead_letters().expect("dead letters");
    assert_eq!(dead.len(), hostile.len());
    for letter in &dead {
        let error = letter.last_error.as_deref().unwrap_or_default();
        assert!(error.contains("invalid_response_url"), "{error}");
    }
    assert!(target.requests().is_empty(), "{:?}", target.requests());
    assert!(r.slack.calls_to("response_url").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Group commit.

#[tokio::test]
async fn concurrent_enqueues_share_commits_and_deliver_in_commit_order() {
    let rig = Arc::new(rig(quick()).await);
    let requests = 40;
    let mut tasks = Vec::new();
    for n in 0..requests {
        let rig = rig.clone();
        tasks.push(tokio::spawn(async move {
            let ids = rig.send(vec![post("busy", &format!("m{n}"))]).await;
            (ids[0], format!("m{n}"))
        }));
    }
    let mut accepted = Vec::new();
    for task in tasks {
        accepted.push(task.await.expect("task"));
    }
    let commits = rig.metrics.intake_commits.get();
    assert!(
        (1..requests).contains(&commits),
        "{requests} concurrent requests took {commits} commits"
    );
    let mut ids: Vec<i64> = accepted.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), accepted.len(), "every message has its own id");
    rig.drained().await;
    // The channel received them in id order, whichever request was answered first.
    accepted.sort_unstable();
    let expected: Vec<String> = accepted.into_iter().map(|(_, text)| text).collect();
    assert_eq!(rig.texts("busy"), expected);
}

#[tokio::test]
async fn a_request_alone_is_committed_at_once() {
    let rig = rig(quick()).await;
    let ids = rig.send(vec![post("#a", "one"), post("#b", "two")]).await;
    assert_eq!(ids.len(), 2);
    assert_eq!(rig.metrics.intake_commits.get(), 1);
    assert!(
        rig.engine
            .enqueue(Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
    assert_eq!(
        rig.metrics.intake_commits.get(),
        1,
        "nothing to commit, no commit"
    );
}
