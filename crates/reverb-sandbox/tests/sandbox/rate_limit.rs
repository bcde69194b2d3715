//! Per-channel rate limiting: token bucket, 429 with Retry-After, counted.

use std::time::Duration;

use reverb_sandbox::slack::WEBHOOK_TOKEN;
use reverb_sandbox::{FakeSlackConfig, start_fake_slack};
use serde_json::json;
use tokio::time::Instant;

use crate::support::{TOKEN, client, post_text};

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_burst_plus_one_gets_exactly_one_429() {
    // A slow refill keeps the test independent of machine speed.
    let slack = start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: 0.2,
        channel_burst: 3,
        ..FakeSlackConfig::default()
    })
    .await
    .expect("fake slack");
    let http = client();
    let mut statuses = Vec::new();
    let mut limited = None;
    for index in 0..4 {
        let response = http
            .post(format!("{}/api/chat.postMessage", slack.base_url()))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .json(&json!({"channel": "#deploys", "text": format!("message {index}")}))
            .send()
            .await
            .expect("request");
        statuses.push(response.status().as_u16());
        if response.status().as_u16() == 429 {
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            limited = Some((
                retry_after,
                response.json::<serde_json::Value>().await.expect("json"),
            ));
        }
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    let (retry_after, body) = limited.expect("one 429");
    let secs: u64 = retry_after
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!((1..=5).contains(&secs), "{secs}");
    assert_eq!(body, json!({"ok": false, "error": "ratelimited"}));
    assert_eq!(slack.rate_limited_count(), 1);
    assert_eq!(slack.posted("deploys").len(), 3);

    // Other channels have their own bucket.
    for channel in ["general", "alerts", "deploy-approvals"] {
        let (status, _) = post_text(&slack, channel, "fine").await;
        assert_eq!(status, 200, "{channel}");
    }
    // Webhook posts share the channel's bucket.
    let webhook = http
        .post(format!("{}/{WEBHOOK_TOKEN}", slack.webhook_base_url()))
        .json(&json!({"channel": "#deploys", "text": "via webhook"}))
        .send()
        .await
        .expect("webhook");
    assert_eq!(webhook.status().as_u16(), 429);
    assert!(webhook.headers().contains_key("Retry-After"));
    assert_eq!(slack.rate_limited_count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_pacing_at_the_rate_with_the_same_burst_is_never_limited() {
    let per_sec = 4.0;
    let burst = 2;
    let slack = start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: per_sec,
        channel_burst: burst,
        ..FakeSlackConfig::default()
    })
    .await
    .expect("fake slack");
    let http = client();
    // Open the connection first (on another channel): connection setup is latency the
    // server would otherwise see only on the first paced request.
    http.post(format!("{}/api/chat.postMessage", slack.base_url()))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .json(&json!({"channel": "general", "text": "warm-up"}))
        .send()
        .await
        .expect("warm-up");
    let interval = Duration::from_secs_f64(1.0 / per_sec);
    let tolerance = interval * (burst - 1);
    // The client keeps the very same bucket (as Reverb's pacer does): it sends as soon as its
    // bucket has a token, never earlier.
    let mut next_free = Instant::now();
    for index in 0..10 {
        tokio::time::sleep_until(next_free.checked_sub(tolerance).unwrap_or(next_free)).await;
        next_free = next_free.max(Instant::now()) + interval;
        let response = http
            .post(format!("{}/api/chat.postMessage", slack.base_url()))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .json(&json!({"channel": "deploys", "text": format!("paced {index}")}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "request {index}");
    }
    assert_eq!(slack.rate_limited_count(), 0);
    assert_eq!(slack.posted("deploys").len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn set_rate_limit_zero_means_unlimited() {
    let slack = start_fake_slack(FakeSlackConfig::default())
        .await
        .expect("fake slack");
    slack.set_rate_limit(0.0, 1);
    for index in 0..15 {
        let (status, _) = post_text(&slack, "general", &format!("{index}")).await;
        assert_eq!(status, 200);
    }
    slack.set_rate_limit(f64::INFINITY, 1);
    let (status, _) = post_text(&slack, "general", "more").await;
    assert_eq!(status, 200);
    slack.set_rate_limit(0.5, 1);
    post_text(&slack, "general", "one").await;
    let (status, _) = post_text(&slack, "general", "two").await;
    assert_eq!(status, 429);
}
