//! The engine's policy on a paused clock: order per channel, backoff, dead letters, pacing.
//!
//! Slack here is [`InProcessSlack`], a stand-in behind the engine's `SlackApi` that answers at
//! once, in process. The sandbox's fake Slack is a real HTTP server: while a request is on a
//! socket, every task can be idle, and a paused clock then jumps to the next timer (a request
//! timeout, a backoff) before the answer arrives; with no sockets, the clock moves only when the
//! engine truly waits. Store calls run on the blocking pool, which holds the paused clock still
//! while they run. So every time asserted here is the engine's own wait, to the millisecond, and
//! no test sleeps in real time.

use std::sync::Mutex;

use reverb_model::EventKind;
use serde_json::Value;
use tokio::time::Instant;

use super::*;
use crate::client::{PostedMessage, SlackUser};
use crate::engine::attempt::{Answer, Clients, SlackApi};

/// One call Slack received.
#[derive(Debug, Clone)]
struct Call {
    method: &'static str,
    channel: String,
    text: String,
    /// How long after the rig started (paused time).
    at: Duration,
    ok: bool,
}

/// A failure to answer with, `times` more times, to calls of `method` (whose text is `text`,
/// when given).
struct Rule {
    method: &'static str,
    text: Option<String>,
    times: usize,
    error: SlackError,
}

/// Slack in process: records every call, fails as told, succeeds otherwise.
struct InProcessSlack {
    started: Instant,
    calls: Mutex<Vec<Call>>,
    rules: Mutex<Vec<Rule>>,
}

impl InProcessSlack {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            calls: Mutex::default(),
            rules: Mutex::default(),
        }
    }

    /// Answer the next `times` calls of `method` (with text `text`, when given) with `error`.
    fn fail(&self, method: &'static str, text: Option<&str>, times: usize, error: SlackError) {
        self.rules.lock().unwrap().push(Rule {
            method,
            text: text.map(str::to_string),
            times,
            error,
        });
    }

    fn answer(
        &self,
        method: &'static str,
        channel: &str,
        message: &SlackMessage,
    ) -> Result<(), SlackError> {
        let failure = {
            let mut rules = self.rules.lock().unwrap();
            rules
                .iter_mut()
                .find(|r| {
                    r.method == method
                        && r.times > 0
                        && r.text.as_deref().is_none_or(|t| t == message.text)
                })
                .map(|r| {
                    r.times -= 1;
                    r.error.clone()
                })
        };
        self.calls.lock().unwrap().push(Call {
            method,
            channel: channel.to_string(),
            text: message.text.clone(),
            at: self.started.elapsed(),
            ok: failure.is_none(),
        });
        failure.map_or(Ok(()), Err)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Calls of `method` to `channel`.
    fn calls_to(&self, method: &str, channel: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.channel == channel)
            .collect()
    }
}

impl SlackApi for InProcessSlack {
    fn is_webhook(&self) -> bool {
        false
    }

    fn post_message<'a>(
        &'a self,
        channel: &'a str,
        message: &'a SlackMessage,
        _thread_ts: Option<&'a str>,
    ) -> Answer<'a, Option<PostedMessage>> {
        let answer = self.answer("chat.postMessage", channel, message).map(|()| {
            Some(PostedMessage {
                channel_id: channel.to_string(),
                ts: format!("{}.000100", self.calls.lock().unwrap().len()),
            })
        });
        Box::pin(async move { answer })
    }

    fn update_message<'a>(
        &'a self,
        channel_id: &'a str,
        ts: &'a str,
        message: &'a SlackMessage,
    ) -> Answer<'a, PostedMessage> {
        let answer = self
            .answer("chat.update", channel_id, message)
            .map(|()| PostedMessage {
                channel_id: channel_id.to_string(),
                ts: ts.to_string(),
            });
        Box::pin(async move { answer })
    }

    fn post_ephemeral<'a>(
        &'a self,
        channel: &'a str,
        _user: &'a str,
        message: &'a SlackMessage,
    ) -> Answer<'a, ()> {
        let answer = self.answer("chat.postEphemeral", channel, message);
        Box::pin(async move { answer })
    }

    fn post_response_url<'a>(&'a self, url: &'a str, _body: &'a Value) -> Answer<'a, ()> {
        let answer = self.answer("response_url", url, &SlackMessage::default());
        Box::pin(async move { answer })
    }

    fn lookup_by_email<'a>(&'a self, email: &'a str) -> Answer<'a, SlackUser> {
        let answer = self
            .answer("users.lookupByEmail", email, &SlackMessage::default())
            .map(|()| SlackUser {
                id: format!("U-{email}"),
                ..SlackUser::default()
            });
        Box::pin(async move { answer })
    }
}

/// An engine over an in-memory SQLite store and [`InProcessSlack`].
struct PausedRig {
    slack: Arc<InProcessSlack>,
    store: Arc<FlakyStore>,
    engine: DeliveryEngine,
    metrics: DeliveryMetrics,
}

async fn paused_rig(settings: DeliverySettings) -> PausedRig {
    let slack = Arc::new(InProcessSlack::new());
    let store = Arc::new(FlakyStore::new());
    let metrics = metrics();
    let engine = DeliveryEngine::start_with(
        store.clone(),
        Clients {
            legacy: Some(slack.clone() as Arc<dyn SlackApi>),
            app: None,
        },
        HOOKS.to_string(),
        settings,
        metrics.clone(),
    )
    .await
    .expect("engine starts");
    PausedRig {
        slack,
        store,
        engine,
        metrics,
    }
}

impl PausedRig {
    async fn send(&self, messages: Vec<OutboundMessage>) {
        self.engine.enqueue(messages).await.expect("enqueued");
    }

    /// Wait (in paused time) until nothing is pending; at most a day.
    async fn drained(&self) {
        let deadline = Instant::now() + Duration::from_secs(24 * 3600);
        while !self.store.inner.pending().expect("pending").is_empty() {
            assert!(Instant::now() < deadline, "the outbox never drained");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// No pacing of ours in the way, a 1 s backoff that doubles up to `max_backoff`.
fn paused_settings(max_backoff: Duration) -> DeliverySettings {
    DeliverySettings {
        channel_rate: 1000.0,
        channel_burst: 100,
        initial_backoff: Duration::from_secs(1),
        max_backoff,
        ..DeliverySettings::default()
    }
}

fn unavailable() -> SlackError {
    SlackError::http("chat.postMessage", 503, None, "")
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `d` is `expected` seconds to the millisecond (epoch milliseconds round the schedule).
fn assert_about(d: Duration, expected: f64, what: &str) {
    assert!(
        (secs(d) - expected).abs() < 0.005,
        "{what}: {d:?}, expected {expected}s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_channel_keeps_acceptance_order_while_one_message_is_retried() {
    let r = paused_rig(paused_settings(Duration::from_secs(60))).await;
    r.slack
        .fail("chat.postMessage", Some("two"), 2, unavailable());
    r.send(vec![
        post("deploys", "one"),
        post("deploys", "two"),
        post("elsewhere", "unrelated"),
        post("deploys", "three"),
        post("deploys", "four"),
    ])
    .await;
    r.drained().await;
    let deploys = r.slack.calls_to("chat.postMessage", "deploys");
    let sequence: Vec<(&str, bool)> = deploys.iter().map(|c| (c.text.as_str(), c.ok)).collect();
    assert_eq!(
        sequence,
        [
            ("one", true),
            ("two", false),
            ("two", false),
            ("two", true),
            ("three", true),
            ("four", true)
        ],
        "nothing overtakes the message being retried"
    );
    // "three" waited for both retries of "two" (1 s and 2 s, each ±20 %).
    let three = secs(deploys[4].at);
    assert!((2.4..=3.6).contains(&three), "three went out at {three}s");
    // Another channel's lane was not held up.
    let elsewhere = r.slack.calls_to("chat.postMessage", "elsewhere");
    assert_eq!(elsewhere.len(), 1);
    assert_about(elsewhere[0].at, 0.0, "the other channel");
    assert_eq!(
        r.metrics.retried.with_label_values(&["notification"]).get(),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn successive_failures_wait_one_two_four_seconds_up_to_max_backoff() {
    let r = paused_rig(paused_settings(Duration::from_secs(4))).await;
    r.slack.fail("chat.postMessage", None, 5, unavailable());
    r.send(vec![post("deploys", "persistent")]).await;
    r.drained().await;
    let calls = r.slack.calls_to("chat.postMessage", "deploys");
    assert_eq!(calls.len(), 6, "five failures, then delivered");
    assert!(calls[5].ok);
    let gaps: Vec<f64> = calls.windows(2).map(|w| secs(w[1].at - w[0].at)).collect();
    // Doubling from 1 s, capped at maxBackoff (4 s), each within ±20 % jitter.
    for (gap, nominal) in gaps.iter().zip([1.0, 2.0, 4.0, 4.0, 4.0]) {
        assert!(
            *gap >= nominal * 0.8 - 0.005 && *gap <= nominal * 1.2 + 0.005,
            "gaps {gaps:?}"
        );
    }
    let stored = r.store.inner.dead_letters().expect("dead letters");
    assert!(stored.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_huge_retry_after_waits_max_retry_after_and_holds_the_channel() {
    let r = paused_rig(DeliverySettings {
        max_retry_after: Duration::from_secs(60),
        ..paused_settings(Duration::from_secs(300))
    })
    .await;
    r.slack.fail(
        "chat.postMessage",
        None,
        1,
        SlackError::http(
            "chat.postMessage",
            429,
            Some(Duration::from_secs(u64::MAX)),
            "",
        ),
    );
    r.send(vec![post("deploys", "one"), post("deploys", "two")])
        .await;
    r.drained().await;
    let calls = r.slack.calls_to("chat.postMessage", "deploys");
    let texts: Vec<&str> = calls.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["one", "one", "two"]);
    assert!(!calls[0].ok && calls[1].ok && calls[2].ok);
    assert_about(calls[1].at, 60.0, "the retry after a clamped Retry-After");
    assert_about(calls[2].at, 60.0, "the next message, right after");
    assert_eq!(
        r.metrics
            .rate_limited
            .with_label_values(&["chat.postMessage"])
            .get(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_dead_letters_at_once() {
    let r = paused_rig(paused_settings(Duration::from_secs(300))).await;
    r.slack.fail(
        "chat.postMessage",
        Some("lost"),
        1,
        SlackError::from_code("chat.postMessage", "channel_not_found", None),
    );
    r.send(vec![post("nowhere", "lost"), post("nowhere", "next")])
        .await;
    r.drained().await;
    let calls = r.slack.calls_to("chat.postMessage", "nowhere");
    assert_eq!(calls.len(), 2, "tried once, never again: {calls:?}");
    assert_about(calls[1].at, 0.0, "the next message, at once");
    let dead = r.store.inner.dead_letters().expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message.message().text, "lost");
    let error = dead[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("channel_not_found"), "{error}");
    assert_eq!(
        r.metrics
            .dead_lettered
            .with_label_values(&["notification"])
            .get(),
        1
    );
    assert_eq!(
        r.metrics.retried.with_label_values(&["notification"]).get(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_retryable_error_past_max_age_dead_letters() {
    let r = paused_rig(DeliverySettings {
        max_age: Duration::from_secs(10),
        ..paused_settings(Duration::from_secs(2))
    })
    .await;
    r.slack
        .fail("chat.postMessage", None, usize::MAX, unavailable());
    r.send(vec![post("deploys", "doomed")]).await;
    r.drained().await;
    let calls = r.slack.calls_to("chat.postMessage", "deploys");
    let last = calls.last().expect("calls").at;
    let before_last = calls[calls.len() - 2].at;
    // Retried while younger than maxAge, given up at the first failure after it.
    assert!(secs(before_last) < 10.0, "{calls:?}");
    assert!(
        (10.0..=12.5).contains(&secs(last)),
        "dead-lettered at {last:?}"
    );
    let dead = r.store.inner.dead_letters().expect("dead letters");
    assert_eq!(dead.len(), 1);
    let error = dead[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("still failing after 1"), "{error}");
    assert_eq!(
        r.metrics.retried.with_label_values(&["notification"]).get() as usize,
        calls.len() - 1
    );
}

#[tokio::test(start_paused = true)]
async fn posts_to_one_channel_are_paced_at_the_channel_rate() {
    let r = paused_rig(DeliverySettings {
        channel_rate: 1.0,
        channel_burst: 3,
        ..paused_settings(Duration::from_secs(300))
    })
    .await;
    let posts: Vec<_> = (1..=10)
        .map(|n| post("#Deploys", &format!("msg {n}")))
        .chain((1..=3).map(|n| post("other", &format!("other {n}"))))
        .collect();
    r.send(posts).await;
    r.drained().await;
    let calls = r.slack.calls_to("chat.postMessage", "#Deploys");
    let texts: Vec<String> = calls.iter().map(|c| c.text.clone()).collect();
    let expected: Vec<String> = (1..=10).map(|n| format!("msg {n}")).collect();
    assert_eq!(texts, expected);
    // The burst at once, then one a second: (10 - 3) / 1 s.
    for (n, call) in calls.iter().enumerate() {
        let expected = n.saturating_sub(2) as f64;
        assert_about(call.at, expected, &format!("post {}", n + 1));
    }
    // Another channel has a bucket of its own.
    for call in r.slack.calls_to("chat.postMessage", "other") {
        assert_about(call.at, 0.0, "the other channel");
    }
}

#[tokio::test(start_paused = true)]
async fn chat_update_is_paced_workspace_wide() {
    let r = paused_rig(paused_settings(Duration::from_secs(300))).await;
    let channels = ["alpha", "beta", "gamma"];
    let mut edits = Vec::new();
    for channel in channels {
        for n in 1..=5 {
            let key = format!("execution:E{n}@{channel}");
            r.store
                .inner
                .record_ref(
                    &key,
                    &MessageRef {
                        channel_id: channel.to_string(),
                        ts: format!("{n}.0001"),
                    },
                    now_ms(),
                )
                .expect("reference");
            edits.push(
                OutboundMessage::update(
                    MessageKind::Event(EventKind::Pipeline),
                    channel,
                    key,
                    text("edited"),
                )
                .into(),
            );
        }
    }
    r.send(edits).await;
    r.drained().await;
    let mut at: Vec<f64> = r
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.update")
        .map(|c| secs(c.at))
        .collect();
    assert_eq!(at.len(), 15);
    at.sort_by(f64::total_cmp);
    // Tier 3: a burst of 10, then 50 a minute (one every 1.2 s) across all three channels,
    // though each channel's edits have a lane of their own.
    assert!(at[..10].iter().all(|t| *t < 0.005), "{at:?}");
    for (n, t) in at[10..].iter().enumerate() {
        let expected = 1.2 * (n + 1) as f64;
        assert!((t - expected).abs() < 0.02, "{at:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn e_mail_addresses_are_looked_up_once() {
    let r = paused_rig(paused_settings(Duration::from_secs(300))).await;
    r.send(vec![
        post("Jane@Example.com", "one"),
        post("jane@example.com", "two"),
    ])
    .await;
    r.drained().await;
    let lookups: Vec<Call> = r
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "users.lookupByEmail")
        .collect();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    let posted: Vec<String> = r
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.postMessage")
        .map(|c| c.channel)
        .collect();
    assert_eq!(posted, ["U-Jane@Example.com", "U-Jane@Example.com"]);
}
