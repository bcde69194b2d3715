//! The durable event forwarder: events for Echo are stored first, then sent one at a time in
//! store order, retried with backoff while Echo is unreachable or failing, and removed only once
//! Echo answered 2xx. A 4xx other than 408/429 means Echo will never take the event: it is
//! counted as `rejected`, logged and dropped.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;
use actix_web::web::Bytes;
use reverb_store::{ForwardedRequest, StoreError};
use tokio::sync::watch;
use tracing::Instrument;

use super::{ForwardError, Inner, error_chain, headers, is_forwarded};

/// Events read from the store per round; each is still sent alone and in order.
const BATCH: usize = 64;

pub(super) async fn enqueue(
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
    let shared = inner.clone();
    let id = tokio::task::spawn_blocking(move || {
        let _counting = shared
            .counting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let id = shared.store.enqueue_forward(&request, now_ms())?;
        shared.metrics.pending_added();
        Ok::<_, StoreError>(id)
    })
    .await
    .map_err(|e| ForwardError::Task(e.to_string()))??;
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

pub(super) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
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
            } else if status.is_server_error()
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            {
                Attempt::Retry(format!("Echo answered {status}"))
            } else {
                Attempt::Rejected(format!("Echo answered {status}: {}", snippet(&text)))
            }
        }
        Err(e) => Attempt::Retry(error_chain(&e.without_url())),
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

/// Exponential from `initial_backoff`, capped at `max_backoff`, with "equal jitter" (a random
/// point in the upper half) so that restarted instances do not retry in lockstep.
fn backoff(inner: &Inner, failures: u32) -> Duration {
    backoff_delay(&inner.timing, failures, random_unit())
}

fn backoff_delay(timing: &super::Timing, failures: u32, unit: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let full = timing
        .initial_backoff
        .saturating_mul(1u32 << exponent)
        .min(timing.max_backoff);
    let half = full / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// A random number in [0, 1) without a random-number crate: std's per-process random hash keys.
fn random_unit() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

async fn load(inner: &Arc<Inner>) -> Result<Vec<(i64, ForwardedRequest)>, String> {
    let shared = inner.clone();
    let result = tokio::task::spawn_blocking(move || {
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
    let store = inner.store.clone();
    match tokio::task::spawn_blocking(move || store.complete_forward(id)).await {
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_unit_stays_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let timing = crate::echo::Timing {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            ..Default::default()
        };
        assert_eq!(backoff_delay(&timing, 1, 0.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(&timing, 1, 1.0), Duration::from_millis(200));
        assert_eq!(backoff_delay(&timing, 3, 1.0), Duration::from_millis(800));
        assert_eq!(backoff_delay(&timing, 30, 1.0), Duration::from_secs(30));
        assert_eq!(
            backoff_delay(&timing, u32::MAX, 0.0),
            Duration::from_secs(15)
        );
    }

    #[test]
    fn snippets_are_cut_on_character_boundaries() {
        assert_eq!(snippet("short"), "short");
        let long = "é".repeat(400);
        assert_eq!(snippet(&long).chars().count(), 301);
    }
}
