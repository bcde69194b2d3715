//! The one way the tests wait: poll with a deadline. No test sleeps to wait for something.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Poll `check` until it returns `Some`, or panic after `timeout` naming `what`.
///
/// `what` is formatted only when the wait times out, so it can carry diagnostics that are
/// gathered at that moment (the slackops harness shows what Slack received and Reverb's log).
/// A `check` that looks at something synchronous returns `std::future::ready(..)`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: impl Display, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
