//! Shared helpers: an HTTP client and Slack-style requests.

use std::time::Duration;

use reverb_sandbox::{FakeSlack, FakeSlackConfig, start_fake_slack};
use serde_json::Value;

pub const TOKEN: &str = "xoxb-test-token";
pub const WAIT: Duration = Duration::from_secs(10);

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub async fn unlimited_slack() -> FakeSlack {
    start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: 0.0,
        ..FakeSlackConfig::default()
    })
    .await
    .expect("fake slack")
}

/// A JSON Web API call with a Bearer token, as Slack's SDKs send it.
pub async fn call_json(slack: &FakeSlack, method: &str, body: &Value) -> (u16, Value) {
    let response = client()
        .post(format!("{}/api/{method}", slack.base_url()))
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json answer"))
}

/// A form call with the token in the body, as Echo sends it.
pub async fn call_form(slack: &FakeSlack, method: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let body = serde_urlencoded::to_string(fields).expect("form");
    let response = client()
        .post(format!("{}/api/{method}", slack.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json answer"))
}

/// A Slack `ts`: `<10+ digit seconds>.<6 digits>`.
pub fn is_slack_ts(ts: &str) -> bool {
    ts.split_once('.').is_some_and(|(secs, frac)| {
        secs.len() >= 10
            && frac.len() == 6
            && secs.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    })
}

pub async fn post_text(slack: &FakeSlack, channel: &str, text: &str) -> (u16, Value) {
    call_json(
        slack,
        "chat.postMessage",
        &serde_json::json!({"channel": channel, "text": text}),
    )
    .await
}
