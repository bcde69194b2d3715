//! Delivery hardening, end to end against the real binary (docs/architecture.md, "Concurrency"
//! and "Durability"): a hostile `Retry-After` cannot wedge a channel, one failing `response_url`
//! holds up no other reply, a `response_url` from a payload never chooses the host, and the
//! clicked message changes before the channel's backlog drains.

use std::time::{Duration, Instant};

use reverb_e2e::{Reverb, eventually};
use reverb_sandbox::{
    ClickRequest, Failure, FakeSlack, Recorder, SignedInteraction, sign, slack_form_encode,
    slack_json, start_recorder,
};
use serde_json::Value;

use crate::delivery::support::*;

const AWAITING: &str = include_str!("../../fixtures/orca/notification-manual-judgment.json");
const CONTINUED: &str =
    include_str!("../../fixtures/orca/notification-manual-judgment-continue.json");
const KEEL: &str = include_str!("../../fixtures/keel/notification-interactive.json");

/// The fake Slack's default signing secret (`FakeSlackConfig::default`).
const SIGNING_SECRET: &str = "sandbox-signing-secret";
const CALLBACK_PATH: &str = "/notifications/callbacks/slack";
const JANE: &str = "U0JANE0001";
const JOHN: &str = "U0JOHN0001";

async fn post_notification(reverb: &Reverb, fixture: &str) {
    let answer = reverb.post_json("/notifications", fixture).await;
    assert_eq!(answer.status(), 200, "{}", reverb.logs());
}

/// Reverb with interactivity on (the fake's signing secret), Keel at `keel`, and `response_url`
/// replies sent to the fake Slack; `delivery` adds keys under `reverb.delivery`.
async fn interactive_reverb(slack: &FakeSlack, keel: &Recorder, delivery: &str) -> Reverb {
    let extra = format!(
        "keel:\n  baseUrl: {}\nreverb:\n  slack:\n    responseUrlBase: {}\n  delivery:\n    channelRate: 100\n    channelBurst: 100\n{delivery}",
        keel.base_url(),
        slack.base_url()
    );
    let reverb = start_reverb(slack, &extra, &[("SLACK_SIGNINGSECRET", SIGNING_SECRET)]).await;
    slack.set_interactivity_url(Some(&reverb.url(CALLBACK_PATH)));
    reverb
}

/// Keel's interactive notification, posted: the message with its Approve button.
async fn keel_message(reverb: &Reverb, slack: &FakeSlack, count: usize) -> String {
    post_notification(reverb, KEEL).await;
    wait_for_posts(slack, "#my-team", count).await[count - 1]
        .ts
        .clone()
}

async fn post_signed(reverb: &Reverb, click: &SignedInteraction) {
    let status = reverb
        .http
        .post(reverb.url(CALLBACK_PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", click.timestamp.to_string())
        .header("X-Slack-Signature", &click.signature)
        .body(click.body.clone())
        .send()
        .await
        .expect("callback request")
        .status();
    assert_eq!(status, 200, "{}", reverb.logs());
}

fn rewritten(slack: &FakeSlack, ts: &str) -> bool {
    slack
        .posted("#my-team")
        .iter()
        .any(|m| m.ts == ts && m.edit_count > 0)
}

/// 1. Slack answers a post with `Retry-After: 18446744073709551615`, then one with a year: with
///    `maxRetryAfter: 2s` the channel delivers that message and the later ones, in order, and
///    Reverb stays healthy. (The first used to panic the lane, which stayed marked as running:
///    the channel never delivered again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_retry_after_does_not_wedge_the_channel() {
    let slack = fake_slack(0.0, 1).await;
    slack.fail_next("chat.postMessage", 1, Failure::RetryAfter(u64::MAX));
    slack.fail_next("chat.postMessage", 1, Failure::RetryAfter(31_536_000));
    let reverb = start_reverb(&slack, "reverb:\n  delivery:\n    maxRetryAfter: 2s\n", &[]).await;
    let started = Instant::now();
    notify(&reverb, &["#general"], "msg 1").await;
    wait_for_posts(&slack, "#general", 1).await;
    notify(&reverb, &["#general"], "msg 2").await;
    notify(&reverb, &["#general"], "msg 3").await;
    wait_for_posts(&slack, "#general", 3).await;
    let took = started.elapsed();
    assert_eq!(numbers_in(&slack, "#general"), [1, 2, 3]);
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert_eq!(slack.rate_limited_count(), 2);
    wait_outbox_drained(&reverb).await;
    let outbox = health_outbox(&reverb).await;
    assert_eq!(outbox["deadLetters"], 0, "{outbox}");
    assert_eq!(
        reverb
            .metric("reverb_delivery_lane_panics_total", &[])
            .await,
        0.0
    );
}

/// 2. Two teams click; the first one's `response_url` answers 500 (and is retried only after a
///    long backoff): the second one's message is still rewritten at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_response_url_does_not_hold_up_another_reply() {
    let slack = fake_slack(0.0, 1).await;
    let keel = start_recorder(None).await.expect("recorder");
    let reverb = interactive_reverb(
        &slack,
        &keel,
        "    initialBackoff: 30s\n    maxBackoff: 30s\n",
    )
    .await;
    let first = keel_message(&reverb, &slack, 1).await;
    let second = keel_message(&reverb, &slack, 2).await;

    slack.fail_next("response_url", 1, Failure::Http(500));
    let response = slack
        .click("#my-team", &first, "Approve", JANE)
        .await
        .expect("click");
    assert_eq!(response.status(), 200);
    eventually(WAIT, "the first reply, refused with 500", || async {
        let calls = slack.calls_to("response_url");
        (calls.len() == 1 && calls[0].status == 500).then_some(())
    })
    .await;

    let clicked = Instant::now();
    let response = slack
        .click("#my-team", &second, "Approve", JOHN)
        .await
        .expect("click");
    assert_eq!(response.status(), 200);
    eventually(
        Duration::from_secs(10),
        "the second message rewritten",
        || async { rewritten(&slack, &second).then_some(()) },
    )
    .await;
    let took = clicked.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        !rewritten(&slack, &first),
        "the failing one waits for its retry"
    );
    let calls = slack.calls_to("response_url");
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[1].status, 200);
    assert_eq!(keel.requests_to("/notifications/callback").len(), 2);
}

/// 3. A signed click whose payload carries a hostile `response_url`: the reply goes nowhere (a
///    dead letter), and the host it names gets nothing. Pasted after the configured base,
///    `@127.0.0.1:<port>/x` used to make that port the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_response_url_reaches_no_other_host() {
    let slack = fake_slack(0.0, 1).await;
    let keel = start_recorder(None).await.expect("recorder");
    let target = start_recorder(None).await.expect("recorder");
    let reverb = interactive_reverb(&slack, &keel, "").await;
    let ts = keel_message(&reverb, &slack, 1).await;

    let mut click = slack
        .build_click(&ClickRequest::new("#my-team", &ts, "Approve", JANE))
        .expect("click built");
    let hostile = format!("@127.0.0.1:{}/stolen", target.addr().port());
    click.payload["response_url"] = Value::String(hostile);
    click.body = format!("payload={}", slack_form_encode(&slack_json(&click.payload)));
    click.signature = sign(SIGNING_SECRET, click.timestamp, click.body.as_bytes());
    post_signed(&reverb, &click).await;

    eventually(WAIT, "Keel's callback", || async {
        (!keel.requests_to("/notifications/callback").is_empty()).then_some(())
    })
    .await;
    eventually(WAIT, "the reply dead-lettered", || async {
        let outbox = health_outbox(&reverb).await;
        (outbox["deadLetters"] == 1 && outbox["pending"] == 0).then_some(())
    })
    .await;
    assert!(target.requests().is_empty(), "{:#?}", target.requests());
    assert!(slack.calls_to("response_url").is_empty());
    assert!(!rewritten(&slack, &ts));
    let refused = log_lines_with(&reverb, "invalid_response_url");
    assert!(!refused.is_empty(), "{}", reverb.logs());
    assert!(
        refused.iter().all(|line| !line.contains("stolen")),
        "the URL itself is not logged: {refused:#?}"
    );
}

/// 4. Forty posts wait in a channel Slack paces at 1/s; then Orca's "judged" notification edits
///    the awaiting message. The edit reaches Slack within a couple of seconds, long before the
///    forty are through (it used to queue behind them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judged_message_changes_before_the_channels_backlog_drains() {
    let slack = fake_slack(1.0, 1).await;
    let reverb = start_reverb(&slack, "", &[]).await;
    post_notification(&reverb, AWAITING).await;
    let awaiting = wait_for_posts(&slack, "#deploy-approvals", 1)
        .await
        .remove(0);

    for n in 1..=40 {
        notify(&reverb, &["#deploy-approvals"], &format!("msg {n}")).await;
    }
    let sent = Instant::now();
    post_notification(&reverb, CONTINUED).await;
    let update = eventually(Duration::from_secs(10), "the chat.update", || async {
        slack.calls_to("chat.update").into_iter().next()
    })
    .await;
    let took = sent.elapsed();
    let posted = slack.posted("#deploy-approvals").len();
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(posted < 20, "the backlog was still queued: {posted} posted");
    assert_eq!(update.arg_str("ts"), Some(awaiting.ts.as_str()));
    assert_eq!(update.status, 200);
    let edited = slack
        .posted("#deploy-approvals")
        .into_iter()
        .find(|m| m.ts == awaiting.ts)
        .expect("the awaiting message");
    assert_eq!(edited.edit_count, 1);
    assert!(
        edited.all_text().contains("judged to *continue*"),
        "{}",
        edited.all_text()
    );
}
