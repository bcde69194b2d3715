//! The Slack delivery engine end to end: the real `reverb` binary, a fake Slack, and what Slack
//! received. Durable outbox, per-channel order, Slack's rate limits, retries, dead letters,
//! restarts and crashes, addresses, threads, auth and webhook mode.

pub(crate) mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reverb_e2e::{Reverb, eventually, metric};
use reverb_sandbox::slack::WEBHOOK_TOKEN;
use reverb_sandbox::{Failure, SlackAuth, SlackChannel, SlackStoredMessage};
use serde_json::{Value, json};
use support::*;

const PIPELINE_STARTING: &str = include_str!("../../fixtures/orca/event-pipeline-starting.json");
const STAGE_COMPLETE: &str = include_str!("../../fixtures/orca/event-stage-complete-deploy.json");
const PIPELINE_COMPLETE: &str = include_str!("../../fixtures/orca/event-pipeline-complete.json");

/// 1. Three channels, twelve messages each, sent interleaved: each channel shows its twelve in
///    acceptance order, none lost, none twice. Pacing is off on both sides so lanes race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_gets_its_messages_in_acceptance_order() {
    let slack = fake_slack(0.0, 1).await;
    // A slow Slack lets each channel's queue build up behind the message in flight.
    slack.fail_next(
        "chat.postMessage",
        36,
        Failure::Delay(Duration::from_millis(30)),
    );
    let reverb = start_reverb(&slack, UNPACED, &[]).await;
    let channels = ["#order-a", "#order-b", "#order-c"];
    let mut expected: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for round in 0..12u32 {
        for (k, channel) in channels.iter().enumerate() {
            let n = round * 3 + k as u32 + 1;
            notify(&reverb, &[*channel], &format!("msg {n}")).await;
            expected.entry(*channel).or_default().push(n);
        }
    }
    for channel in channels {
        wait_for_posts(&slack, channel, 12).await;
    }
    wait_outbox_drained(&reverb).await;
    for channel in channels {
        assert_eq!(
            numbers_in(&slack, channel),
            expected[channel],
            "order in {channel}"
        );
    }
    assert_eq!(
        slack.calls_to("chat.postMessage").len(),
        36,
        "one call each"
    );
    let text = reverb.metrics().await;
    assert_eq!(
        metric(&text, "reverb_notifications_accepted_total", &[]),
        36.0
    );
    assert_eq!(
        metric(&text, "reverb_notifications_delivered_total", &[]),
        36.0
    );
    assert_eq!(metric(&text, "reverb_outbox_pending_messages", &[]), 0.0);
    let outbox = health_outbox(&reverb).await;
    assert_eq!(outbox["pending"], 0, "{outbox}");
    assert_eq!(outbox["deadLetters"], 0, "{outbox}");
}

/// 2a. Slack allows 1/s (burst 3) and Reverb does not pace itself: Reverb gets 429s, waits at
///     least Retry-After before posting to that channel again, and loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_posts_wait_for_retry_after_and_all_arrive() {
    let slack = fake_slack(1.0, 3).await;
    let reverb = start_reverb(&slack, UNPACED, &[]).await;
    for n in 1..=6 {
        notify(&reverb, &["#limited"], &format!("msg {n}")).await;
    }
    wait_for_posts(&slack, "#limited", 6).await;
    wait_outbox_drained(&reverb).await;
    assert_eq!(numbers_in(&slack, "#limited"), [1, 2, 3, 4, 5, 6]);

    let calls = post_calls_to(&slack, "#limited");
    let limited = calls.iter().filter(|c| c.status == 429).count();
    assert!(
        limited >= 1,
        "Reverb never hit Slack's limit: the test proves nothing"
    );
    eprintln!("{limited} of {} posts answered 429", calls.len());
    for pair in calls.windows(2) {
        if pair[0].status == 429 {
            // The fake answers Retry-After: 1 at this rate; Reverb must not come back sooner.
            let gap = pair[1].received_at.duration_since(pair[0].received_at);
            assert!(
                gap >= Duration::from_secs(1),
                "posted again {gap:?} after a 429 with Retry-After: 1"
            );
            assert_eq!(
                pair[1].status, 200,
                "a retry that obeys Retry-After is accepted"
            );
        }
    }
    let text = reverb.metrics().await;
    let counted = metric(
        &text,
        "reverb_slack_rate_limited_total",
        &[("method", "chat.postMessage")],
    );
    assert_eq!(counted, limited as f64);
    assert_eq!(counted, slack.rate_limited_count() as f64);
    assert_eq!(
        metric(&text, "reverb_notifications_delivered_total", &[]),
        6.0
    );
}

/// 2b. With the default pacing (1/s, burst 3, Slack's own limit) Reverb never gets a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_pacing_never_hits_slacks_limit() {
    let slack = fake_slack(1.0, 3).await;
    let reverb = start_reverb(&slack, "", &[]).await;
    for n in 1..=8 {
        notify(&reverb, &["#paced"], &format!("msg {n}")).await;
    }
    wait_for_posts(&slack, "#paced", 8).await;
    assert_eq!(numbers_in(&slack, "#paced"), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        slack.rate_limited_count(),
        0,
        "Reverb's pacing let a 429 through"
    );
    assert_eq!(post_calls_to(&slack, "#paced").len(), 8);
    assert_eq!(
        reverb.metric("reverb_slack_rate_limited_total", &[]).await,
        0.0
    );
}

/// 3. A channel with a backlog does not hold up another channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_channel_never_delays_a_quiet_one() {
    let slack = fake_slack(1.0, 3).await;
    let reverb = start_reverb(&slack, "", &[]).await;
    for n in 1..=10 {
        notify(&reverb, &["#busy"], &format!("msg {n}")).await;
    }
    let sent = Instant::now();
    notify(&reverb, &["#quiet"], "msg 99").await;
    let slack_ref = &slack;
    let busy_when_quiet_arrived = eventually(
        Duration::from_millis(1500),
        "#quiet's message while #busy drains",
        || async move {
            (slack_ref.posted("#quiet").len() == 1).then(|| slack_ref.posted("#busy").len())
        },
    )
    .await;
    let took = sent.elapsed();
    assert!(
        busy_when_quiet_arrived < 10,
        "#busy had already drained ({busy_when_quiet_arrived} posted): the test proves nothing"
    );
    assert_eq!(numbers_in(&slack, "#quiet"), [99]);
    wait_for_posts(&slack, "#busy", 10).await;
    assert_eq!(numbers_in(&slack, "#busy"), (1..=10).collect::<Vec<_>>());
    eprintln!("#quiet delivered {took:?} after it was sent, #busy at {busy_when_quiet_arrived}/10");
}

/// Retry settings for the failure tests: quick backoff, short request timeout.
const FAST_RETRY: &str = "reverb:\n  delivery:\n    requestTimeout: 500ms\n";
const FAST_BACKOFF_ENV: &[(&str, &str)] = &[("REVERB_DELIVERY_INITIALBACKOFF", "100ms")];

/// Makes the next `times` posts fail with `failure`, sends one message, and returns Reverb and
/// the fake once the message is delivered.
async fn deliver_through(
    failure: Failure,
    times: usize,
    channel: &str,
) -> (Reverb, reverb_sandbox::FakeSlack) {
    let slack = fake_slack(0.0, 1).await;
    let reverb = start_reverb(&slack, FAST_RETRY, FAST_BACKOFF_ENV).await;
    slack.fail_next("chat.postMessage", times, failure);
    notify(&reverb, &[channel], "msg 1").await;
    wait_for_posts(&slack, channel, 1).await;
    wait_outbox_drained(&reverb).await;
    (reverb, slack)
}

/// 4a. HTTP 503 twice, then success: delivered once, retried twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_503_is_retried_until_delivered_once() {
    let (reverb, slack) = deliver_through(Failure::Http(503), 2, "#flaky").await;
    let statuses: Vec<u16> = post_calls_to(&slack, "#flaky")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(numbers_in(&slack, "#flaky"), [1], "delivered exactly once");
    let text = reverb.metrics().await;
    assert!(metric(&text, "reverb_notifications_retried_total", &[]) >= 2.0);
    assert_eq!(
        metric(&text, "reverb_notifications_delivered_total", &[]),
        1.0
    );
    assert_eq!(
        metric(&text, "reverb_notifications_dead_lettered_total", &[]),
        0.0
    );
}

/// 4b. `ok:false` with a retryable code (`internal_error`) is retried, not given up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_internal_error_is_retried() {
    let (reverb, slack) =
        deliver_through(Failure::slack_error("internal_error"), 2, "#flaky-ok-false").await;
    let calls = post_calls_to(&slack, "#flaky-ok-false");
    let errors: Vec<Option<&str>> = calls.iter().map(|c| c.error()).collect();
    assert_eq!(
        errors,
        [Some("internal_error"), Some("internal_error"), None]
    );
    assert_eq!(numbers_in(&slack, "#flaky-ok-false"), [1]);
    let text = reverb.metrics().await;
    assert!(metric(&text, "reverb_notifications_retried_total", &[]) >= 2.0);
    assert_eq!(
        metric(&text, "reverb_notifications_delivered_total", &[]),
        1.0
    );
}

/// 4c. A request that outlives `reverb.delivery.requestTimeout` is retried. Slack did post the
///     first one (it only answered late), so the channel shows it twice: at-least-once delivery
///     cannot tell a lost request from a late answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_is_retried() {
    let (reverb, slack) =
        deliver_through(Failure::Delay(Duration::from_millis(1500)), 1, "#slow").await;
    let calls = post_calls_to(&slack, "#slow");
    assert_eq!(calls.len(), 2, "one timed-out attempt, one retry");
    assert!(
        calls[1].received_at.duration_since(calls[0].received_at) < Duration::from_millis(1500),
        "the retry did not wait for the late answer: the timeout was not applied"
    );
    let text = reverb.metrics().await;
    assert_eq!(
        metric(
            &text,
            "reverb_slack_api_calls_total",
            &[
                ("method", "chat.postMessage"),
                ("outcome", "retryable_error")
            ]
        ),
        1.0
    );
    assert!(metric(&text, "reverb_notifications_retried_total", &[]) >= 1.0);
    assert_eq!(
        metric(&text, "reverb_notifications_delivered_total", &[]),
        1.0
    );
    assert!(
        reverb.logs().contains("timeout"),
        "the retry log names the timeout"
    );
}

fn dead_row<'a>(rows: &'a [Value], channel: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["state"] == "dead" && r["channel"] == channel)
        .unwrap_or_else(|| panic!("no dead letter for {channel} in {rows:#?}"))
}

/// 5. Permanent failures are dead-lettered after one call, counted, logged with the channel and
///    Slack's error, listed by `reverb outbox list`; `retry` hands one back to the running
///    Reverb, `drop` deletes another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_are_dead_lettered_then_retried_or_dropped() {
    let slack = fake_slack(0.0, 1).await;
    let reverb = start_reverb(&slack, "", &[]).await;
    let dead_total = "reverb_notifications_dead_lettered_total";

    notify(&reverb, &["#archived"], "msg 1").await;
    wait_metric(&reverb, dead_total, &[], 1.0).await;
    assert_eq!(post_calls_to(&slack, "#archived").len(), 1, "not retried");
    assert_eq!(
        post_calls_to(&slack, "#archived")[0].error(),
        Some("is_archived")
    );

    slack.fail_next(
        "chat.postMessage",
        1,
        Failure::slack_error("channel_not_found"),
    );
    notify(&reverb, &["#renamed"], "msg 2").await;
    wait_metric(&reverb, dead_total, &[], 2.0).await;
    assert_eq!(post_calls_to(&slack, "#renamed").len(), 1, "not retried");
    assert!(slack.posted("#renamed").is_empty());

    let text = reverb.metrics().await;
    assert_eq!(
        metric(&text, "reverb_notifications_delivered_total", &[]),
        0.0
    );
    assert_eq!(
        metric(&text, "reverb_notifications_retried_total", &[]),
        0.0
    );
    assert_eq!(metric(&text, "reverb_outbox_dead_letters", &[]), 2.0);
    let outbox = health_outbox(&reverb).await;
    assert_eq!(outbox["deadLetters"], 2, "{outbox}");
    assert_eq!(outbox["pending"], 0, "{outbox}");

    for (channel, code) in [
        ("#archived", "is_archived"),
        ("#renamed", "channel_not_found"),
    ] {
        let lines = log_lines_with(&reverb, "dead-lettered");
        assert!(
            lines
                .iter()
                .any(|l| l.contains(channel) && l.contains(code)),
            "no dead-letter log line naming {channel} and {code}:\n{}",
            reverb.logs()
        );
    }

    let rows = outbox_rows(&reverb.config);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let archived = dead_row(&rows, "#archived");
    assert!(
        archived["lastError"]
            .as_str()
            .unwrap()
            .contains("is_archived")
    );
    let renamed = dead_row(&rows, "#renamed");
    assert!(
        renamed["lastError"]
            .as_str()
            .unwrap()
            .contains("channel_not_found")
    );
    let archived_id = archived["id"].as_i64().unwrap().to_string();
    let renamed_id = renamed["id"].as_i64().unwrap().to_string();

    // Someone unarchives the channel and retries the dead letter: the running Reverb sends it.
    slack.add_channel(SlackChannel::public("C0ARCHIVE01", "archived"));
    let out = outbox_cmd(&reverb.config, &["retry", &archived_id]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("queued again"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let slack_ref = &slack;
    eventually(
        Duration::from_secs(6),
        "the retried dead letter delivered",
        || async move { (!slack_ref.posted("#archived").is_empty()).then_some(()) },
    )
    .await;
    assert_eq!(numbers_in(&slack, "#archived"), [1]);

    let out = outbox_cmd(&reverb.config, &["drop", &renamed_id]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("dropped"));
    wait_outbox_drained(&reverb).await;
    assert!(outbox_rows(&reverb.config).is_empty());
    let outbox = health_outbox(&reverb).await;
    assert_eq!(outbox["deadLetters"], 0, "{outbox}");
    assert_eq!(reverb.metric("reverb_outbox_dead_letters", &[]).await, 0.0);
    assert_eq!(
        reverb
            .metric("reverb_notifications_delivered_total", &[])
            .await,
        1.0
    );
}

/// 6. `ok:false` is never a success, whatever the HTTP status: a rejected token is a dead
///    letter, not a delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_auth_is_a_dead_letter_not_a_delivery() {
    let slack = reverb_sandbox::start_fake_slack(reverb_sandbox::FakeSlackConfig {
        // Only other tokens are valid: `xoxb-test` is refused as revoked.
        token_prefixes: vec!["xoxb-other-".to_owned()],
        ..Default::default()
    })
    .await
    .expect("fake Slack");
    let reverb = start_reverb(&slack, "", &[]).await;
    notify(&reverb, &["#general"], "msg 1").await;
    wait_metric(
        &reverb,
        "reverb_notifications_dead_lettered_total",
        &[],
        1.0,
    )
    .await;

    let calls = slack.calls_to("chat.postMessage");
    assert_eq!(calls.len(), 1, "an auth failure is not retried");
    assert_eq!((calls[0].status, calls[0].ok()), (200, Some(false)));
    assert_eq!(calls[0].error(), Some("invalid_auth"));
    assert!(slack.posted("#general").is_empty());
    let text = reverb.metrics().await;
    assert_eq!(
        metric(&text, "reverb_notifications_delivered_total", &[]),
        0.0
    );
    assert_eq!(
        metric(
            &text,
            "reverb_slack_api_calls_total",
            &[("method", "chat.postMessage"), ("outcome", "ok")]
        ),
        0.0
    );
    let rows = outbox_rows(&reverb.config);
    let row = dead_row(&rows, "#general");
    assert!(row["lastError"].as_str().unwrap().contains("invalid_auth"));
}

/// 7. Messages pending at a clean stop are delivered by the next start, once each, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_messages_survive_a_restart() {
    let slack = fake_slack(1.0, 3).await;
    slack.fail_next("*", 10_000, Failure::Http(503));
    let reverb = start_reverb(&slack, "", &[]).await;
    for n in 1..=5 {
        notify(&reverb, &["#restart"], &format!("msg {n}")).await;
    }
    let slack_ref = &slack;
    eventually(WAIT, "a failed attempt", || async move {
        (!slack_ref.calls_to("chat.postMessage").is_empty()).then_some(())
    })
    .await;
    let outbox = health_outbox(&reverb).await;
    assert_eq!(outbox["pending"], 5, "{outbox}");
    assert!(outbox["oldestPendingAgeSeconds"].is_u64(), "{outbox}");
    assert_eq!(
        reverb.metric("reverb_outbox_pending_messages", &[]).await,
        5.0
    );
    let config = reverb.stop();

    // Slack is back (and forgets the failed calls).
    slack.reset();
    let reverb = Reverb::start_in(config, &[]).await;
    wait_for_posts(&slack, "#restart", 5).await;
    wait_outbox_drained(&reverb).await;
    assert_eq!(numbers_in(&slack, "#restart"), [1, 2, 3, 4, 5]);
    assert_eq!(post_calls_to(&slack, "#restart").len(), 5, "each sent once");
    let outbox = health_outbox(&reverb).await;
    assert_eq!(outbox["pending"], 0, "{outbox}");
}

/// 7b. A clean stop while a channel only waits for its next retry is prompt: nothing is in
///     flight, so there is nothing to wait for (Kubernetes gives 30 s before SIGKILL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_does_not_wait_out_pending_retries() {
    let slack = fake_slack(1.0, 3).await;
    slack.fail_next("*", 10_000, Failure::Http(503));
    let reverb = start_reverb(&slack, "", &[]).await;
    notify(&reverb, &["#stop-fast"], "msg 1").await;
    let slack_ref = &slack;
    eventually(WAIT, "a failed attempt", || async move {
        (!slack_ref.calls_to("chat.postMessage").is_empty()).then_some(())
    })
    .await;
    let stopping = Instant::now();
    let mut reverb = reverb;
    let code = reverb.terminate();
    let took = stopping.elapsed();
    let logs = reverb.logs();
    assert_eq!(code, Some(0), "{logs}");
    assert!(
        took < Duration::from_secs(3),
        "SIGTERM took {took:?} while the only message was waiting for its retry:\n{logs}"
    );
    assert!(
        !logs.contains("delivery still in flight at shutdown"),
        "nothing was in flight:\n{logs}"
    );
}

/// 7c. A message Slack keeps refusing is dead-lettered once it is older than
///     `reverb.delivery.maxAge`, not retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_failing_past_max_age_is_dead_lettered() {
    let slack = fake_slack(0.0, 1).await;
    slack.fail_next("chat.postMessage", 10_000, Failure::Http(503));
    // In the file, not the environment: `reverb outbox` below reads the same configuration.
    let extra =
        "reverb:\n  delivery:\n    maxAge: 1s\n    initialBackoff: 100ms\n    maxBackoff: 200ms\n";
    let reverb = start_reverb(&slack, extra, &[]).await;
    notify(&reverb, &["#doomed"], "msg 1").await;
    wait_metric(
        &reverb,
        "reverb_notifications_dead_lettered_total",
        &[],
        1.0,
    )
    .await;
    let attempts = post_calls_to(&slack, "#doomed").len();
    assert!(attempts >= 2, "retried before giving up ({attempts} calls)");
    let rows = outbox_rows(&reverb.config);
    let row = dead_row(&rows, "#doomed");
    let error = row["lastError"].as_str().unwrap();
    assert!(error.contains("still failing"), "{error}");
    assert!(error.contains("503"), "Slack's answer is kept: {error}");
    let outbox = health_outbox(&reverb).await;
    assert_eq!(outbox["pending"], 0, "{outbox}");
    assert_eq!(outbox["deadLetters"], 1, "{outbox}");
}

/// Collapses runs of the same number (a message re-sent right after a crash).
fn without_repeats(numbers: &[u32]) -> (Vec<u32>, usize) {
    let mut out: Vec<u32> = Vec::new();
    let mut repeats = 0;
    for &n in numbers {
        if out.last() == Some(&n) {
            repeats += 1;
        } else {
            out.push(n);
        }
    }
    (out, repeats)
}

/// 8. `kill -9` while posts are in flight loses nothing; at most the message in flight in each
///    channel is posted twice, right after itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_delivery_loses_nothing() {
    let slack = fake_slack(0.0, 1).await;
    slack.fail_next(
        "chat.postMessage",
        10_000,
        Failure::Delay(Duration::from_millis(300)),
    );
    let reverb = start_reverb(&slack, UNPACED, &[]).await;
    let channels = ["#crash-a", "#crash-b", "#crash-c", "#crash-d"];
    let mut expected: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for n in 1..=20u32 {
        let channel = channels[(n as usize - 1) % channels.len()];
        notify(&reverb, &[channel], &format!("msg {n}")).await;
        expected.entry(channel).or_default().push(n);
    }
    let slack_ref = &slack;
    eventually(WAIT, "deliveries under way", || async move {
        (slack_ref.calls_to("chat.postMessage").len() >= 8).then_some(())
    })
    .await;
    let config = reverb.kill9();
    let before = slack.calls_to("chat.postMessage").len();
    assert!(
        before < 20,
        "everything was sent before the kill: the test proves nothing"
    );

    let reverb = Reverb::start_in(config, &[]).await;
    for channel in channels {
        wait_for_posts(&slack, channel, 5).await;
    }
    wait_outbox_drained(&reverb).await;
    let total = slack.calls_to("chat.postMessage").len();
    assert!(
        total <= 20 + channels.len(),
        "{total} posts for 20 messages over {} channels",
        channels.len()
    );
    for channel in channels {
        let (seen, repeats) = without_repeats(&numbers_in(&slack, channel));
        assert_eq!(
            seen, expected[channel],
            "every message, in order, in {channel}"
        );
        assert!(repeats <= 1, "{repeats} repeats in {channel}");
    }
    eprintln!("killed after {before} posts; {total} posts in all");
}

/// 9. Addresses: `#name`, `name`, a channel ID, a user ID (the DM) and an e-mail address
///    (looked up once, then cached).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_ids_users_and_emails_are_reached() {
    let slack = fake_slack(0.0, 1).await;
    let reverb = start_reverb(&slack, "", &[]).await;
    notify(&reverb, &["#general"], "msg 1").await;
    notify(&reverb, &["general"], "msg 2").await;
    notify(&reverb, &["C0DEPLOYS01"], "msg 3").await;
    notify(&reverb, &["U0JANE0001"], "msg 4").await;
    notify(&reverb, &["jane@example.com"], "msg 5").await;
    notify(&reverb, &["jane@example.com"], "msg 6").await;
    wait_for_posts(&slack, "C0GENERAL01", 2).await;
    wait_for_posts(&slack, "#deploys", 1).await;
    wait_for_posts(&slack, "U0JANE0001", 3).await;
    wait_outbox_drained(&reverb).await;

    assert_eq!(
        numbers_in(&slack, "C0GENERAL01"),
        [1, 2],
        "#general and general are one channel"
    );
    assert_eq!(numbers_in(&slack, "#deploys"), [3]);
    let dm = numbers_in(&slack, "U0JANE0001");
    let mut sorted = dm.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [4, 5, 6], "jane's DM: {dm:?}");
    let pos = |n| dm.iter().position(|&m| m == n).unwrap();
    assert!(pos(5) < pos(6), "one address keeps its order: {dm:?}");

    let lookups = slack.calls_to("users.lookupByEmail");
    assert_eq!(lookups.len(), 1, "the e-mail lookup is cached");
    assert_eq!(lookups[0].arg_str("email"), Some("jane@example.com"));
    let to_jane: Vec<_> = slack
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|c| c.arg_str("channel") == Some("U0JANE0001"))
        .collect();
    assert_eq!(to_jane.len(), 3, "the e-mail became jane's user ID");
    assert_eq!(
        reverb
            .metric("reverb_notifications_delivered_total", &[])
            .await,
        6.0
    );
}

fn event(fixture: &str) -> Value {
    serde_json::from_str(fixture).expect("fixture JSON")
}

/// 10. The pipeline's message is recorded (channel ID + ts); after a restart a stage message
///     goes into its thread, and the pipeline's end edits it (`reverb.slack.threads: true`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_parent_reference_survives_a_restart() {
    let slack = fake_slack(0.0, 1).await;
    let threads = "reverb:\n  slack:\n    threads: true\n";
    let reverb = start_reverb(&slack, threads, &[]).await;

    // The fixture's pipeline notifies #deploys on complete/failed; threads need the start too.
    let mut starting = event(PIPELINE_STARTING);
    starting["content"]["execution"]["notifications"][0]["when"]
        .as_array_mut()
        .expect("when list")
        .push(json!("pipeline.starting"));
    send_event(&reverb, &starting).await;
    let parent = wait_for_posts(&slack, "#deploys", 1).await.remove(0);
    assert_eq!(parent.channel, "C0DEPLOYS01");
    assert_eq!(parent.thread_ts, None);
    wait_outbox_drained(&reverb).await;
    let config = reverb.stop();

    let reverb = Reverb::start_in(config, &[]).await;
    send_event(&reverb, &event(STAGE_COMPLETE)).await;
    let posted = wait_for_posts(&slack, "#deploys", 2).await;
    let reply: &SlackStoredMessage = &posted[1];
    assert_eq!(
        reply.thread_ts.as_deref(),
        Some(parent.ts.as_str()),
        "{reply:#?}"
    );
    assert!(
        reply.all_text().contains("Deploy finished"),
        "{}",
        reply.all_text()
    );
    let call = slack
        .calls_to("chat.postMessage")
        .pop()
        .expect("the reply's call");
    assert_eq!(
        call.arg_str("channel"),
        Some("C0DEPLOYS01"),
        "posted to the parent's channel ID"
    );
    assert_eq!(call.arg_str("thread_ts"), Some(parent.ts.as_str()));

    send_event(&reverb, &event(PIPELINE_COMPLETE)).await;
    let slack_ref = &slack;
    let update = eventually(WAIT, "the parent edited", || async move {
        slack_ref.calls_to("chat.update").pop()
    })
    .await;
    assert_eq!(update.arg_str("channel"), Some("C0DEPLOYS01"));
    assert_eq!(update.arg_str("ts"), Some(parent.ts.as_str()));
    wait_outbox_drained(&reverb).await;
    let now = slack.posted("#deploys");
    assert_eq!(
        now.len(),
        2,
        "the end edits the parent, it posts nothing new"
    );
    assert_eq!(now[0].edit_count, 1);
}

/// 11. Every Web API call carries `Authorization: Bearer`, JSON bodies say `charset=utf-8`, and
///     the token is never in a body or query string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_api_calls_use_bearer_auth_and_utf8_json() {
    let slack = fake_slack(0.0, 1).await;
    let reverb = start_reverb(&slack, "", &[]).await;
    notify(&reverb, &["#auth-check"], "msg 1 ünïcødé ✓").await;
    notify(&reverb, &["john@doe.com"], "msg 2").await;
    wait_for_posts(&slack, "#auth-check", 1).await;
    wait_for_posts(&slack, "U0JOHN0001", 1).await;
    wait_outbox_drained(&reverb).await;

    let calls = slack.calls();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert!(methods.contains(&"chat.postMessage") && methods.contains(&"users.lookupByEmail"));
    for call in &calls {
        assert_eq!(
            call.auth,
            Some(SlackAuth::Bearer("xoxb-test".into())),
            "{} {}",
            call.method,
            call.path
        );
        assert!(
            !call.args.to_string().contains("xoxb-test") && !call.path.contains("xoxb-test"),
            "token in the arguments of {}: {}",
            call.method,
            call.args
        );
        assert!(call.args.get("token").is_none(), "{}", call.args);
        if call.http_method == "POST" {
            let content_type = call.content_type.as_deref().unwrap_or_default();
            assert!(
                content_type.starts_with("application/json")
                    && content_type.to_ascii_lowercase().contains("charset=utf-8"),
                "{}: {content_type}",
                call.method
            );
            assert!(call.response.get("warning").is_none(), "{}", call.response);
        }
        assert_eq!(call.ok(), Some(true), "{} {}", call.method, call.response);
    }
    let posted = slack.posted("#auth-check");
    assert!(
        posted[0].all_text().contains("ünïcødé ✓"),
        "{}",
        posted[0].all_text()
    );
}

/// 12. Incoming-webhook mode (a `T…/B…/…` token): posts JSON `{attachments, channel}` to
///     `{baseUrl}/{token}`, and nothing to the Web API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_webhook_mode_posts_to_the_hook_url() {
    let slack = fake_slack(0.0, 1).await;
    let config = format!(
        "slack:\n  enabled: true\n  token: {WEBHOOK_TOKEN}\n  baseUrl: {}\n\
         spinnaker:\n  baseUrl: http://spinnaker\n",
        slack.webhook_base_url()
    );
    let reverb = Reverb::start(&config).await;
    notify(&reverb, &["#hooks"], "msg 1").await;
    notify(&reverb, &["#hooks"], "msg 2").await;
    wait_for_posts(&slack, "#hooks", 2).await;
    wait_outbox_drained(&reverb).await;
    assert_eq!(numbers_in(&slack, "#hooks"), [1, 2]);

    let hooks = slack.calls_to("webhook");
    assert_eq!(hooks.len(), 2);
    for call in &hooks {
        assert_eq!(call.http_method, "POST");
        assert_eq!(call.path, format!("/services/{WEBHOOK_TOKEN}"));
        assert_eq!(call.status, 200);
        assert_eq!(call.arg_str("channel"), Some("#hooks"));
        assert!(
            call.args["attachments"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{}",
            call.args
        );
        assert!(
            call.content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/json")),
            "{:?}",
            call.content_type
        );
        assert_eq!(call.auth, None, "webhooks carry no Authorization");
    }
    assert!(slack.calls_to("chat.postMessage").is_empty());
    assert_eq!(
        reverb
            .metric(
                "reverb_slack_api_calls_total",
                &[("method", "webhook"), ("outcome", "ok")]
            )
            .await,
        2.0
    );
}
