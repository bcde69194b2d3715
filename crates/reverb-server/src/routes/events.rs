//! `POST /`: Orca's pipeline, stage and task events (Echo's `HistoryController`).

use actix_web::web::Payload;
use actix_web::{HttpRequest, HttpResponse, web};
use reverb_model::{Event, OrcaEventType};
use reverb_notify::{EventProbe, plan_event};

use crate::http::body::{parse_json, read_limited, require_json};
use crate::http::errors::ApiError;
use crate::http::metrics::HttpMetrics;
use crate::state::AppState;

/// Answers 200 with an empty body, as Echo does, once the resulting messages are in the outbox.
pub async fn receive_event(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
    metrics: web::Data<HttpMetrics>,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let body = read_limited(&req, payload, state.settings.server.max_request_body_bytes).await?;
    // Most events carry a large execution and no Slack notification: a cheap probe decides
    // whether the full parse and Echo's rules are needed at all.
    let probe = EventProbe::parse(&body);
    // A body the probe cannot read goes to the full parser: a precise 400, or a shape the
    // probe is too strict for.
    let needs_plan = probe
        .as_ref()
        .map_or(true, |p| state.delivery.is_some() && p.may_notify());
    let event = if needs_plan {
        Some(parse_json::<Event>(&body, "event")?)
    } else {
        None
    };
    let details_type = match (&event, &probe) {
        (Some(e), _) => e.details.kind.clone(),
        (None, Ok(p)) => p.details_type().map(str::to_string),
        (None, Err(_)) => None,
    };
    let details_type = details_type.unwrap_or_default();
    // The request span (TracingLogger) already carries route and status; the type goes in
    // the debug log, not a second span per event.
    tracing::debug!(event_type = %details_type, "event received");
    let kind = OrcaEventType::parse(&details_type)
        .map(|t| t.kind.as_str())
        .unwrap_or("other");
    metrics.events.with_label_values(&[kind]).inc();
    // Echo's other listeners (triggers, e-mail, ...) get every event, stored first like Slack.
    if let Some(echo) = &state.echo {
        echo.forward_event(&req, &body).await?;
    }
    if let Some(event) = event.filter(|_| state.delivery.is_some() && kind != "other") {
        let messages = plan_event(&event, &state.notify, &state.templates);
        if !messages.is_empty() {
            tracing::debug!(count = messages.len(), "event produces Slack messages");
        }
        state.enqueue(messages).await?;
    }
    Ok(HttpResponse::Ok().finish())
}
