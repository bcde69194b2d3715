//! `POST /`: Orca's pipeline, stage and task events (Echo's `HistoryController`).

use actix_web::web::Payload;
use actix_web::{HttpRequest, HttpResponse, web};
use reverb_model::{Event, OrcaEventType};
use reverb_notify::plan_event;

use crate::http::body::{parse_json, read_limited, require_json};
use crate::http::errors::ApiError;
use crate::http::metrics::HttpMetrics;
use crate::state::AppState;

/// Answers 200 with an empty body, as Echo does, once the resulting messages are in the outbox.
#[tracing::instrument(name = "event", skip_all, fields(event_type))]
pub async fn receive_event(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
    metrics: web::Data<HttpMetrics>,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let body = read_limited(&req, payload, state.settings.server.max_request_body_bytes).await?;
    let event: Event = parse_json(&body, "event")?;
    // Echo's other listeners (triggers, e-mail, ...) get every event, stored first like Slack.
    if let Some(echo) = &state.echo {
        echo.forward_event(&req, &body).await?;
    }
    let details_type = event.details.kind.as_deref().unwrap_or("");
    tracing::Span::current().record("event_type", details_type);
    let kind = OrcaEventType::parse(details_type)
        .map(|t| t.kind.as_str())
        .unwrap_or("other");
    metrics.events.with_label_values(&[kind]).inc();
    if state.delivery.is_some() && kind != "other" {
        let messages = plan_event(&event, &state.notify, &state.templates);
        if !messages.is_empty() {
            tracing::debug!(count = messages.len(), "event produces Slack messages");
        }
        state.enqueue(messages).await?;
    }
    Ok(HttpResponse::Ok().finish())
}
