//! `POST /notifications`: Echo's `NotificationController#create` for Slack.

use actix_web::web::Payload;
use actix_web::{HttpRequest, HttpResponse, web};
use reverb_model::{EchoResponse, Notification};
use reverb_notify::{NotificationPlan, plan_notification};

use crate::http::body::{parse_json, read_limited, require_json};
use crate::http::errors::ApiError;
use crate::state::AppState;

/// `{"value":null}` once the messages are stored; 200 with an empty body for a type no
/// service here handles (Echo's answer when nothing takes a type); 400 for invalid input.
#[tracing::instrument(
    name = "notification",
    skip_all,
    fields(notification_type, template_group)
)]
pub async fn create_notification(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let body = read_limited(&req, payload, state.settings.server.max_request_body_bytes).await?;
    if let Some(echo) = &state.echo
        && !is_slack(&body)
    {
        // E-mail, Jira, PagerDuty...: Echo's answer is the caller's answer (Orca's Jira stage
        // reads `{"value":{"id","key","self"}}`).
        return Ok(echo.forward_notification(&req, body).await);
    }
    let notification: Notification = parse_json(&body, "notification")?;
    let span = tracing::Span::current();
    span.record(
        "notification_type",
        notification.notification_type.as_deref().unwrap_or(""),
    );
    span.record(
        "template_group",
        notification.template_group.as_deref().unwrap_or(""),
    );
    let plan = plan_notification(&notification, &state.notify, &state.templates)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    match plan {
        NotificationPlan::Slack(messages) if state.delivery.is_some() => {
            state.enqueue(messages).await?;
            Ok(HttpResponse::Ok().json(EchoResponse::default()))
        }
        // Slack disabled, or a type Reverb does not send: nothing takes it.
        _ => Ok(HttpResponse::Ok().finish()),
    }
}

/// Whether a notification is Reverb's: Slack, or unreadable / untyped (Reverb answers the 400).
fn is_slack(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).map_or(true, |v| {
        v.get("notificationType")
            .and_then(serde_json::Value::as_str)
            .is_none_or(|t| t.eq_ignore_ascii_case("slack"))
    })
}
