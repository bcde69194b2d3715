//! The one retry driver: call, classify the failure, wait as [`Backoff`] says (or as the peer
//! asked), until the call succeeds, the failure is final, or the budget is spent.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::Backoff;

/// What to do about one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again, after the peer's own delay when it gave one.
    Retry { asked: Option<Duration> },
    /// Trying again cannot help.
    GiveUp,
}

/// How long the driver keeps trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// No retry would start after this much time since the first attempt.
    Time(Duration),
    /// Until it succeeds or fails for good; the caller cancels by dropping the future.
    Forever,
}

/// Run `call` until it succeeds or `classify` says its failure is final; retries wait
/// `backoff`'s delay. The last failure is returned once the budget is spent. `what` names the
/// call in the log line of each retry.
pub async fn run_with_retries<T, E, F, Fut, C>(
    what: &str,
    backoff: &Backoff,
    budget: Budget,
    mut call: F,
    classify: C,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Fn(&E) -> RetryDecision,
    E: Display,
{
    let deadline = match budget {
        Budget::Time(limit) => Some(Instant::now() + limit),
        Budget::Forever => None,
    };
    let mut failures: u32 = 0;
    loop {
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let RetryDecision::Retry { asked } = classify(&error) else {
            return Err(error);
        };
        failures = failures.saturating_add(1);
        let delay = backoff.wait(failures, asked);
        if deadline.is_some_and(|deadline| Instant::now() + delay > deadline) {
            return Err(error);
        }
        tracing::info!(
            call = what,
            reason = %error,
            failures,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "call failed; retrying"
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(8),
        ceiling: Duration::from_secs(10),
    };

    fn classify(e: &&str) -> RetryDecision {
        match *e {
            "busy" => RetryDecision::Retry { asked: None },
            "later" => RetryDecision::Retry {
                asked: Some(Duration::from_secs(3600)),
            },
            _ => RetryDecision::GiveUp,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_a_final_failure_with_growing_waits() {
        let start = Instant::now();
        let mut calls = 0;
        let result: Result<(), &str> = run_with_retries(
            "test",
            &B,
            Budget::Forever,
            || {
                calls += 1;
                let answer = if calls < 4 {
                    Err("busy")
                } else {
                    Err("refused")
                };
                async move { answer }
            },
            classify,
        )
        .await;
        assert_eq!(result, Err("refused"));
        assert_eq!(calls, 4);
        // 1 + 2 + 4 seconds, each within ±20 %.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(5600) && waited <= Duration::from_millis(8400),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_asked_delay_is_clamped_and_the_budget_stops_retries() {
        let start = Instant::now();
        let mut calls = 0;
        let result: Result<(), &str> = run_with_retries(
            "test",
            &B,
            Budget::Time(Duration::from_secs(25)),
            || {
                calls += 1;
                async { Err("later") }
            },
            classify,
        )
        .await;
        assert_eq!(result, Err("later"));
        // Waits of 10 s (an hour clamped to the ceiling): attempts at 0, 10, 20; a fourth at 30
        // would pass the budget.
        assert_eq!(calls, 3);
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn success_ends_at_once() {
        let result: Result<u8, &str> =
            run_with_retries("test", &B, Budget::Forever, || async { Ok(7) }, classify).await;
        assert_eq!(result, Ok(7));
    }
}
