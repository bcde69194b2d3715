//! `POST /notifications/callbacks/{source}`: Slack's interactivity requests, directly or relayed
//! by Gate. Verified, parsed, acknowledged at once; the slow work runs after the answer.

use actix_web::http::StatusCode;
use actix_web::web::Payload;
use actix_web::{HttpRequest, HttpResponse, web};
use reverb_callbacks::{
    CallbackError, DEFAULT_TOLERANCE_SECS, SignatureError, callback_service_id, parse_interaction,
    verify_signature,
};

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
    let Some(clicks) = state.clicks.clone() else {
        outcome("bad_signature");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Slack callbacks cannot be verified: set slack.app.signingSecret",
        ));
    };
    let Some(secret) = state.settings.slack.signing_secret.as_ref() else {
        outcome("bad_signature");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no signing secret configured",
        ));
    };
    require_form(&req)?;
    let body = read_limited(&req, payload, MAX_CALLBACK_BYTES).await?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if let Err(e) = verify_signature(
        secret.expose().as_bytes(),
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
        DEFAULT_TOLERANCE_SECS,
    ) {
        outcome(match e {
            SignatureError::Stale { .. } => "stale_timestamp",
            _ => "bad_signature",
        });
        tracing::warn!(error = %e, "rejected a Slack callback");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!("Invalid Slack request: {e}"),
        ));
    }
    let interaction = parse_interaction(&body).map_err(|e| {
        outcome("malformed");
        ApiError::bad_request(e.to_string())
    })?;
    if let Some(service) = callback_service_id(&interaction)
        && state.settings.service_base_url(&service).is_none()
    {
        outcome("malformed");
        return Err(ApiError::bad_request(
            CallbackError::UnknownService(service).to_string(),
        ));
    }
    // The click is stored before Slack gets its answer, so a crash loses nothing; the same
    // signed request seen again is answered and does nothing.
    let request_key = format!(
        "{}:{}",
        header("x-slack-request-timestamp").unwrap_or_default(),
        header("x-slack-signature").unwrap_or_default()
    );
    let accepted = clicks.accept(request_key, interaction).await.map_err(|e| {
        outcome("store_error");
        tracing::error!(error = %e, "could not store a Slack click");
        ApiError::unavailable("Reverb could not store the click; nothing was done, click again")
    })?;
    let Some(click) = accepted else {
        outcome("replay");
        tracing::info!("a signed Slack request seen before: answered, nothing done");
        return Ok(HttpResponse::Ok().finish());
    };
    outcome("accepted");
    // Slack gives 3 seconds; Orca or Keel may take longer, so the answer goes first.
    state.runtime.spawn(async move {
        let result = clicks.run(click).await;
        tracing::info!(outcome = ?result, "Slack click handled");
    });
    Ok(HttpResponse::Ok().finish())
}
