//! Pacing, so Reverb stays inside Slack's limits instead of bouncing off them: posts are paced
//! per channel (Slack's ~1 message per second per channel, `reverb.delivery.channelRate` and
//! `channelBurst`), the tiered methods workspace-wide (Tier 3 `chat.update`: ~50/min; Tier 4
//! `chat.postEphemeral`: ~100/min). The instants are Tokio's, so a paused clock drives them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reverb_config::DeliverySettings;
use tokio::sync::watch;
use tokio::time::Instant;

use super::DeliveryEngine;
use super::run::sleep;

/// The token buckets of one engine.
pub(super) struct Pacer {
    channel_rate: f64,
    channel_burst: u32,
    /// The longest block a 429 imposes (`reverb.delivery.maxRetryAfter`).
    ceiling: Duration,
    channels: Mutex<HashMap<String, TokenBucket>>,
    methods: Mutex<HashMap<&'static str, TokenBucket>>,
}

/// Workspace-wide pacing of a tiered method: (rate per second, burst).
fn method_tier(method: &str) -> (f64, u32) {
    match method {
        "chat.update" => (50.0 / 60.0, 10),
        _ => (100.0 / 60.0, 20),
    }
}

impl Pacer {
    pub(super) fn new(settings: &DeliverySettings) -> Self {
        Self {
            channel_rate: settings.channel_rate,
            channel_burst: settings.channel_burst,
            ceiling: settings.max_retry_after,
            channels: Mutex::default(),
            methods: Mutex::default(),
        }
    }

    /// Run `f` on the bucket of the channel of lane `channel_lane`.
    fn with_channel<T>(&self, channel_lane: &str, f: impl FnOnce(&mut TokenBucket) -> T) -> T {
        let mut buckets = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(channel_lane.to_string()).or_insert_with(|| {
            TokenBucket::new(self.channel_rate, self.channel_burst, Instant::now())
        });
        f(bucket)
    }

    /// How long before the next post to this channel may start.
    pub(super) fn channel_wait(&self, channel_lane: &str) -> Duration {
        self.with_channel(channel_lane, |b| b.wait_time(Instant::now()))
    }

    /// Book a post to this channel that Slack just answered: one token, or, when Slack said 429,
    /// nothing more until its `Retry-After` (never longer than `maxRetryAfter`) has passed.
    pub(super) fn book_post(&self, channel_lane: &str, rate_limited: Option<Duration>) {
        let answered = Instant::now();
        self.with_channel(channel_lane, |bucket| match rate_limited {
            Some(retry_after) => bucket.block_for(retry_after.min(self.ceiling), answered),
            None => bucket.consume(answered),
        });
    }

    /// For a workspace-paced method: zero when a call may start now (its token is taken), else
    /// how long to wait.
    pub(super) fn take_method(&self, method: &'static str) -> Duration {
        let mut buckets = self.methods.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(method).or_insert_with(|| {
            let (rate, burst) = method_tier(method);
            TokenBucket::new(rate, burst, Instant::now())
        });
        let now = Instant::now();
        let wait = bucket.wait_time(now);
        if wait.is_zero() {
            bucket.consume(now);
        }
        wait
    }
}

impl DeliveryEngine {
    /// Wait for the channel's bucket; false on shutdown.
    pub(super) async fn pace_channel(
        &self,
        channel_lane: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        loop {
            let wait = self.inner.pacer.channel_wait(channel_lane);
            if wait.is_zero() {
                return true;
            }
            if !sleep(wait, shutdown).await {
                return false;
            }
        }
    }

    /// Wait for a workspace-wide method's bucket and take a token; false on shutdown.
    pub(super) async fn pace_method(
        &self,
        method: &'static str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        loop {
            let wait = self.inner.pacer.take_method(method);
            if wait.is_zero() {
                return true;
            }
            if !sleep(wait, shutdown).await {
                return false;
            }
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` per second.
///
/// A send is booked at the moment Slack *answered*, never earlier than Slack counted it, so our
/// bucket is never fuller than Slack's and pacing at Slack's own rate causes no 429s.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Instant,
    blocked_until: Option<Instant>,
}

impl TokenBucket {
    pub fn new(rate_per_sec: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: rate_per_sec,
            burst,
            tokens: burst,
            updated: now,
            blocked_until: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if now > self.updated {
            let elapsed = now.duration_since(self.updated).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
            self.updated = now;
        }
    }

    /// How long to wait before the next send may start (zero when it may start now).
    pub fn wait_time(&mut self, now: Instant) -> Duration {
        if !self.rate.is_finite() || self.rate <= 0.0 {
            return self.blocked_wait(now);
        }
        self.refill(now);
        let token_wait = if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            // A tiny configured rate makes this enormous; never a panic, only a long wait.
            Duration::try_from_secs_f64((1.0 - self.tokens) / self.rate).unwrap_or(LONGEST_WAIT)
        };
        token_wait.max(self.blocked_wait(now))
    }

    fn blocked_wait(&self, now: Instant) -> Duration {
        self.blocked_until
            .map(|until| until.saturating_duration_since(now))
            .unwrap_or_default()
    }

    /// Book one send that Slack answered at `answered`.
    pub fn consume(&mut self, answered: Instant) {
        if !self.rate.is_finite() || self.rate <= 0.0 {
            return;
        }
        self.refill(answered);
        self.tokens -= 1.0;
    }

    /// Slack said 429: send nothing until `retry_after` has passed, then start from empty.
    ///
    /// The engine clamps `retry_after` to `reverb.delivery.maxRetryAfter` first; whatever
    /// arrives here, the arithmetic cannot overflow.
    pub fn block_for(&mut self, retry_after: Duration, now: Instant) {
        let until = later_by(now, retry_after.min(LONGEST_WAIT));
        self.blocked_until = Some(self.blocked_until.map_or(until, |u| u.max(until)));
        self.refill(now);
        self.tokens = self.tokens.min(0.0);
        // Tokens resume accruing only once the block ends.
        self.updated = until;
    }
}

/// No wait computed here is longer than this, whatever the inputs (a day: far beyond any
/// `reverb.delivery.maxRetryAfter` an operator would set, short enough to add to any `Instant`).
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// `start + by`, or the latest representable moment short of that (never a panic).
fn later_by(start: Instant, by: Duration) -> Instant {
    start
        .checked_add(by)
        .or_else(|| start.checked_add(LONGEST_WAIT))
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1.0, 3, t0);
        for _ in 0..3 {
            assert_eq!(b.wait_time(t0), Duration::ZERO);
            b.consume(t0);
        }
        let wait = b.wait_time(t0);
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        let t1 = t0 + Duration::from_millis(1500);
        assert_eq!(b.wait_time(t1), Duration::ZERO);
        b.consume(t1);
        let wait = b.wait_time(t1);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
    }

    #[test]
    fn retry_after_blocks_exactly() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1.0, 3, t0);
        b.block_for(Duration::from_secs(5), t0);
        let wait = b.wait_time(t0 + Duration::from_secs(1));
        assert!(wait >= Duration::from_secs(4), "{wait:?}");
        let after = t0 + Duration::from_secs(5);
        // Empty at the end of the block: one more second for a token.
        assert!((b.wait_time(after).as_secs_f64() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn unlimited_never_waits_unless_blocked() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(f64::INFINITY, 1, t0);
        for _ in 0..100 {
            b.consume(t0);
        }
        assert_eq!(b.wait_time(t0), Duration::ZERO);
        b.block_for(Duration::from_secs(2), t0);
        assert_eq!(b.wait_time(t0), Duration::from_secs(2));
    }

    #[test]
    fn a_hostile_retry_after_neither_panics_nor_blocks_beyond_a_day() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1.0, 3, t0);
        b.block_for(Duration::from_secs(u64::MAX), t0);
        let wait = b.wait_time(t0);
        assert!(wait > Duration::from_secs(3600), "{wait:?}");
        assert!(wait <= LONGEST_WAIT + Duration::from_secs(1), "{wait:?}");
        // Still usable once the (bounded) block is over.
        let after = t0 + LONGEST_WAIT + Duration::from_secs(2);
        assert_eq!(b.wait_time(after), Duration::ZERO);
    }

    #[test]
    fn a_vanishing_rate_waits_long_but_does_not_panic() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1e-300, 1, t0);
        b.consume(t0);
        assert_eq!(b.wait_time(t0), LONGEST_WAIT);
    }

    #[test]
    fn later_by_saturates() {
        let t0 = Instant::now();
        assert_eq!(
            later_by(t0, Duration::from_secs(5)),
            t0 + Duration::from_secs(5)
        );
        assert_eq!(later_by(t0, Duration::MAX), t0 + LONGEST_WAIT);
    }
}
