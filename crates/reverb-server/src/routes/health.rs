//! `GET|HEAD /health`: Spring Boot's shape, `{"status":"UP"}`. Halyard's probe is
//! `wget --spider`, a HEAD, so HEAD is routed explicitly.

use actix_web::{HttpResponse, web};
use reverb_callbacks::SlackAppCheck;
use serde_json::json;

use crate::state::AppState;

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let mut body = json!({ "status": "UP" });
    if let Some(engine) = &state.delivery {
        let store = engine.store();
        let stats = web::block(move || store.stats(now_ms())).await;
        if let Ok(Ok(stats)) = stats {
            body["details"] = json!({
                "outbox": {
                    "pending": stats.pending,
                    "deadLetters": stats.dead,
                    "oldestPendingAgeSeconds": stats.oldest_pending_age_ms.map(|ms| ms / 1000),
                }
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
    HttpResponse::Ok().json(body)
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

pub async fn health_head() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").finish()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
