//! `/_sandbox/…`: the fake Slack's control API for scripts, benchmarks and the browser.
//!
//! - `GET  /_sandbox/calls` · `GET /_sandbox/stats` (`{"calls":N,"rateLimited":N}`)
//! - `GET  /_sandbox/channels` · `GET /_sandbox/channels/{id or name}/messages` · `GET /_sandbox/users`
//! - `POST /_sandbox/faults` `{"method":"chat.postMessage","times":3,"http":503}` (or `"error":"internal_error"`,
//!   or `"delayMs":5000`; method `"*"` = any)
//! - `POST /_sandbox/rate-limit` `{"perSec":1,"burst":3}` · `POST /_sandbox/reset`
//! - `POST /_sandbox/interactivity-url` `{"url":"http://…/notifications/callbacks/slack"}`
//! - `GET  /_sandbox/scopes` · `POST /_sandbox/scopes` `{"scopes":["chat:write","users:read"]}`
//!   (what the token is granted from now on; `x-oauth-scopes` on every Web API answer)
//! - `POST /_sandbox/click` `{"channel","ts","action","user","option"?,"timestamp"?,"team"?,
//!   "value"?,"claimChannel"?,"claimTs"?}` →
//!   `{"ok":true,"status":<Reverb's status>,"body":<Reverb's body>,"payload":<what was sent>}`
//!   (`team` forges `team.id`, `value` the button's value, `claimChannel`/`claimTs` the message
//!   the payload names)

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::click::{self, ClickRequest};
use super::model::Failure;
use super::state::SlackState;
use crate::error::SandboxError;

pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/_sandbox")
            .route("/calls", web::get().to(calls))
            .route("/channels", web::get().to(channels))
            .route("/channels/{channel}/messages", web::get().to(messages))
            .route("/users", web::get().to(users))
            .route("/stats", web::get().to(stats))
            .route("/faults", web::post().to(faults))
            .route("/rate-limit", web::post().to(rate_limit))
            .route("/reset", web::post().to(reset))
            .route("/interactivity-url", web::post().to(interactivity_url))
            .route("/scopes", web::get().to(scopes))
            .route("/scopes", web::post().to(set_scopes))
            .route("/click", web::post().to(click)),
    );
}

async fn calls(state: web::Data<SlackState>) -> HttpResponse {
    HttpResponse::Ok().json(state.calls())
}

async fn channels(state: web::Data<SlackState>) -> HttpResponse {
    let channels: Vec<_> = state
        .channels()
        .into_iter()
        .map(|channel| {
            let count = state.messages(&channel.id).len();
            json!({"channel": channel, "messageCount": count})
        })
        .collect();
    HttpResponse::Ok().json(channels)
}

/// Messages as Slack shows them (`conversations.history` style), plus the sandbox's bookkeeping.
async fn messages(state: web::Data<SlackState>, path: web::Path<String>) -> HttpResponse {
    let reference = path.into_inner();
    if state.channel(&reference).is_none() {
        return HttpResponse::NotFound().json(json!({"ok": false, "error": "channel_not_found"}));
    }
    let messages: Vec<_> = state
        .messages(&reference)
        .iter()
        .map(|message| message.to_slack_json())
        .collect();
    let ephemeral: Vec<_> = state.ephemerals(&reference);
    HttpResponse::Ok().json(json!({"ok": true, "messages": messages, "ephemeral": ephemeral}))
}

async fn users(state: web::Data<SlackState>) -> HttpResponse {
    HttpResponse::Ok().json(state.users())
}

async fn stats(state: web::Data<SlackState>) -> HttpResponse {
    HttpResponse::Ok().json(state.stats())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultRequest {
    method: String,
    times: Option<usize>,
    http: Option<u16>,
    error: Option<String>,
    delay_ms: Option<u64>,
}

async fn faults(state: web::Data<SlackState>, body: web::Json<FaultRequest>) -> HttpResponse {
    let request = body.into_inner();
    let failure = match (request.http, request.error, request.delay_ms) {
        (Some(status), None, None) if (100..=999).contains(&status) => Failure::Http(status),
        (None, Some(code), None) => Failure::SlackError(code.into()),
        (None, None, Some(ms)) => Failure::Delay(Duration::from_millis(ms)),
        _ => {
            return HttpResponse::BadRequest()
                .json(json!({"ok": false, "error": "give exactly one of http (a status), error or delayMs"}));
        }
    };
    let times = request.times.unwrap_or(1);
    state.fail_next(&request.method, times, failure);
    HttpResponse::Ok().json(json!({"ok": true, "method": request.method, "queued": times}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitRequest {
    per_sec: f64,
    burst: u32,
}

async fn rate_limit(
    state: web::Data<SlackState>,
    body: web::Json<RateLimitRequest>,
) -> HttpResponse {
    state.set_rate_limit(body.per_sec, body.burst);
    HttpResponse::Ok().json(json!({"ok": true}))
}

async fn reset(state: web::Data<SlackState>) -> HttpResponse {
    state.reset();
    HttpResponse::Ok().json(json!({"ok": true}))
}

#[derive(Debug, Deserialize)]
struct InteractivityUrlRequest {
    url: Option<String>,
}

async fn interactivity_url(
    state: web::Data<SlackState>,
    body: web::Json<InteractivityUrlRequest>,
) -> HttpResponse {
    state.set_interactivity_url(body.into_inner().url);
    HttpResponse::Ok().json(json!({"ok": true, "url": state.interactivity_url()}))
}

async fn scopes(state: web::Data<SlackState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true, "scopes": state.scopes()}))
}

#[derive(Debug, Deserialize)]
struct ScopesRequest {
    scopes: Vec<String>,
}

async fn set_scopes(state: web::Data<SlackState>, body: web::Json<ScopesRequest>) -> HttpResponse {
    state.set_scopes(body.into_inner().scopes);
    HttpResponse::Ok().json(json!({"ok": true, "scopes": state.scopes()}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClickBody {
    channel: String,
    ts: String,
    action: String,
    user: String,
    option: Option<String>,
    timestamp: Option<i64>,
    team: Option<String>,
    value: Option<String>,
    claim_channel: Option<String>,
    claim_ts: Option<String>,
}

/// Clicks like a user would, and reports what Reverb answered.
async fn click(state: web::Data<SlackState>, body: web::Json<ClickBody>) -> HttpResponse {
    let body = body.into_inner();
    let mut request = ClickRequest::new(body.channel, body.ts, body.action, body.user);
    request.selected_option = body.option;
    request.timestamp = body.timestamp;
    request.team_id = body.team;
    request.value = body.value;
    if body.claim_channel.is_some() || body.claim_ts.is_some() {
        request.claimed_message = Some((
            body.claim_channel
                .unwrap_or_else(|| request.channel.clone()),
            body.claim_ts.unwrap_or_else(|| request.ts.clone()),
        ));
    }
    let interaction = match click::build(&state, &request) {
        Ok(interaction) => interaction,
        Err(err) => return error_response(&err),
    };
    let payload = interaction.payload.clone();
    let state: Arc<SlackState> = state.into_inner();
    // The outbound call runs on the runtime that owns the HTTP client, not on this worker.
    let runtime = state.runtime.clone();
    let sent = runtime
        .spawn(async move {
            let response = click::send(&state, interaction).await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            Ok::<_, SandboxError>((status, text))
        })
        .await;
    match sent {
        Ok(Ok((status, text))) => HttpResponse::Ok()
            .json(json!({"ok": true, "status": status, "body": text, "payload": payload})),
        Ok(Err(err)) => error_response(&err),
        Err(join) => error_response(&SandboxError::Background(join.to_string())),
    }
}

fn error_response(err: &SandboxError) -> HttpResponse {
    let body = json!({"ok": false, "error": err.to_string()});
    match err {
        SandboxError::ChannelNotFound(_)
        | SandboxError::MessageNotFound { .. }
        | SandboxError::UserNotFound(_)
        | SandboxError::ActionNotFound { .. }
        | SandboxError::ExecutionNotFound(_) => HttpResponse::NotFound().json(body),
        SandboxError::OptionNotFound { .. } | SandboxError::OptionRequired(_) => {
            HttpResponse::BadRequest().json(body)
        }
        SandboxError::NoInteractivityUrl | SandboxError::NoRunningJudgment(_) => {
            HttpResponse::Conflict().json(body)
        }
        SandboxError::AccessDenied(_) => HttpResponse::Forbidden().json(body),
        SandboxError::Background(_) | SandboxError::Http(_) => {
            HttpResponse::BadGateway().json(body)
        }
    }
}
