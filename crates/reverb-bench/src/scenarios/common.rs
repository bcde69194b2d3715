//! What several scenarios share: numbered notifications, waiting for the fake Slack to receive
//! them, and reading back what it received.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use reverb_sandbox::{FakeSlack, FakeSlackConfig, SlackCall, start_fake_slack};
use serde_json::json;

use crate::http1::post_json;
use crate::load::BatchResult;

/// Marks each message so that what Slack received can be matched to what was sent.
const MARKER: &str = "reverb-bench-seq=";

/// A fake Slack on a free loopback port with the given per-channel limit (0 = unlimited).
pub async fn fake_slack(rate_per_sec: f64, burst: u32, secret: &str) -> anyhow::Result<FakeSlack> {
    Ok(start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: rate_per_sec,
        channel_burst: burst,
        signing_secret: secret.to_owned(),
        ..FakeSlackConfig::default()
    })
    .await?)
}

/// A Slack that accepts connections and never answers: Reverb's sends hang (until its request
/// timeout) instead of failing, so nothing is retried or rescheduled and every accepted
/// message stays pending, untouched, in the store.
pub struct BlackHole {
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Ok(Self { base_url, task })
    }

    /// Env for Reverb so that a hanging send outlasts any run here.
    pub fn reverb_env() -> Vec<(String, String)> {
        vec![("REVERB_DELIVERY_REQUESTTIMEOUT".into(), "10m".into())]
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Channel name `n` of a run (`#bench-07`); the fake Slack creates it on first post.
pub fn channel_name(index: usize) -> String {
    format!("bench-{index:02}")
}

/// A plain Slack notification as Echo's `POST /notifications` takes it (TEXT formatter, so the
/// body reaches Slack as written), carrying sequence number `seq`.
pub fn notification_request(seq: usize, channel: &str) -> Arc<Vec<u8>> {
    let body = json!({
        "notificationType": "SLACK",
        "to": [format!("#{channel}")],
        "severity": "NORMAL",
        "source": {"application": "bench"},
        "additionalContext": {
            "formatter": "TEXT",
            "subject": "Benchmark message",
            "body": format!("{MARKER}{seq} to {channel}"),
        },
    });
    Arc::new(post_json("/notifications", body.to_string().as_bytes()))
}

/// Message counts per channel: `total` spread evenly, or with channel 0 holding `hot` of them
/// and the rest spread evenly over the others.
pub fn distribution(total: usize, channels: usize, hot: Option<usize>) -> Vec<usize> {
    let channels = channels.max(1);
    let (first, rest_total, rest_channels) = match hot {
        Some(hot) if channels > 1 => (Some(hot.min(total)), total - hot.min(total), channels - 1),
        _ => (None, total, channels),
    };
    let base = rest_total / rest_channels;
    let extra = rest_total % rest_channels;
    let rest = (0..rest_channels).map(|i| base + usize::from(i < extra));
    first.into_iter().chain(rest).collect()
}

/// Round-robin over channels until each has its count: returns, per sequence number, its
/// channel. Interleaving makes every channel's lane busy from the first second.
pub fn interleave(counts: &[usize]) -> Vec<usize> {
    let mut left = counts.to_vec();
    let mut order = Vec::with_capacity(counts.iter().sum());
    while left.iter().any(|n| *n > 0) {
        for (channel, n) in left.iter_mut().enumerate() {
            if *n > 0 {
                *n -= 1;
                order.push(channel);
            }
        }
    }
    order
}

/// The makespan Slack's limit allows when every message is available at time 0: each channel
/// sends its burst at once, then one message per `1/rate` seconds; the busiest channel decides.
pub fn optimum_makespan_secs(counts: &[usize], rate: f64, burst: u32) -> f64 {
    let burst = burst.max(1) as usize;
    counts
        .iter()
        .map(|n| n.saturating_sub(burst) as f64 / rate)
        .fold(0.0, f64::max)
}

/// Polls until the fake has answered `expected` successful `chat.postMessage` calls (or the
/// deadline passes); the cheap counters are checked first, the full list only when they say so.
pub async fn wait_for_posts(slack: &FakeSlack, expected: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let stats = slack.state().stats();
        if stats.calls.saturating_sub(stats.rate_limited) >= expected
            && successful_posts(&slack.calls_to("chat.postMessage")) >= expected
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn successful_posts(calls: &[SlackCall]) -> usize {
    calls.iter().filter(|c| is_success(c)).count()
}

fn is_success(call: &SlackCall) -> bool {
    call.status == 200 && call.ok() == Some(true)
}

/// The sequence number a delivered message carries.
pub fn sequence_of(call: &SlackCall) -> Option<usize> {
    let text = call.args.to_string();
    let start = text.find(MARKER)? + MARKER.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What the fake Slack received for a run of numbered messages.
#[derive(Debug, Clone)]
pub struct Deliveries {
    /// Distinct sequence numbers delivered.
    pub delivered: usize,
    pub lost: usize,
    /// Successful posts beyond the first of the same message.
    pub duplicates: usize,
    /// `chat.postMessage` answered 429.
    pub rate_limited: usize,
    /// Other failed `chat.postMessage` answers.
    pub other_failures: usize,
    /// Within one channel, messages that arrived after a message sent later.
    pub out_of_order: usize,
    pub first_at: Option<Instant>,
    pub last_at: Option<Instant>,
    /// Per channel, when its last message arrived.
    pub channel_last_at: Vec<Option<Instant>>,
}

/// Matches `calls` (in arrival order) to messages `0..channel_of.len()`.
pub fn analyse(calls: &[SlackCall], channel_of: &[usize], channels: usize) -> Deliveries {
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut rate_limited = 0;
    let mut other_failures = 0;
    let mut out_of_order = 0;
    let mut highest_per_channel: Vec<Option<usize>> = vec![None; channels];
    let mut channel_last_at = vec![None; channels];
    let mut first_at: Option<Instant> = None;
    let mut last_at: Option<Instant> = None;
    for call in calls.iter().filter(|c| c.method == "chat.postMessage") {
        if call.status == 429 {
            rate_limited += 1;
            continue;
        }
        if !is_success(call) {
            other_failures += 1;
            continue;
        }
        let Some(seq) = sequence_of(call).filter(|s| *s < channel_of.len()) else {
            continue;
        };
        if !seen.insert(seq) {
            duplicates += 1;
            continue;
        }
        let channel = channel_of[seq];
        match highest_per_channel[channel] {
            Some(highest) if seq < highest => out_of_order += 1,
            _ => highest_per_channel[channel] = Some(seq),
        }
        channel_last_at[channel] = Some(call.received_at);
        first_at = Some(first_at.map_or(call.received_at, |t| t.min(call.received_at)));
        last_at = Some(last_at.map_or(call.received_at, |t| t.max(call.received_at)));
    }
    Deliveries {
        delivered: seen.len(),
        lost: channel_of.len() - seen.len(),
        duplicates,
        rate_limited,
        other_failures,
        out_of_order,
        first_at,
        last_at,
        channel_last_at,
    }
}

/// Fails, with the first refusal and Reverb's last log lines, when a batch was not fully
/// accepted.
pub fn require_all_accepted(
    batch: &BatchResult,
    logs: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let total = batch.statuses.len();
    if batch.ok() != total {
        let logs = logs();
        let mut tail: Vec<&str> = logs.lines().rev().take(20).collect();
        tail.reverse();
        bail!(
            "Reverb accepted only {} of {total} requests (first failure: {}); last log lines:\n{}",
            batch.ok(),
            batch.first_failure.as_deref().unwrap_or("none recorded"),
            tail.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_add_up_and_put_the_hot_channel_first() {
        assert_eq!(distribution(600, 20, None), vec![30; 20]);
        let uneven = distribution(600, 20, Some(60));
        assert_eq!(uneven.iter().sum::<usize>(), 600);
        assert_eq!(uneven[0], 60);
        assert_eq!(uneven.iter().skip(1).filter(|n| **n == 29).count(), 8);
        assert_eq!(uneven.iter().skip(1).filter(|n| **n == 28).count(), 11);
    }

    #[test]
    fn optimum_is_set_by_the_busiest_channel_after_its_burst() {
        assert_eq!(optimum_makespan_secs(&[30; 20], 1.0, 3), 27.0);
        assert_eq!(
            optimum_makespan_secs(&distribution(600, 20, Some(60)), 1.0, 3),
            57.0
        );
        assert_eq!(optimum_makespan_secs(&[2, 1], 1.0, 3), 0.0);
        assert_eq!(optimum_makespan_secs(&[13], 2.0, 3), 5.0);
    }

    #[test]
    fn interleaving_keeps_counts_and_alternates() {
        let order = interleave(&[3, 1, 2]);
        assert_eq!(order, vec![0, 1, 2, 0, 2, 0]);
    }

    #[test]
    fn notification_carries_its_sequence_number() {
        let request = notification_request(417, "bench-03");
        let text = String::from_utf8(request.to_vec()).expect("utf-8");
        assert!(text.starts_with("POST /notifications HTTP/1.1\r\n"));
        assert!(text.contains("reverb-bench-seq=417 to bench-03"), "{text}");
        assert!(text.contains("\"to\":[\"#bench-03\"]"), "{text}");
    }
}
