//! `POST /notifications/callbacks/{source}`: Slack's interactivity requests, directly or relayed
//! by Gate. The accept step (signature, parsing, routing, durable store) is
//! `reverb_callbacks::ClickHandler::accept_callback`; this maps its outcome to the answer, given
//! at once, and runs the accepted click after it.

use actix_web::http::StatusCode;
use actix_web::web::Payload;
use actix_web::{HttpRequest, HttpResponse, web};
use reverb_callbacks::{Acceptance, SignedCallback};

use crate::http::body::{read_limited, require_form};
use crate::http::errors::ApiError;
use crate::http::metrics::HttpMetrics;
use crate::state::AppState;

/// Slack's interaction payloads are small; this bounds what an unauthenticated caller can send.
const MAX_CALLBACK_BYTES: usize = 1 << 20;

#[tracing::instrument(name = "slack_callback", skip_all, fields(source = %source))]
pub async fn slack_callback(
    req: HttpRequest,
    source: web::Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
    metrics: web::Data<HttpMetrics>,
) -> Result<HttpResponse, ApiError> {
    let outcome = |o: &str| metrics.callbacks.with_label_values(&[o]).inc();
    if !source.eq_ignore_ascii_case("slack") || state.delivery.is_none() {
        outcome("unknown_source");
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("NotificationService for {source} not registered"),
        ));
    }
    // There is a click handler exactly when a signing secret is configured.
    let Some(clicks) = state.clicks.clone() else {
        outcome("bad_signature");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Slack callbacks cannot be verified: set slack.app.signingSecret",
        ));
    };
    require_form(&req)?;
    let body = read_limited(&req, payload, MAX_CALLBACK_BYTES).await?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let acceptance = clicks
        .accept_callback(SignedCallback {
            timestamp: header("x-slack-request-timestamp"),
            signature: header("x-slack-signature"),
            body: &body,
        })
        .await;
    outcome(acceptance.label());
    match acceptance {
        Acceptance::Accepted(click) => {
            // Slack gives 3 seconds; Orca or Keel may take longer, so the answer goes first.
            state.runtime.spawn(async move {
                let result = clicks.run(*click).await;
                tracing::info!(outcome = ?result, "Slack click handled");
            });
            Ok(HttpResponse::Ok().finish())
        }
        Acceptance::Replay => Ok(HttpResponse::Ok().finish()),
        Acceptance::Unverified(e) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!("Invalid Slack request: {e}"),
        )),
        Acceptance::Malformed(e) => Err(ApiError::bad_request(e.to_string())),
        Acceptance::StoreFailed(_) => Err(ApiError::unavailable(
            "Reverb could not store the click; nothing was done, click again",
        )),
    }
}
