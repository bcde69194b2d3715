//! Slack's per-channel posting limit: a token bucket (`burst` tokens, refilled at `per_sec`).
//!
//! Kept as a "theoretical arrival time" per channel (GCRA), which is the same bucket expressed in
//! `Instant`s, so there is no float drift: a client that paces itself with an identical bucket
//! never sees a 429. A small allowance absorbs loopback jitter between the client's clock and
//! ours (a request that left on time but arrived a few ms "early" relative to its predecessor).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// At most this much jitter is forgiven, and never more than a quarter of one token's interval.
const MAX_JITTER_ALLOWANCE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Decision {
    Allowed,
    /// Rejected; wait this many whole seconds (at least 1), as in Slack's `Retry-After`.
    Limited {
        retry_after_secs: u64,
    },
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// `None` = unlimited.
    interval: Option<Duration>,
    burst: u32,
    next_free: HashMap<String, Instant>,
}

impl RateLimiter {
    pub(crate) fn new(per_sec: f64, burst: u32) -> Self {
        let mut limiter = Self {
            interval: None,
            burst: 1,
            next_free: HashMap::new(),
        };
        limiter.configure(per_sec, burst);
        limiter
    }

    /// `per_sec` of 0, negative, NaN or infinite means unlimited. Existing buckets restart full.
    pub(crate) fn configure(&mut self, per_sec: f64, burst: u32) {
        self.interval = if per_sec.is_finite() && per_sec > 0.0 {
            Some(Duration::from_secs_f64(1.0 / per_sec))
        } else {
            None
        };
        self.burst = burst.max(1);
        self.next_free.clear();
    }

    pub(crate) fn check(&mut self, key: &str, now: Instant) -> Decision {
        let Some(interval) = self.interval else {
            return Decision::Allowed;
        };
        let tolerance = interval.saturating_mul(self.burst - 1);
        let allowance = (interval / 4).min(MAX_JITTER_ALLOWANCE);
        let theoretical = self.next_free.get(key).copied().unwrap_or(now).max(now);
        let ahead = theoretical.saturating_duration_since(now);
        if ahead > tolerance + allowance {
            let wait = ahead - tolerance;
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Decision::Limited {
                retry_after_secs: secs.max(1),
            };
        }
        self.next_free
            .insert(key.to_owned(), theoretical + interval);
        Decision::Allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval() {
        let mut limiter = RateLimiter::new(1.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("C1", start), Decision::Allowed);
        }
        assert_eq!(
            limiter.check("C1", start),
            Decision::Limited {
                retry_after_secs: 1
            }
        );
        // Another channel has its own bucket.
        assert_eq!(limiter.check("C2", start), Decision::Allowed);
        // Exactly one interval later one token is back, and only one.
        let later = start + Duration::from_secs(1);
        assert_eq!(limiter.check("C1", later), Decision::Allowed);
        assert!(matches!(
            limiter.check("C1", later),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn a_client_pacing_with_the_same_bucket_is_never_limited() {
        let mut limiter = RateLimiter::new(3.0, 2);
        let start = Instant::now();
        let interval = Duration::from_secs(1) / 3;
        // Client: two at once, then one per interval, for a long while (float drift would show).
        for k in 0..2 {
            assert_eq!(limiter.check("C1", start), Decision::Allowed, "burst {k}");
        }
        for k in 1..=3000u32 {
            assert_eq!(
                limiter.check("C1", start + interval * k),
                Decision::Allowed,
                "paced request {k}"
            );
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let mut limiter = RateLimiter::new(0.25, 1);
        let start = Instant::now();
        assert_eq!(limiter.check("C1", start), Decision::Allowed);
        assert_eq!(
            limiter.check("C1", start),
            Decision::Limited {
                retry_after_secs: 4
            }
        );
        let almost = start + Duration::from_millis(3500);
        assert_eq!(
            limiter.check("C1", almost),
            Decision::Limited {
                retry_after_secs: 1
            }
        );
    }

    #[test]
    fn zero_or_infinite_rate_is_unlimited() {
        for rate in [0.0, f64::INFINITY] {
            let mut limiter = RateLimiter::new(rate, 1);
            let now = Instant::now();
            assert!((0..100).all(|_| limiter.check("C1", now) == Decision::Allowed));
        }
    }
}
