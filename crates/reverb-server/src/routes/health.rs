//! `GET|HEAD /health`: Spring Boot's shape, `{"status":"UP"}`. Halyard's probe is
//! `wget --spider`, a HEAD, so HEAD is routed explicitly (docs/operations.md, "Health").
//!
//! The status tells the truth about the one thing Reverb cannot work without: a store that
//! takes writes. A background probe writes a heartbeat row every [`PROBE_INTERVAL`] and the
//! answer reads the cached outcome, so `/health` never waits on a stuck store; a store that
//! cannot be written turns the answer into 503 `DOWN` with the reason, and the next good
//! heartbeat turns it back.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use reverb_callbacks::SlackAppCheck;
use reverb_store::Store;
use reverb_support::{now_ms, off_thread};
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::state::AppState;

/// How often the store is probed with a heartbeat write.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// A heartbeat that has not finished by then counts as failed (it waits for a busy database
/// for one second at most; this also covers a stuck disk).
const PROBE_DEADLINE: Duration = Duration::from_secs(3);
/// `/health` shows the outbox counts when the store answers this fast, and skips them otherwise.
const STATS_DEADLINE: Duration = Duration::from_millis(500);

/// The last heartbeat's outcome: `None` while the store takes writes, else why it does not.
pub struct StoreHealth {
    failure: RwLock<Option<String>>,
}

impl StoreHealth {
    /// Probe once now (so the first `/health` is already truthful), then keep probing on the
    /// current runtime until the returned task is aborted.
    pub async fn start(store: Arc<dyn Store>) -> (Arc<Self>, JoinHandle<()>) {
        let health = Arc::new(Self {
            failure: RwLock::new(None),
        });
        health.probe(&store).await;
        let task = tokio::spawn({
            let health = health.clone();
            async move {
                loop {
                    tokio::time::sleep(PROBE_INTERVAL).await;
                    health.probe(&store).await;
                }
            }
        });
        (health, task)
    }

    /// Why the store cannot be written, when it cannot.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn probe(&self, store: &Arc<dyn Store>) {
        let mut beat = std::pin::pin!(off_thread(store.clone(), |s| s.heartbeat(now_ms())));
        let outcome = match tokio::time::timeout(PROBE_DEADLINE, beat.as_mut()).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(format!("the store cannot be written: {e}")),
            Ok(Err(e)) => Some(format!("the store probe failed: {e}")),
            Err(_) => {
                self.record(Some(format!(
                    "the store did not complete a write within {} s",
                    PROBE_DEADLINE.as_secs()
                )));
                // One probe at a time: wait for the stuck one before trying again.
                match beat.await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(format!("the store cannot be written: {e}")),
                    Err(e) => Some(format!("the store probe failed: {e}")),
                }
            }
        };
        self.record(outcome);
    }

    fn record(&self, outcome: Option<String>) {
        let mut failure = self.failure.write().unwrap_or_else(PoisonError::into_inner);
        match (&*failure, &outcome) {
            (None, Some(reason)) => tracing::error!(%reason, "/health is DOWN"),
            (Some(_), None) => tracing::info!("the store takes writes again; /health is UP"),
            _ => {}
        }
        *failure = outcome;
    }
}

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let failure = state.store_health.failure();
    let mut body = match &failure {
        None => json!({ "status": "UP", "details": { "store": { "status": "UP" } } }),
        Some(reason) => json!({
            "status": "DOWN",
            "details": { "store": { "status": "DOWN", "reason": reason } },
        }),
    };
    if let (Some(engine), None) = (&state.delivery, &failure) {
        let stats = off_thread(engine.store(), |s| s.stats(now_ms()));
        let stats = tokio::time::timeout(STATS_DEADLINE, stats)
            .instrument(tracing::debug_span!("outbox_stats"))
            .await;
        if let Ok(Ok(Ok(stats))) = stats {
            body["details"]["outbox"] = json!({
                "pending": stats.pending,
                "deadLetters": stats.dead,
                "oldestPendingAgeSeconds": stats.oldest_pending_age_ms.map(|ms| ms / 1000),
            });
        }
    }
    let slack_app = state
        .slack_app
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(check) = slack_app {
        // Reported, never required: a missing scope disables features, not the service.
        body["details"]["slackApp"] = slack_app_detail(&check);
    }
    if let Some(echo) = &state.echo {
        // Reported, never required: Reverb's health does not depend on Echo's.
        body["details"]["echo"] = echo.health_detail();
    }
    HttpResponse::build(status_of(&failure)).json(body)
}

fn status_of(failure: &Option<String>) -> StatusCode {
    match failure {
        None => StatusCode::OK,
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The Slack app token's scopes and what the missing ones disable.
pub(crate) fn slack_app_detail(check: &SlackAppCheck) -> serde_json::Value {
    match check {
        SlackAppCheck::Complete { .. } => json!({"scopes": "complete"}),
        SlackAppCheck::MissingScopes { missing, .. } => json!({
            "scopes": "incomplete",
            "missingScopes": missing.iter().map(|(scope, _)| *scope).collect::<Vec<_>>(),
            "disabled": missing.iter().map(|(_, what)| *what).collect::<Vec<_>>(),
        }),
        SlackAppCheck::Unknown(_) => json!({"scopes": "unknown"}),
    }
}

/// The same status as `GET`, without a body.
pub async fn health_head(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::build(status_of(&state.store_health.failure()))
        .content_type("application/json")
        .finish()
}

#[cfg(test)]
mod tests {
    use reverb_store::SqliteStore;

    use super::*;

    #[tokio::test]
    async fn a_store_that_cannot_be_written_is_reported_until_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reverb.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let (health, task) = StoreHealth::start(store.clone()).await;
        task.abort();
        assert_eq!(health.failure(), None);
        assert_eq!(status_of(&health.failure()), StatusCode::OK);

        // Another connection holding SQLite's write lock: the store takes no writes.
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        health.probe(&store).await;
        let reason = health.failure().expect("reported");
        assert!(reason.contains("cannot be written"), "{reason}");
        assert!(reason.contains("locked"), "{reason}");
        assert_eq!(
            status_of(&health.failure()),
            StatusCode::SERVICE_UNAVAILABLE
        );

        other.execute_batch("ROLLBACK").unwrap();
        health.probe(&store).await;
        assert_eq!(health.failure(), None, "recovers on its own");
    }
}
