//! The one backoff: exponential from `initial`, capped at `max`, spread by ±20 % jitter, and no
//! wait (ours or one a peer asked for with `Retry-After`) longer than `ceiling`.

use std::time::Duration;

/// How long to wait before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest computed wait (before jitter).
    pub max: Duration,
    /// The longest wait obeyed at all, `Retry-After` included: a hostile or mistaken peer cannot
    /// stall a queue for longer.
    pub ceiling: Duration,
}

impl Backoff {
    /// A backoff whose ceiling is its cap.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            ceiling: max,
        }
    }

    /// The wait after `failures` consecutive failures (1 for the first), jittered.
    pub fn delay(&self, failures: u32) -> Duration {
        self.delay_with(failures, unit_random())
    }

    /// [`Backoff::delay`] with the jitter drawn by the caller (`unit` in [0, 1]).
    pub fn delay_with(&self, failures: u32, unit: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let exp = self
            .initial
            .saturating_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX));
        let capped = exp.min(self.max);
        let factor = 0.8 + 0.4 * unit.clamp(0.0, 1.0);
        Duration::try_from_secs_f64(capped.as_secs_f64() * factor)
            .unwrap_or(capped)
            .min(self.ceiling)
    }

    /// The wait before retrying: what the peer asked for (`Retry-After`) when it asked, clamped to
    /// the ceiling; the backoff otherwise.
    pub fn wait(&self, failures: u32, asked: Option<Duration>) -> Duration {
        match asked {
            Some(asked) => self.clamp(asked),
            None => self.delay(failures),
        }
    }

    /// A wait a peer asked for, never longer than the ceiling.
    pub fn clamp(&self, asked: Duration) -> Duration {
        asked.min(self.ceiling)
    }
}

/// A number in [0, 1) for jitter; quality does not matter, only spread.
pub fn unit_random() -> f64 {
    let mut bytes = [0u8; 8];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        return 0.5;
    }
    // 53 random bits make an exactly representable fraction.
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(300),
        ceiling: Duration::from_secs(900),
    };

    #[test]
    fn doubles_then_caps_with_twenty_percent_jitter() {
        assert_eq!(B.delay_with(1, 0.5), Duration::from_secs(1));
        assert_eq!(B.delay_with(2, 0.5), Duration::from_secs(2));
        assert_eq!(B.delay_with(4, 0.5), Duration::from_secs(8));
        assert_eq!(B.delay_with(1, 0.0), Duration::from_millis(800));
        assert_eq!(B.delay_with(1, 1.0), Duration::from_millis(1200));
        assert_eq!(B.delay_with(20, 0.5), Duration::from_secs(300));
        assert_eq!(B.delay_with(u32::MAX, 1.0), Duration::from_secs(360));
        assert_eq!(B.delay_with(0, 0.5), Duration::from_secs(1));
    }

    #[test]
    fn the_ceiling_bounds_every_wait() {
        let low = Backoff {
            ceiling: Duration::from_secs(5),
            ..B
        };
        assert_eq!(low.delay_with(30, 1.0), Duration::from_secs(5));
        assert_eq!(low.wait(1, Some(Duration::MAX)), Duration::from_secs(5));
        assert_eq!(
            low.wait(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        let jittered = low.wait(1, None);
        assert!(jittered >= Duration::from_millis(800) && jittered <= Duration::from_millis(1200));
    }

    #[test]
    fn random_units_stay_in_range() {
        for _ in 0..1000 {
            let u = unit_random();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }
}
