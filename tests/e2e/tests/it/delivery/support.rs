//! Helpers for the delivery tests (and the delivery hardening ones): Reverb wired to a fake
//! Slack, plain Slack notifications, metric and outbox readers, and waits with deadlines.

use std::process::Output;
use std::time::Duration;

use reverb_e2e::{ConfigDir, Reverb, eventually, run_reverb};
use reverb_sandbox::{FakeSlack, FakeSlackConfig, SlackCall, SlackStoredMessage, start_fake_slack};
use serde_json::{Value, json};

/// Long enough for a loaded 2-core CI box; the happy path takes a fraction of it.
pub const WAIT: Duration = Duration::from_secs(20);

/// Reverb's own pacing switched (almost) off, so Slack's limits are what Reverb runs into.
pub const UNPACED: &str = "reverb:\n  delivery:\n    channelRate: 1000\n    channelBurst: 100\n";

pub async fn fake_slack(rate_per_sec: f64, burst: u32) -> FakeSlack {
    start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: rate_per_sec,
        channel_burst: burst,
        ..Default::default()
    })
    .await
    .expect("fake Slack starts")
}

/// `echo-local.yml` for Reverb against the fake Slack with a bot token; `extra` adds top-level
/// YAML (a `reverb:` block).
pub fn echo_local(slack_base_url: &str, extra: &str) -> String {
    format!(
        "slack:\n  enabled: true\n  token: xoxb-test\n  baseUrl: {slack_base_url}\n\
         spinnaker:\n  baseUrl: http://spinnaker\n{extra}"
    )
}

pub async fn start_reverb(slack: &FakeSlack, extra: &str, env: &[(&str, &str)]) -> Reverb {
    let config = echo_local(&slack.base_url(), extra);
    Reverb::start_with(&[("echo-local.yml", &config)], env).await
}

/// A plain Slack notification, as Deck or a script sends it; expects Echo's 200.
pub async fn notify(reverb: &Reverb, to: &[&str], body: &str) {
    let payload = json!({
        "notificationType": "SLACK",
        "to": to,
        "additionalContext": {"formatter": "MARKDOWN", "subject": "s", "body": body},
    });
    let answer = reverb
        .post_json("/notifications", &payload.to_string())
        .await;
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    assert_eq!(status, 200, "POST /notifications answered {status}: {text}");
}

/// An Orca event on `POST /`; expects Echo's 200.
pub async fn send_event(reverb: &Reverb, event: &Value) {
    let answer = reverb.post_json("/", &event.to_string()).await;
    assert_eq!(answer.status(), 200, "POST / refused the event");
}

/// The `N` of the first `msg N` a message shows (the body of a [`notify`]).
pub fn msg_number(message: &SlackStoredMessage) -> Option<u32> {
    let text = message.all_text();
    let start = text.find("msg ")? + 4;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The `msg N` numbers in a channel, in the order Slack shows them.
pub fn numbers_in(slack: &FakeSlack, channel: &str) -> Vec<u32> {
    slack
        .posted(channel)
        .iter()
        .map(|m| msg_number(m).unwrap_or_else(|| panic!("no `msg N` in {:?}", m.all_text())))
        .collect()
}

/// Waits until `channel` holds at least `count` messages and returns them.
pub async fn wait_for_posts(
    slack: &FakeSlack,
    channel: &str,
    count: usize,
) -> Vec<SlackStoredMessage> {
    eventually(
        WAIT,
        &format!("{count} messages in {channel}"),
        || async move {
            let posted = slack.posted(channel);
            (posted.len() >= count).then_some(posted)
        },
    )
    .await
}

/// `chat.postMessage` calls whose `channel` argument was `channel`, in arrival order.
pub fn post_calls_to(slack: &FakeSlack, channel: &str) -> Vec<SlackCall> {
    slack
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|c| c.arg_str("channel") == Some(channel))
        .collect()
}

/// Waits until the metric reaches exactly `value`.
pub async fn wait_metric(reverb: &Reverb, name: &str, labels: &[(&str, &str)], value: f64) {
    let what = format!("{name}{labels:?} == {value}");
    eventually(WAIT, &what, || async move {
        (reverb.metric(name, labels).await == value).then_some(())
    })
    .await;
}

/// Waits until the outbox holds nothing pending (every message confirmed or dead-lettered).
pub async fn wait_outbox_drained(reverb: &Reverb) {
    wait_metric(reverb, "reverb_outbox_pending_messages", &[], 0.0).await;
}

/// `details.outbox` of `GET /health`.
pub async fn health_outbox(reverb: &Reverb) -> Value {
    let answer = reverb
        .http
        .get(reverb.url("/health"))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("health JSON");
    assert_eq!(body["status"], "UP");
    body["details"]["outbox"].clone()
}

/// `reverb --config-dir DIR outbox <args>` on the same store as the running Reverb.
pub fn outbox_cmd(config: &ConfigDir, args: &[&str]) -> Output {
    let dir = config.path().to_str().expect("utf-8 temp path");
    let store = config.store_path();
    let mut full = vec!["--config-dir", dir, "outbox"];
    full.extend_from_slice(args);
    let out = run_reverb(
        &full,
        &[("REVERB_STORE_PATH", store.to_str().expect("utf-8 path"))],
    );
    assert!(
        out.status.success(),
        "reverb outbox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The rows of `reverb outbox list --json`.
pub fn outbox_rows(config: &ConfigDir) -> Vec<Value> {
    let out = outbox_cmd(config, &["list", "--json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "outbox list --json is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    rows.as_array().cloned().expect("a JSON array")
}

/// Log lines mentioning `needle`.
pub fn log_lines_with(reverb: &Reverb, needle: &str) -> Vec<String> {
    reverb
        .logs()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}
