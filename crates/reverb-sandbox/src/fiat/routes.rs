//! The fake Fiat's HTTP API: Fiat's `AuthorizeController` plus `/_sandbox/…` controls.
//!
//! Fiat (recorded; injected failures and the down switch apply):
//! `GET /authorize/{userId}` (`UserPermission.View`, 404 `user not found: {userId}` for an
//! unknown user), `GET /authorize/{userId}/accounts|applications|roles|serviceAccounts`,
//! `GET /authorize/{userId}/accounts/{name}`, `GET /authorize/{userId}/applications/{name}`,
//! `GET /authorize/{userId}/{resourceType}/{resourceName}/{authorization}` (200 or 404, empty).
//! `GET /health` always answers `{"status":"UP"}` and is not recorded.
//!
//! Controls: `GET /_sandbox/users`, `GET|PUT|DELETE /_sandbox/users/{userId}` (PUT body: a
//! [`super::FiatUser`] as JSON; the path names it), `GET /_sandbox/requests`,
//! `GET /_sandbox/requests/counts` (`{"jane@example.com":2}`), `POST /_sandbox/requests/clear`,
//! `POST /_sandbox/faults` `{"times":2,"status":503}` or `{"times":1,"hangMs":5000}`,
//! `POST /_sandbox/down` `{"down":true}`, `POST /_sandbox/settings`
//! `{"allowAccessToUnknownApplications":true}`, `POST /_sandbox/reset`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::model::{FiatAuthorization, FiatFailure, FiatGrant, FiatRequest, FiatUser};
use super::state::FiatState;
use super::view::{SpringError, UserPermissionView, jackson_pretty};
use crate::ids::now_ms;

const NOT_FOUND_EXCEPTION: &str = "com.netflix.spinnaker.kork.web.exceptions.NotFoundException";
const ILLEGAL_ARGUMENT: &str = "java.lang.IllegalArgumentException";

pub(crate) fn configure(
    state: Arc<FiatState>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |config: &mut web::ServiceConfig| {
        config
            .app_data(web::Data::from(state.clone()))
            .service(
                web::scope("/_sandbox")
                    .route("/users", web::get().to(list_users))
                    .route("/users/{user_id}", web::get().to(get_user))
                    .route("/users/{user_id}", web::put().to(put_user))
                    .route("/users/{user_id}", web::delete().to(delete_user))
                    .route("/requests", web::get().to(requests))
                    .route("/requests/counts", web::get().to(request_counts))
                    .route("/requests/clear", web::post().to(clear_requests))
                    .route("/faults", web::post().to(faults))
                    .route("/down", web::post().to(set_down))
                    .route("/settings", web::post().to(settings))
                    .route("/reset", web::post().to(reset))
                    .default_service(web::to(unknown_control)),
            )
            .route("/health", web::get().to(health))
            .route("/authorize/{user_id}", web::get().to(authorize))
            .route(
                "/authorize/{user_id}/{rest:.*}",
                web::get().to(authorize_part),
            )
            .default_service(web::to(not_found_route));
    }
}

/// A JSON answer as Fiat's ObjectMapper prints it.
fn fiat_json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(jackson_pretty(body))
}

fn spring_error(
    status: StatusCode,
    exception: Option<&str>,
    message: &str,
) -> (StatusCode, HttpResponse) {
    let body = SpringError {
        timestamp: now_ms(),
        status: status.as_u16(),
        error: status.canonical_reason().unwrap_or("Unknown"),
        exception,
        message,
    };
    (status, fiat_json(status, &body))
}

fn user_not_found(user_id: &str) -> (StatusCode, HttpResponse) {
    spring_error(
        StatusCode::NOT_FOUND,
        Some(NOT_FOUND_EXCEPTION),
        &format!("user not found: {user_id}"),
    )
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

/// Records the request, applies the down switch and injected faults, then answers with `work`.
async fn serve(
    state: &FiatState,
    request: &HttpRequest,
    user_id: Option<&str>,
    work: impl FnOnce(&FiatState) -> (StatusCode, HttpResponse),
) -> HttpResponse {
    let (id, down, fault) = state.begin(FiatRequest {
        method: request.method().as_str().to_owned(),
        path: request.path().to_owned(),
        user_id: user_id.map(str::to_owned),
        headers: all_headers(request),
        status: 0,
        received_at: SystemTime::now(),
    });
    let (status, response) = match fault {
        _ if down => spring_error(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "sandbox: Fiat is down",
        ),
        Some(FiatFailure::Status(code)) => spring_error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            None,
            "sandbox: injected failure",
        ),
        Some(FiatFailure::Hang(delay)) => {
            tokio::time::sleep(delay).await;
            work(state)
        }
        None => work(state),
    };
    state.finish(id, status.as_u16());
    response
}

async fn authorize(
    state: web::Data<FiatState>,
    request: HttpRequest,
    user_id: web::Path<String>,
) -> HttpResponse {
    let user_id = user_id.into_inner();
    serve(&state, &request, Some(&user_id), |state| {
        let permissions = state.permissions();
        let allow = permissions.allows_access_to_unknown_applications();
        match permissions.user(&user_id) {
            Some(user) => (
                StatusCode::OK,
                fiat_json(StatusCode::OK, &UserPermissionView::of(&user, allow)),
            ),
            None => user_not_found(&user_id),
        }
    })
    .await
}

fn ok<T: Serialize>(body: &T) -> (StatusCode, HttpResponse) {
    (StatusCode::OK, fiat_json(StatusCode::OK, body))
}

fn grant_views(list: &[FiatGrant], admin: bool) -> Vec<FiatGrant> {
    list.iter()
        .map(|grant| FiatGrant {
            name: grant.name.clone(),
            authorizations: if admin {
                FiatAuthorization::ALL.to_vec()
            } else {
                grant.authorizations.clone()
            },
        })
        .collect()
}

/// The sub-resources of `/authorize/{userId}/…`.
fn answer_part(user_id: &str, user: Option<FiatUser>, rest: &[&str]) -> (StatusCode, HttpResponse) {
    if let [resource_type, name, authorization] = rest {
        return authorization_check(user.as_ref(), resource_type, name, authorization);
    }
    let Some(user) = user else {
        return user_not_found(user_id);
    };
    match rest {
        ["accounts"] => ok(&grant_views(&user.accounts, user.admin)),
        ["applications"] => ok(&grant_views(&user.applications, user.admin)),
        ["roles"] => ok(&user.roles),
        ["serviceAccounts"] => ok(&user.service_accounts),
        ["accounts", name] => match user.account(name) {
            Some(grant) => ok(&grant_views(std::slice::from_ref(grant), user.admin)[0]),
            None => user_not_found(user_id),
        },
        ["applications", name] => match user.application(name) {
            Some(grant) => ok(&grant_views(std::slice::from_ref(grant), user.admin)[0]),
            None => user_not_found(user_id),
        },
        ["serviceAccounts", name] => {
            match user
                .service_accounts
                .iter()
                .find(|account| account.name.eq_ignore_ascii_case(name))
            {
                Some(account) => ok(account),
                None => spring_error(
                    StatusCode::NOT_FOUND,
                    Some(NOT_FOUND_EXCEPTION),
                    &format!("service account not found: {name}, for user: {user_id}"),
                ),
            }
        }
        _ => spring_error(StatusCode::NOT_FOUND, None, "No message available"),
    }
}

/// `getUserAuthorization`: 200 when the user holds the authorization on the account or
/// application, else 404 (also for an unknown user); both with an empty body.
fn authorization_check(
    user: Option<&FiatUser>,
    resource_type: &str,
    name: &str,
    authorization: &str,
) -> (StatusCode, HttpResponse) {
    let Some(wanted) = FiatAuthorization::parse(authorization) else {
        return spring_error(
            StatusCode::BAD_REQUEST,
            Some(ILLEGAL_ARGUMENT),
            &format!(
                "No enum constant com.netflix.spinnaker.fiat.model.Authorization.{}",
                authorization.to_uppercase()
            ),
        );
    };
    // `ResourceType.parse`: a plural is made singular.
    let singular = resource_type
        .strip_suffix('s')
        .unwrap_or(resource_type)
        .to_lowercase();
    let grant = match singular.as_str() {
        "account" => user.and_then(|user| user.account(name).map(|grant| (user, grant))),
        "application" => user.and_then(|user| user.application(name).map(|grant| (user, grant))),
        _ => {
            return spring_error(
                StatusCode::BAD_REQUEST,
                None,
                &format!("Resource type {resource_type} does not contain authorizations"),
            );
        }
    };
    let allowed = grant.is_some_and(|(user, grant)| user.admin || grant.allows(wanted));
    let status = if allowed {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    (status, HttpResponse::build(status).finish())
}

async fn authorize_part(
    state: web::Data<FiatState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (user_id, rest) = path.into_inner();
    let segments: Vec<&str> = rest.split('/').filter(|part| !part.is_empty()).collect();
    serve(&state, &request, Some(&user_id), |state| {
        answer_part(&user_id, state.permissions().user(&user_id), &segments)
    })
    .await
}

async fn health() -> HttpResponse {
    fiat_json(StatusCode::OK, &json!({"status": "UP"}))
}

async fn not_found_route(state: web::Data<FiatState>, request: HttpRequest) -> HttpResponse {
    serve(&state, &request, None, |_| {
        spring_error(StatusCode::NOT_FOUND, None, "No message available")
    })
    .await
}

async fn unknown_control() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"ok": false, "error": "unknown sandbox route"}))
}

async fn list_users(state: web::Data<FiatState>) -> HttpResponse {
    HttpResponse::Ok().json(state.permissions().users())
}

async fn get_user(state: web::Data<FiatState>, user_id: web::Path<String>) -> HttpResponse {
    match state.permissions().user(&user_id) {
        Some(user) => HttpResponse::Ok().json(user),
        None => HttpResponse::NotFound().json(json!({"ok": false, "error": "no such user"})),
    }
}

async fn put_user(
    state: web::Data<FiatState>,
    user_id: web::Path<String>,
    body: web::Json<FiatUser>,
) -> HttpResponse {
    let mut user = body.into_inner();
    user.name = user_id.into_inner();
    state.permissions().put_user(user.clone());
    let stored = state.permissions().user(&user.name);
    HttpResponse::Ok().json(json!({"ok": true, "user": stored}))
}

async fn delete_user(state: web::Data<FiatState>, user_id: web::Path<String>) -> HttpResponse {
    let removed = state.permissions().remove_user(&user_id);
    HttpResponse::Ok().json(json!({"ok": true, "removed": removed}))
}

async fn requests(state: web::Data<FiatState>) -> HttpResponse {
    HttpResponse::Ok().json(state.requests())
}

/// Requests per user id (lower-cased, as Fiat matches them).
pub(crate) fn counts(requests: &[FiatRequest]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for user in requests
        .iter()
        .filter_map(|request| request.user_id.as_deref())
    {
        *counts.entry(user.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

async fn request_counts(state: web::Data<FiatState>) -> HttpResponse {
    HttpResponse::Ok().json(counts(&state.requests()))
}

async fn clear_requests(state: web::Data<FiatState>) -> HttpResponse {
    state.clear_requests();
    HttpResponse::Ok().json(json!({"ok": true}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultRequest {
    times: Option<usize>,
    status: Option<u16>,
    hang_ms: Option<u64>,
}

async fn faults(state: web::Data<FiatState>, body: web::Json<FaultRequest>) -> HttpResponse {
    let request = body.into_inner();
    let failure = match (request.status, request.hang_ms) {
        (Some(status), None) if (100..=999).contains(&status) => FiatFailure::Status(status),
        (None, Some(ms)) => FiatFailure::Hang(Duration::from_millis(ms)),
        _ => {
            return HttpResponse::BadRequest().json(
                json!({"ok": false, "error": "give exactly one of status (an HTTP status) or hangMs"}),
            );
        }
    };
    let times = request.times.unwrap_or(1);
    state.fail_next(times, failure);
    HttpResponse::Ok().json(json!({"ok": true, "queued": times}))
}

#[derive(Debug, Deserialize)]
struct DownRequest {
    down: bool,
}

async fn set_down(state: web::Data<FiatState>, body: web::Json<DownRequest>) -> HttpResponse {
    state.set_down(body.down);
    HttpResponse::Ok().json(json!({"ok": true, "down": body.down}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsRequest {
    allow_access_to_unknown_applications: Option<bool>,
}

async fn settings(state: web::Data<FiatState>, body: web::Json<SettingsRequest>) -> HttpResponse {
    if let Some(allow) = body.allow_access_to_unknown_applications {
        state
            .permissions()
            .set_allow_access_to_unknown_applications(allow);
    }
    HttpResponse::Ok().json(json!({
        "ok": true,
        "allowAccessToUnknownApplications": state.permissions().allows_access_to_unknown_applications(),
    }))
}

async fn reset(state: web::Data<FiatState>) -> HttpResponse {
    state.reset();
    HttpResponse::Ok().json(json!({"ok": true}))
}
