//! The durable event forwarder: events for Echo are stored first, then sent one at a time in
//! store order, retried with backoff while Echo is unreachable or failing, and removed only once
//! Echo answered 2xx. What is worth another try is the one HTTP classification
//! (`reverb_support::http`): no answer, 408, 429 and 5xx other than 501. Any other answer means
//! Echo will never take the event: it is counted as `rejected`, logged and dropped.
//!
//! The retry loop is written out here rather than run by `reverb_support::run_with_retries`,
//! because its waits do two things that driver's cannot: they end early when Echo answers UP
//! again (`echo_back`), and only they give way to a stop, so a forward already in flight gets
//! the shutdown grace to finish instead of being dropped half-sent (Echo would see it twice).
//! The failure count also carries over from a store error to the next event's waits.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::web::Bytes;
use reverb_store::{ForwardedRequest, StoreError};
use reverb_support::http::{TransportFailure, status_is_retryable};
use reverb_support::{error_chain, now_ms, off_thread};
use tokio::sync::watch;
use tracing::Instrument;

use crate::{ForwardError, Inner, headers, is_forwarded};

/// Events read from the store per round; each is still sent alone and in order.
const BATCH: usize = 64;

pub(crate) async fn enqueue(
    inner: &Arc<Inner>,
    req: &HttpRequest,
    body: &Bytes,
) -> Result<(), ForwardError> {
    if is_forwarded(req) {
        tracing::warn!(
            path = req.path(),
            "an event already forwarded by a Reverb came back: handled here, not forwarded again \
             (does reverb.echo.baseUrl point at a Reverb?)"
        );
        return Ok(());
    }
    let request = ForwardedRequest {
        method: req.method().as_str().to_owned(),
        path: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: headers::for_stored_event(req.headers()),
        body: body.to_vec(),
    };
    let id = off_thread(inner.clone(), move |shared| {
        let _counting = shared
            .counting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let id = shared.store.enqueue_forward(&request, now_ms())?;
        shared.metrics.pending_added();
        Ok::<_, StoreError>(id)
    })
    .await??;
    tracing::debug!(id, "event stored for Echo");
    inner.new_work.notify_one();
    Ok(())
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Echo refused it for good (or it cannot be sent at all).
    Rejected(String),
    Retry(String),
}

pub(crate) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let batch = match load(&inner).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the Echo forward queue");
                failures = failures.saturating_add(1);
                if !pause(&inner, &mut stop, backoff(&inner, failures)).await {
                    return;
                }
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = inner.new_work.notified() => {}
                () = tokio::time::sleep(inner.timing.idle_poll) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        for (id, request) in batch {
            let body = Bytes::from(request.body);
            loop {
                let span = tracing::info_span!("echo_forward", id, method = %request.method, path = %request.path);
                let attempt = send(
                    &inner,
                    &request.method,
                    &request.path,
                    &request.headers,
                    body.clone(),
                )
                .instrument(span)
                .await;
                match attempt {
                    Attempt::Delivered => {
                        inner.metrics.forwarded();
                        failures = 0;
                        break;
                    }
                    Attempt::Rejected(reason) => {
                        tracing::warn!(id, path = %request.path, %reason, "Echo refused a forwarded event; dropped, retrying cannot help");
                        inner.metrics.rejected();
                        failures = 0;
                        break;
                    }
                    Attempt::Retry(reason) => {
                        inner.metrics.retried();
                        failures = failures.saturating_add(1);
                        let delay = backoff(&inner, failures);
                        tracing::warn!(id, attempt = failures, retry_in_ms = delay.as_millis() as u64, %reason, "Echo did not take a forwarded event; will retry");
                        if !pause(&inner, &mut stop, delay).await {
                            return;
                        }
                    }
                }
            }
            // Done with this event either way; should the removal fail, it is sent again later
            // (at least once), and nothing after it goes first.
            if let Err(e) = complete(&inner, id).await {
                tracing::error!(id, error = %e, "cannot remove a forwarded event from the store");
                failures = failures.saturating_add(1);
                if !pause(&inner, &mut stop, backoff(&inner, failures)).await {
                    return;
                }
                break;
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

async fn send(
    inner: &Inner,
    method: &str,
    path: &str,
    stored_headers: &[(String, String)],
    body: Bytes,
) -> Attempt {
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return Attempt::Rejected(format!("stored method {method:?} is not an HTTP method"));
    };
    let response = inner
        .relay
        .request(method, inner.target.url(path))
        .headers(headers::from_stored(stored_headers))
        .timeout(inner.timing.forward_timeout)
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status();
            // Read the answer so the connection can be reused.
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                tracing::debug!(status = status.as_u16(), "event forwarded to Echo");
                Attempt::Delivered
            } else if status_is_retryable(status.as_u16()) {
                Attempt::Retry(format!("Echo answered {status}"))
            } else {
                Attempt::Rejected(format!("Echo answered {status}: {}", snippet(&text)))
            }
        }
        Err(e) => {
            let failure = TransportFailure::of(&e);
            let reason = error_chain(&e.without_url());
            if failure.is_retryable() {
                Attempt::Retry(reason)
            } else {
                Attempt::Rejected(reason)
            }
        }
    }
}

/// Wait `delay`, cut short when Echo comes back; false when Reverb is stopping.
async fn pause(inner: &Inner, stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = inner.echo_back.notified() => true,
        _ = stop.changed() => false,
    }
}

/// The next wait after `failures` consecutive failures.
fn backoff(inner: &Inner, failures: u32) -> Duration {
    inner.timing.backoff.delay(failures)
}

async fn load(inner: &Arc<Inner>) -> Result<Vec<(i64, ForwardedRequest)>, String> {
    let result = off_thread(inner.clone(), |shared| {
        // Counted and set under the lock that enqueuing holds, so no increment is lost.
        let _counting = shared
            .counting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shared.metrics.set_pending(shared.store.forward_backlog()?);
        shared.store.pending_forwards(BATCH)
    })
    .await;
    match result {
        Ok(Ok(batch)) => Ok(batch),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

async fn complete(inner: &Arc<Inner>, id: i64) -> Result<(), String> {
    match off_thread(inner.store.clone(), move |store| store.complete_forward(id)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn snippet(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_200_ms_with_twenty_percent_jitter_up_to_30_s() {
        let backoff = crate::Timing::default().backoff;
        assert_eq!(backoff.delay_with(1, 0.0), Duration::from_millis(160));
        assert_eq!(backoff.delay_with(1, 0.5), Duration::from_millis(200));
        assert_eq!(backoff.delay_with(1, 1.0), Duration::from_millis(240));
        assert_eq!(backoff.delay_with(3, 1.0), Duration::from_millis(960));
        // The cap, jittered down but never up: 30 s is also the ceiling.
        assert_eq!(backoff.delay_with(30, 0.0), Duration::from_secs(24));
        assert_eq!(backoff.delay_with(30, 1.0), Duration::from_secs(30));
        assert_eq!(backoff.delay_with(u32::MAX, 0.5), Duration::from_secs(30));
    }

    #[test]
    fn snippets_are_cut_on_character_boundaries() {
        assert_eq!(snippet("short"), "short");
        let long = "é".repeat(400);
        assert_eq!(snippet(&long).chars().count(), 301);
    }
}
