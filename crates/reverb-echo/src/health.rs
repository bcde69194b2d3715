//! Echo's reachability, checked in the background and cached, so that Reverb's `/health` shows
//! it without ever waiting on Echo. Reverb's own status never depends on it: Echo being down
//! delays forwarded events, it does not stop Reverb's Slack work.

use std::sync::{Arc, PoisonError, RwLock};

use serde_json::{Value, json};
use tokio::sync::watch;

use reverb_support::error_chain;

use crate::Inner;
use crate::headers::FORWARDED_HEADER;

/// What the last check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EchoStatus {
    /// Not checked yet.
    Unknown,
    Up,
    /// Echo answered, but not UP (e.g. 503 `{"status":"DOWN"}` while its caches warm up).
    Down,
    /// No HTTP answer at all.
    Unreachable,
}

impl EchoStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Up => "UP",
            Self::Down => "DOWN",
            Self::Unreachable => "UNREACHABLE",
        }
    }
}

#[derive(Debug, Clone)]
struct Check {
    status: EchoStatus,
    /// Why Echo is not UP, for the log only: public answers show the status word alone.
    reason: Option<String>,
}

pub(crate) struct HealthCache {
    last: RwLock<EchoStatus>,
}

impl HealthCache {
    pub(crate) fn new() -> Self {
        Self {
            last: RwLock::new(EchoStatus::Unknown),
        }
    }

    fn record(&self, status: EchoStatus) -> EchoStatus {
        let mut last = self.last.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *last, status)
    }

    /// `/health`'s `details.echo`: a status word and how many events wait for Echo; never
    /// where Echo is or what the connection said (docs/operations.md, "Health").
    pub(crate) fn detail(&self, forward_pending: i64) -> Value {
        json!({
            "status": self.status().as_str(),
            "forwardPending": forward_pending,
        })
    }

    pub(crate) fn status(&self) -> EchoStatus {
        *self.last.read().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    loop {
        let check = probe(&inner).await;
        let up = check.status == EchoStatus::Up;
        let before = inner.health.record(check.status);
        inner.metrics.set_up(up);
        if up && before != EchoStatus::Up {
            if before != EchoStatus::Unknown {
                tracing::info!(echo = %inner.target.shown(), "Echo answers UP again");
            }
            inner.echo_back.notify_waiters();
        } else if !up && before != check.status {
            tracing::warn!(
                echo = %inner.target.shown(),
                status = check.status.as_str(),
                reason = check.reason.as_deref().unwrap_or(""),
                "Echo is not UP; events for it wait in the store"
            );
        }
        let interval = if up {
            inner.timing.probe_interval_up
        } else {
            inner.timing.probe_interval_down
        };
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn probe(inner: &Inner) -> Check {
    let response = inner
        .http
        .get(inner.target.url("/health"))
        .header(reqwest::header::ACCEPT, "application/json")
        .header(FORWARDED_HEADER, "1")
        .timeout(inner.timing.probe_timeout)
        .send()
        .await;
    match response {
        Ok(response) => {
            let code = response.status();
            let body = response.bytes().await.unwrap_or_default();
            let status = status_from(code.is_success(), &body);
            Check {
                status,
                reason: (status != EchoStatus::Up).then(|| format!("Echo answered {code}")),
            }
        }
        Err(e) => Check {
            status: EchoStatus::Unreachable,
            reason: Some(error_chain(&e.without_url())),
        },
    }
}

/// Spring Boot's `{"status":"UP"}` when the body says; otherwise the HTTP status decides.
fn status_from(success: bool, body: &[u8]) -> EchoStatus {
    let said = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.get("status")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
    });
    match (said.as_deref(), success) {
        (Some("UP"), true) => EchoStatus::Up,
        (Some(_), _) | (None, false) => EchoStatus::Down,
        (None, true) => EchoStatus::Up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_spring_boot_health() {
        assert_eq!(status_from(true, br#"{"status":"UP"}"#), EchoStatus::Up);
        assert_eq!(
            status_from(false, br#"{"status":"DOWN"}"#),
            EchoStatus::Down
        );
        assert_eq!(
            status_from(true, br#"{"status":"OUT_OF_SERVICE"}"#),
            EchoStatus::Down
        );
        assert_eq!(status_from(true, b""), EchoStatus::Up);
        assert_eq!(status_from(false, b"<html>"), EchoStatus::Down);
    }

    #[test]
    fn detail_is_a_status_word_and_a_count() {
        let cache = HealthCache::new();
        let v = cache.detail(3);
        assert_eq!(v, json!({"status": "UNKNOWN", "forwardPending": 3}));
        cache.record(EchoStatus::Unreachable);
        assert_eq!(cache.detail(0)["status"], "UNREACHABLE");
    }
}
