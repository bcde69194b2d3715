//! The fake Orca's HTTP API: Orca's own endpoints plus `/_sandbox/…` controls.
//!
//! Orca: `GET /pipelines/{id}`, `PATCH /pipelines/{id}/stages/{stageId}` (with Fiat: 403 for a
//! user without EXECUTE on the application, see [`access_denied_body`]), `GET /health`.
//! Controls (never down, never delayed): `GET|POST /_sandbox/pipelines` (POST body optional:
//! `{"judgmentInputs":["ship","hold"],"application":"myapp"}` → `{"id":…}`),
//! `POST /_sandbox/pipelines/{id}/judge` `{"decision":"continue","user":"…","input"?,"stageId"?}`
//! (403 `{"error":…}` when Fiat refuses the user),
//! `GET /_sandbox/patches`, `GET /_sandbox/deliveries`, `POST /_sandbox/down` `{"down":true}`,
//! `POST /_sandbox/delay` `{"delayMs":500}`, `POST /_sandbox/reverb-url` `{"url":…}`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::judgment::PatchResult;
use super::model::Judgment;
use super::pipeline::{self, PatchRequest};
use super::sample::SamplePipeline;
use super::state::OrcaState;
use crate::error::SandboxError;
use crate::fiat::view::SpringError;
use crate::ids::now_ms;

/// What Spring Security throws when `@PreAuthorize` fails.
const ACCESS_DENIED_EXCEPTION: &str = "org.springframework.security.access.AccessDeniedException";

pub(crate) fn configure(
    state: Arc<OrcaState>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |config: &mut web::ServiceConfig| {
        config
            .app_data(web::Data::from(state.clone()))
            // The browser page first: its `/_sandbox/ui/…` must win over the control scope.
            .configure(crate::ui::orca_page::configure)
            .service(
                web::scope("/_sandbox")
                    .route("/pipelines", web::get().to(list_pipelines))
                    .route("/pipelines", web::post().to(start_pipeline))
                    .route("/pipelines/{id}/judge", web::post().to(judge))
                    .route("/patches", web::get().to(patches))
                    .route("/deliveries", web::get().to(deliveries))
                    .route("/down", web::post().to(set_down))
                    .route("/delay", web::post().to(set_delay))
                    .route("/reverb-url", web::post().to(set_reverb_url)),
            )
            .route("/pipelines/{id}", web::get().to(get_execution))
            .route(
                "/pipelines/{id}/stages/{stage_id}",
                web::patch().to(patch_stage),
            )
            .route("/health", web::get().to(health))
            .default_service(web::to(not_found));
    }
}

/// Spring's error body.
fn spring_error(status: u16, error: &str, message: &str, path: &str) -> serde_json::Value {
    json!({"timestamp": now_ms(), "status": status, "error": error, "message": message, "path": path})
}

/// Orca's 403 for a refused `@PreAuthorize`: `FiatAccessDeniedExceptionHandler` sends the error
/// with its message, kork's `GenericErrorController` renders it (no `path`), Orca's ObjectMapper
/// writes it compactly with an epoch-millisecond timestamp.
pub(crate) fn access_denied_body(message: &str) -> String {
    serde_json::to_string(&SpringError {
        timestamp: now_ms(),
        status: 403,
        error: "Forbidden",
        exception: Some(ACCESS_DENIED_EXCEPTION),
        message,
    })
    .unwrap_or_default()
}

/// While down (or for a failure queued with `fail_next`) every Orca endpoint answers 503; the
/// configured delay applies to all of them. Every request is recorded.
async fn availability(state: &OrcaState, request: &HttpRequest) -> Option<HttpResponse> {
    let path = request.path();
    let down = state.arrive(request.method().as_str(), path);
    let delay = state.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    down.then(|| {
        HttpResponse::ServiceUnavailable().json(spring_error(
            503,
            "Service Unavailable",
            "sandbox: Orca is down",
            path,
        ))
    })
}

async fn get_execution(
    state: web::Data<OrcaState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    if let Some(response) = availability(&state, &request).await {
        return response;
    }
    match state.execution(&id) {
        Some(execution) => HttpResponse::Ok().json(execution),
        None => HttpResponse::NotFound().json(spring_error(
            404,
            "Not Found",
            &format!("No pipeline execution found for {id}"),
            request.path(),
        )),
    }
}

fn all_headers(request: &HttpRequest) -> Vec<(String, String)> {
    request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn header(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

async fn patch_stage(
    state: web::Data<OrcaState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(response) = availability(&state, &request).await {
        return response;
    }
    let (execution_id, stage_id) = path.into_inner();
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let patch = PatchRequest {
        execution_id,
        stage_id,
        body,
        user: header(&request, "X-SPINNAKER-USER"),
        accounts: header(&request, "X-SPINNAKER-ACCOUNTS"),
        headers: all_headers(&request),
        via_deck: false,
    };
    let state: Arc<OrcaState> = state.into_inner();
    match pipeline::patch(&state, patch) {
        PatchResult::Updated(execution) => HttpResponse::Ok().json(execution),
        // Orca catches the failure, logs it and answers 200 with no body.
        PatchResult::UnknownStage => HttpResponse::Ok().finish(),
        PatchResult::UnknownExecution => HttpResponse::NotFound().json(spring_error(
            404,
            "Not Found",
            "No pipeline execution found",
            request.path(),
        )),
        PatchResult::Forbidden(message) => HttpResponse::Forbidden()
            .content_type("application/json")
            .body(access_denied_body(&message)),
        PatchResult::BadBody => HttpResponse::BadRequest().json(spring_error(
            400,
            "Bad Request",
            "JSON parse error: the body must be an object",
            request.path(),
        )),
    }
}

async fn health(state: web::Data<OrcaState>, request: HttpRequest) -> HttpResponse {
    if let Some(response) = availability(&state, &request).await {
        return response;
    }
    HttpResponse::Ok().json(json!({"status": "UP"}))
}

async fn not_found(state: web::Data<OrcaState>, request: HttpRequest) -> HttpResponse {
    if let Some(response) = availability(&state, &request).await {
        return response;
    }
    HttpResponse::NotFound().json(spring_error(
        404,
        "Not Found",
        "No handler found",
        request.path(),
    ))
}

async fn list_pipelines(state: web::Data<OrcaState>) -> HttpResponse {
    HttpResponse::Ok().json(state.executions())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartRequest {
    judgment_inputs: Option<Vec<String>>,
    application: Option<String>,
}

/// Starts a sample pipeline; answers once Reverb has been told it is waiting for judgment.
async fn start_pipeline(state: web::Data<OrcaState>, body: web::Bytes) -> HttpResponse {
    let request: StartRequest = if body.is_empty() {
        StartRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(err) => return HttpResponse::BadRequest().json(json!({"error": err.to_string()})),
        }
    };
    let mut options = SamplePipeline::default();
    if let Some(inputs) = request.judgment_inputs {
        options.judgment_inputs = inputs;
    }
    if let Some(application) = request.application {
        options.application = application;
    }
    let state: Arc<OrcaState> = state.into_inner();
    // Outbound calls run on the runtime that owns the HTTP client, not on this worker.
    let runtime = state.runtime.clone();
    match runtime
        .spawn(async move { pipeline::start_sample(&state, &options).await })
        .await
    {
        Ok(id) => HttpResponse::Ok().json(json!({"id": id})),
        Err(err) => HttpResponse::InternalServerError().json(json!({"error": err.to_string()})),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JudgeRequest {
    decision: String,
    user: Option<String>,
    input: Option<String>,
    stage_id: Option<String>,
}

/// The default judge when none is named: a release manager, so the judgment takes effect.
const DEFAULT_DECK_USER: &str = "jane@example.com";

async fn judge(
    state: web::Data<OrcaState>,
    id: web::Path<String>,
    body: web::Json<JudgeRequest>,
) -> HttpResponse {
    let body = body.into_inner();
    let Some(judgment) = Judgment::parse(&body.decision) else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "decision must be continue or stop"}));
    };
    let state: Arc<OrcaState> = state.into_inner();
    let user = body.user.as_deref().unwrap_or(DEFAULT_DECK_USER);
    match pipeline::judge_in_deck(
        &state,
        &id,
        judgment,
        user,
        body.input.as_deref(),
        body.stage_id.as_deref(),
    ) {
        Ok(execution) => HttpResponse::Ok().json(execution),
        Err(err @ SandboxError::ExecutionNotFound(_)) => {
            HttpResponse::NotFound().json(json!({"error": err.to_string()}))
        }
        Err(err @ SandboxError::AccessDenied(_)) => {
            HttpResponse::Forbidden().json(json!({"error": err.to_string()}))
        }
        Err(err) => HttpResponse::Conflict().json(json!({"error": err.to_string()})),
    }
}

async fn patches(state: web::Data<OrcaState>) -> HttpResponse {
    HttpResponse::Ok().json(state.patches())
}

async fn deliveries(state: web::Data<OrcaState>) -> HttpResponse {
    HttpResponse::Ok().json(state.deliveries())
}

#[derive(Debug, Deserialize)]
struct DownRequest {
    down: bool,
}

async fn set_down(state: web::Data<OrcaState>, body: web::Json<DownRequest>) -> HttpResponse {
    state.set_down(body.down);
    HttpResponse::Ok().json(json!({"ok": true, "down": body.down}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DelayRequest {
    delay_ms: u64,
}

async fn set_delay(state: web::Data<OrcaState>, body: web::Json<DelayRequest>) -> HttpResponse {
    state.set_delay(Duration::from_millis(body.delay_ms));
    HttpResponse::Ok().json(json!({"ok": true, "delayMs": body.delay_ms}))
}

#[derive(Debug, Deserialize)]
struct ReverbUrlRequest {
    url: Option<String>,
}

async fn set_reverb_url(
    state: web::Data<OrcaState>,
    body: web::Json<ReverbUrlRequest>,
) -> HttpResponse {
    state.set_reverb_url(body.into_inner().url);
    HttpResponse::Ok().json(json!({"ok": true, "url": state.reverb_url()}))
}
