//! The actix side of the fake Slack: turns HTTP requests into logged calls and answers.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::model::Failure;
use super::reply::Reply;
use super::request::Incoming;
use super::state::{PendingCall, SlackState};
use super::{control, hooks, web_api};

/// Every Slack-facing route, with the browser page and the control API beside them.
pub(crate) fn configure(
    state: Arc<SlackState>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |config: &mut web::ServiceConfig| {
        config
            .app_data(web::Data::from(state.clone()))
            // The browser page first: its `/_sandbox/ui/…` must win over the control scope.
            .configure(crate::ui::slack_page::configure)
            .route("/api/{method}", web::route().to(web_api_route))
            .route("/actions/{key:.*}", web::post().to(response_url_route))
            .configure(control::configure)
            .default_service(web::to(fallback_route));
    }
}

/// Which kind of Slack endpoint answered; decides how injected Slack errors look.
enum Endpoint {
    WebApi(String),
    Webhook,
    ResponseUrl(String),
    Unknown,
}

impl Endpoint {
    fn method_name(&self) -> &str {
        match self {
            Self::WebApi(method) => method,
            Self::Webhook => "webhook",
            Self::ResponseUrl(_) => "response_url",
            Self::Unknown => "unknown",
        }
    }

    fn work(&self, state: &SlackState, incoming: &Incoming) -> Reply {
        match self {
            Self::WebApi(method) => web_api::handle(state, method, incoming),
            Self::Webhook => hooks::webhook(state, incoming),
            Self::ResponseUrl(key) => hooks::response_url(state, key, incoming),
            Self::Unknown => Reply::json(404, json!({"ok": false, "error": "unknown_path"})),
        }
    }

    fn slack_error(&self, code: &str) -> Reply {
        match self {
            Self::WebApi(_) => Reply::error(code),
            Self::Webhook | Self::Unknown => Reply::text(400, code),
            Self::ResponseUrl(_) => Reply::json(400, json!({"ok": false, "error": code})),
        }
    }
}

async fn serve(
    state: &SlackState,
    endpoint: Endpoint,
    request: &HttpRequest,
    body: &[u8],
) -> HttpResponse {
    let received_at = Instant::now();
    let received_at_system = SystemTime::now();
    let incoming = Incoming::parse(request, body);
    let (id, fault) = state.begin_call(PendingCall {
        method: endpoint.method_name().to_owned(),
        http_method: incoming.http_method.clone(),
        path: incoming.path.clone(),
        auth: incoming.auth.clone(),
        content_type: incoming.content_type.clone(),
        args: incoming.args_value(),
        received_at,
        received_at_system,
    });
    let (reply, delay) = match fault {
        Some(Failure::Http(status)) => (Reply::http_failure(status), None),
        Some(Failure::RetryAfter(secs)) => (Reply::rate_limited(secs), None),
        Some(Failure::SlackError(code)) => (endpoint.slack_error(&code), None),
        Some(Failure::Delay(delay)) => (endpoint.work(state, &incoming), Some(delay)),
        None => (endpoint.work(state, &incoming), None),
    };
    state.finish_call(id, reply.status, reply.logged_body());
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    reply.into_response()
}

async fn web_api_route(
    state: web::Data<SlackState>,
    request: HttpRequest,
    method: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    serve(
        &state,
        Endpoint::WebApi(method.into_inner()),
        &request,
        &body,
    )
    .await
}

async fn response_url_route(
    state: web::Data<SlackState>,
    request: HttpRequest,
    key: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    serve(
        &state,
        Endpoint::ResponseUrl(key.into_inner()),
        &request,
        &body,
    )
    .await
}

/// Incoming webhooks live at any `POST /<a>/<b>…` path (`/services/T…/B…/…` on Slack).
async fn fallback_route(
    state: web::Data<SlackState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let path = request.path();
    // A mistyped control URL is not Slack traffic: keep it out of the call log.
    if path.starts_with("/_sandbox") {
        return HttpResponse::NotFound()
            .json(json!({"ok": false, "error": "unknown sandbox route"}));
    }
    let is_webhook = request.method() == actix_web::http::Method::POST
        && path.matches('/').count() >= 2
        && !path.starts_with("/api/")
        && !path.starts_with("/_sandbox/");
    let endpoint = if is_webhook {
        Endpoint::Webhook
    } else {
        Endpoint::Unknown
    };
    serve(&state, endpoint, &request, &body).await
}
