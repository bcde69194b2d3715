//! What an attempt's outcome makes of the message: delivered (and its reference recorded),
//! retried after Slack's `Retry-After` or the backoff, or dead-lettered (a permanent error, or
//! still failing after `reverb.delivery.maxAge`). A `response_url` reply Slack no longer takes
//! is dropped.

use std::time::Duration;

use reverb_model::OutboundMessage;
use reverb_store::{MessageRef, StoredMessage};
use reverb_support::{Backoff, clock, now_ms};
use tokio::sync::watch;

use super::DeliveryEngine;
use super::attempt::Attempt;
use super::run::sleep;
use crate::error::SlackError;
use crate::response_url;

/// How long Slack accepts a `response_url` after the click (docs/architecture.md, "Concurrency").
const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// What to do with the head of a lane after an attempt.
pub(super) enum Settled {
    /// Gone from the store (confirmed, dead-lettered, dropped): next message.
    Done,
    /// Try again at this time (epoch ms).
    Retry(i64),
    /// Shutdown came first; the message stays in the store.
    Interrupted,
}

/// The wait before attempt `attempts + 1` after `err`: Slack's `Retry-After` when it gave one,
/// the backoff otherwise; never longer than `maxRetryAfter`.
pub(super) fn retry_delay(backoff: &Backoff, err: &SlackError, attempts: u32) -> Duration {
    backoff.wait(attempts, err.retry_after())
}

/// Where a message goes, for logs: a `response_url` is a credential (and untrusted text), so
/// only its lane's digest is shown.
fn log_address(message: &OutboundMessage) -> String {
    match message {
        OutboundMessage::ResponseUrl(reply) => response_url::lane(&reply.url),
        other => other.destination().to_string(),
    }
}

impl DeliveryEngine {
    /// Record the outcome.
    pub(super) async fn settle(
        &self,
        head: &StoredMessage,
        attempt: Attempt,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Settled {
        let attempts = head.attempts.saturating_add(1);
        match attempt {
            Attempt::Delivered(reference) => {
                self.inner
                    .metrics
                    .delivered
                    .with_label_values(&[head.message.kind().as_str()])
                    .inc();
                self.record_completion(head.id, reference, shutdown).await
            }
            Attempt::Skipped(why) => {
                tracing::debug!(why, "nothing to deliver");
                self.record_completion(head.id, None, shutdown).await
            }
            Attempt::Failed(err) => {
                let delay = retry_delay(&self.inner.backoff, &err, attempts);
                self.failed(head, err.to_string(), err.is_permanent(), delay)
                    .await
            }
            Attempt::StoreFailed(why) => {
                let delay = self.inner.backoff.delay(attempts);
                self.failed(head, why, false, delay).await
            }
        }
    }

    /// Slack has the message: remove it from the outbox (and record where it landed). A store
    /// that fails here is retried with backoff for as long as the process runs, and the message
    /// is never sent again meanwhile: it stays at the head of its lane, unsent.
    pub(super) async fn record_completion(
        &self,
        id: i64,
        reference: Option<(String, MessageRef)>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Settled {
        let mut failures = 0u32;
        loop {
            let reference = reference.clone();
            let result = self
                .store_call("complete", move |s| {
                    s.complete(
                        id,
                        reference.as_ref().map(|(k, r)| (k.as_str(), r)),
                        now_ms(),
                    )
                })
                .await;
            let error = match result {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(failures, "the store recorded the delivered message");
                    }
                    return Settled::Done;
                }
                Err(e) => e,
            };
            failures = failures.saturating_add(1);
            let delay = self.inner.backoff.delay(failures);
            if failures == 1 {
                tracing::error!(error = %error, "Slack has the message but the store could not record it; retrying the store, not Slack");
            } else {
                tracing::debug!(error = %error, failures, "store still failing");
            }
            if !sleep(delay, shutdown).await {
                tracing::warn!(
                    "stopping before the store recorded a delivered message; it is sent again at the next start"
                );
                return Settled::Interrupted;
            }
        }
    }

    /// A failed attempt: dead-letter it (permanent, or too old), or retry after `delay`.
    async fn failed(
        &self,
        head: &StoredMessage,
        reason: String,
        permanent: bool,
        delay: Duration,
    ) -> Settled {
        let m = &self.inner.metrics;
        let kind = head.message.kind().as_str();
        let id = head.id;
        let now = now_ms();
        let age = clock::until(head.created_ms, now);
        let give_up_reason = if permanent {
            Some(reason.clone())
        } else if age >= self.inner.settings.max_age {
            Some(format!("{reason}; still failing after {}s", age.as_secs()))
        } else {
            None
        };
        if let Some(reason) = give_up_reason {
            // Logged once, here, with the destination and Slack's own words.
            tracing::warn!(
                channel = %log_address(&head.message),
                error = %reason,
                "Slack message dead-lettered; list with `reverb outbox list`"
            );
            m.dead_lettered.with_label_values(&[kind]).inc();
            if let Err(e) = self
                .store_call("dead_letter", move |s| s.dead_letter(id, &reason, now))
                .await
            {
                // Left pending in the store: it is tried again at the next start, never here.
                tracing::error!(error = %e, op = "dead_letter", "store update failed");
            }
            return Settled::Done;
        }
        let attempts = head.attempts.saturating_add(1);
        let next = clock::after(now, delay);
        tracing::info!(error = %reason, retry_in_ms = clock::duration_ms(delay), "Slack delivery will be retried");
        m.retried.with_label_values(&[kind]).inc();
        if let Err(e) = self
            .store_call("schedule_retry", move |s| {
                s.schedule_retry(id, attempts, next, &reason)
            })
            .await
        {
            // The retry happens anyway (it is kept in memory); only the count is not stored.
            tracing::error!(error = %e, op = "schedule_retry", "store update failed");
        }
        Settled::Retry(next)
    }

    /// Whether Slack no longer takes this `response_url` reply.
    pub(super) fn expired(&self, head: &StoredMessage) -> bool {
        matches!(head.message, OutboundMessage::ResponseUrl(_))
            && clock::until(head.created_ms, now_ms()) > RESPONSE_URL_LIFETIME
    }

    /// Slack no longer takes this `response_url`: drop the reply, count it and say so once.
    pub(super) async fn drop_expired_reply(&self, head: &StoredMessage) {
        self.inner.metrics.response_url_expired.inc();
        tracing::warn!(
            age_s = now_ms().saturating_sub(head.created_ms) / 1000,
            "response_url reply dropped: Slack accepts a response_url for 30 minutes only"
        );
        let id = head.id;
        if let Err(e) = self
            .store_call("complete", move |s| s.complete(id, None, now_ms()))
            .await
        {
            // Still pending in the store: the next start finds it expired and drops it then.
            tracing::error!(error = %e, "could not remove the expired reply from the store");
        }
    }
}
