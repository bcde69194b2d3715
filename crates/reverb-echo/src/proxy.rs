//! Synchronous relaying to Echo: the transparent proxy for every route Reverb does not serve,
//! `POST /notifications` of types Reverb does not send, and `GET /notifications/metadata`.

use std::io;
use std::pin::pin;

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use futures_util::future::{Either, select};
use futures_util::stream;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::Instrument;

use reverb_http::body::{BodyError, BodyLimits, Budget};
use reverb_http::{ApiError, error_response};
use reverb_support::error_chain;
use reverb_support::http::TransportFailure;

use crate::{EchoPassthrough, Inner, headers, is_forwarded};

/// Paths Reverb answers itself whatever the method; they are never proxied (Slack's callbacks
/// above all: they carry the button clicks Reverb acts on).
const REVERB_OWNED: [&str; 3] = ["/notifications/callbacks", "/health", "/metrics"];

/// `path` as it reads once decoded (see [`normalise_path`]).
fn owned_by_reverb(path: &str) -> bool {
    REVERB_OWNED.iter().any(|owned| {
        path.strip_prefix(owned)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// A path with `.` or `..` among its segments, in some spelling.
#[derive(Debug, PartialEq, Eq)]
struct DotSegments;

/// What a request path means to a server that decodes it: percent-decoded (again, while that
/// changes it, so `%252e` counts too; `%2f` is a slash), backslashes read as slashes, `;params`
/// dropped from each segment (as Tomcat does), empty segments dropped. A path with a `.` or
/// `..` segment is refused whole: the HTTP client would resolve it before it reaches Echo, and
/// `/x/../notifications/callbacks/slack` must never reach Echo as the callback route.
fn normalise_path(raw: &str) -> Result<String, DotSegments> {
    let mut decoded = raw.to_owned();
    for _ in 0..4 {
        let once = percent_encoding::percent_decode_str(&decoded)
            .decode_utf8_lossy()
            .into_owned();
        if once == decoded {
            break;
        }
        decoded = once;
    }
    let mut normalised = String::with_capacity(decoded.len() + 1);
    for segment in decoded.split(['/', '\\']) {
        let segment = segment.split(';').next().unwrap_or_default();
        match segment {
            "" => {}
            "." | ".." => return Err(DotSegments),
            segment => {
                normalised.push('/');
                normalised.push_str(segment);
            }
        }
    }
    if normalised.is_empty() {
        normalised.push('/');
    }
    Ok(normalised)
}

/// Marks a response that is Echo's answer, relayed: error-rewriting middleware must leave it
/// as it is (check `response.extensions().contains::<RelayedFromEcho>()`).
#[derive(Debug, Clone, Copy)]
pub struct RelayedFromEcho;

/// Chunks of a request body in flight between the caller and Echo.
const BODY_CHANNEL_DEPTH: usize = 8;

/// The `default_service` when an Echo is configured: every route Reverb does not serve
/// (`/webhooks/...`, `/scheduledActions`, `/validateCronExpression`, `/pubsub/...`,
/// `/quietPeriod`, `/installedPlugins`, unknown paths) goes to Echo as it is: method, path,
/// query, headers (minus hop-by-hop ones), and the body streamed both ways.
pub async fn proxy_to_echo(
    req: HttpRequest,
    payload: web::Payload,
    echo: web::Data<EchoPassthrough>,
) -> HttpResponse {
    // CORS preflights get Reverb's own answer (the same headers Echo sends), as without Echo.
    if req.method() == Method::OPTIONS {
        return HttpResponse::Ok().finish();
    }
    let Ok(path) = normalise_path(req.path()) else {
        tracing::warn!(path = req.path(), "refused a path with dot-segments");
        return error_response(
            StatusCode::BAD_REQUEST,
            &format!(
                "The path {} contains '.' or '..' segments (in some encoding); Reverb does not relay such paths",
                req.path()
            ),
        );
    };
    if owned_by_reverb(&path) {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "{} is not supported on {}, which Reverb serves itself",
                req.method(),
                req.path()
            ),
        );
    }
    if is_forwarded(&req) {
        return loop_detected(&req);
    }
    let span = tracing::info_span!("echo_proxy", method = %req.method(), path = %req.path(), status = tracing::field::Empty);
    relay_streamed(&echo.inner, &req, payload)
        .instrument(span)
        .await
}

fn loop_detected(req: &HttpRequest) -> HttpResponse {
    tracing::warn!(
        method = %req.method(),
        path = req.path(),
        "refused a request a Reverb already forwarded (X-Reverb-Forwarded): does reverb.echo.baseUrl point at a Reverb?"
    );
    error_response(
        StatusCode::LOOP_DETECTED,
        &format!(
            "Loop detected: {} {} was already forwarded by a Reverb (X-Reverb-Forwarded); \
             reverb.echo.baseUrl must point at Echo, not at a Reverb",
            req.method(),
            req.path()
        ),
    )
}

fn path_and_query(req: &HttpRequest) -> &str {
    req.uri()
        .path_and_query()
        .map_or_else(|| req.path(), |pq| pq.as_str())
}

fn method_for_echo(req: &HttpRequest) -> Option<reqwest::Method> {
    reqwest::Method::from_bytes(req.method().as_str().as_bytes()).ok()
}

/// Echo did not answer: 504 on a timeout, else 502, in Spinnaker's error shape. Where Echo is
/// and what the connection said go to the log only; callers learn that Echo is unreachable.
fn echo_failed(inner: &Inner, error: reqwest::Error) -> HttpResponse {
    let (status, message) = if TransportFailure::of(&error) == TransportFailure::Timeout {
        (StatusCode::GATEWAY_TIMEOUT, "Echo did not answer in time")
    } else {
        (StatusCode::BAD_GATEWAY, "Echo is unreachable")
    };
    let reason = error_chain(&error.without_url());
    tracing::warn!(echo = %inner.target.shown(), %reason, "Echo did not answer a relayed request");
    error_response(status, message)
}

/// Echo's status and headers, ready for a body.
fn answer_head(response: &reqwest::Response) -> actix_web::HttpResponseBuilder {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    for header in headers::from_echo(response.headers()) {
        builder.append_header(header);
    }
    builder.extensions_mut().insert(RelayedFromEcho);
    tracing::Span::current().record("status", status.as_u16());
    builder
}

/// Streams the caller's body to Echo and Echo's answer back; neither is held in memory whole.
/// The body is read under the same deadline and buffered-bytes budget as Reverb's own routes.
async fn relay_streamed(inner: &Inner, req: &HttpRequest, payload: web::Payload) -> HttpResponse {
    let Some(method) = method_for_echo(req) else {
        return error_response(StatusCode::METHOD_NOT_ALLOWED, "Unsupported HTTP method");
    };
    let request_headers = req.headers();
    let declared_length = request_headers
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = inner.max_body_bytes;
    if declared_length.is_some_and(|n| n > limit as u64) {
        return body_too_large(limit);
    }
    // HTTP/2 frames bodies without either header; HTTP/1.1 always says.
    let has_body = declared_length.is_some_and(|n| n > 0)
        || request_headers.contains_key(actix_web::http::header::TRANSFER_ENCODING)
        || (req.version() >= actix_web::http::Version::HTTP_2 && declared_length.is_none());

    let mut request = inner
        .relay
        .request(method, inner.target.url(path_and_query(req)))
        .headers(headers::for_echo(request_headers, true));
    // The caller's body reaches Echo through a channel: actix's payload lives on this worker
    // thread, while the HTTP client wants a body it may move between threads. Each chunk
    // carries its share of the budget until the client takes it.
    let (body_tx, body_rx) =
        mpsc::channel::<Result<(Bytes, Budget), io::Error>>(BODY_CHANNEL_DEPTH);
    if has_body {
        let chunks = stream::unfold(body_rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((chunk.map(|(bytes, _budget)| bytes), rx))
        });
        request = request.body(reqwest::Body::wrap_stream(chunks));
    } else {
        drop(body_rx);
    }
    let declared = declared_length.and_then(|n| usize::try_from(n).ok());
    let mut reader = BodyLimits::of(req).reader(payload, limit, declared);
    let outcome = {
        let reader = &mut reader;
        // `Ok(true)`: the whole body went to Echo; `Ok(false)`: Echo stopped reading it.
        let pump = async move {
            loop {
                let problem = match reader.next_chunk().await {
                    Ok(None) => return Ok(true),
                    Ok(Some(chunk)) => {
                        if body_tx.send(Ok(chunk)).await.is_err() {
                            // Echo answered already; the rest is not needed.
                            return Ok(false);
                        }
                        continue;
                    }
                    Err(problem) => problem,
                };
                let _ = body_tx
                    .send(Err(io::Error::other(
                        "the caller's request body was cut off",
                    )))
                    .await;
                return Err(problem);
            }
        };
        match select(pin!(pump), pin!(request.send())).await {
            Either::Left((Ok(complete), send)) => Ok((send.await, complete)),
            Either::Left((Err(problem), _)) => Err(problem),
            // Echo answered before reading the whole body (an early error); that answer stands.
            Either::Right((response, _)) => Ok((response, false)),
        }
    };
    // A body left unread (refused, or Echo answered early) closes the connection after the
    // answer: see `close_after_unread_body`.
    let response = match outcome {
        Ok((response, _complete)) => response,
        Err(problem) => {
            tracing::info!(problem = ?problem, received = reader.received(), "request body for Echo refused");
            return body_refused(problem);
        }
    };
    let response = match response {
        Ok(response) => response,
        Err(e) => return echo_failed(inner, e),
    };
    let mut builder = answer_head(&response);
    match response.content_length() {
        Some(length) => builder.body(SizedStream::new(length, response.bytes_stream())),
        None => builder.body(BodyStream::new(response.bytes_stream())),
    }
}

fn body_refused(problem: BodyError) -> HttpResponse {
    ApiError::from(problem).error_response()
}

fn body_too_large(limit: usize) -> HttpResponse {
    body_refused(BodyError::TooLarge { limit })
}

/// Relays a request whose body was read already (`POST /notifications`): Echo's answer comes
/// back whole, with its exact length (Orca's Jira stage parses it).
pub(crate) async fn relay_buffered(inner: &Inner, req: &HttpRequest, body: Bytes) -> HttpResponse {
    if is_forwarded(req) {
        return loop_detected(req);
    }
    let Some(method) = method_for_echo(req) else {
        return error_response(StatusCode::METHOD_NOT_ALLOWED, "Unsupported HTTP method");
    };
    let span = tracing::info_span!("echo_relay", method = %req.method(), path = %req.path(), status = tracing::field::Empty);
    async {
        let response = inner
            .relay
            .request(method, inner.target.url(path_and_query(req)))
            .headers(headers::for_echo(req.headers(), false))
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(e) => return echo_failed(inner, e),
        };
        let mut builder = answer_head(&response);
        match response.bytes().await {
            Ok(bytes) => builder.body(bytes),
            Err(e) => echo_failed(inner, e),
        }
    }
    .instrument(span)
    .await
}

/// Reverb's own extension notification types for Deck: none.
fn reverb_metadata() -> Vec<Value> {
    Vec::new()
}

/// Reverb's entries first; Echo's for every other `notificationType`.
fn merge_metadata(ours: Vec<Value>, echo: Vec<Value>) -> Vec<Value> {
    let type_of = |v: &Value| {
        v.get("notificationType")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
    };
    let taken: Vec<String> = ours.iter().filter_map(type_of).collect();
    let mut merged = ours;
    merged.extend(
        echo.into_iter()
            .filter(|entry| type_of(entry).is_none_or(|t| !taken.contains(&t))),
    );
    merged
}

pub(crate) async fn metadata(inner: &Inner) -> HttpResponse {
    let echo = async {
        let response = inner
            .http
            .get(inner.target.url("/notifications/metadata"))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(headers::FORWARDED_HEADER, "1")
            .timeout(inner.timing.metadata_timeout)
            .send()
            .await
            .map_err(|e| error_chain(&e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("Echo answered {status}"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| error_chain(&e.without_url()))?;
        serde_json::from_slice::<Vec<Value>>(&body)
            .map_err(|e| format!("Echo's answer is not a JSON array: {e}"))
    }
    .instrument(tracing::info_span!("echo_metadata"))
    .await;
    let echo = echo.unwrap_or_else(|reason| {
        tracing::warn!(echo = %inner.target.shown(), %reason, "no notification metadata from Echo; answering with Reverb's own");
        Vec::new()
    });
    HttpResponse::Ok().json(merge_metadata(reverb_metadata(), echo))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reverb_keeps_its_own_paths() {
        for path in [
            "/notifications/callbacks",
            "/notifications/callbacks/slack",
            "/health",
            "/metrics",
        ] {
            assert!(owned_by_reverb(path), "{path}");
        }
        for path in [
            "/notifications",
            "/healthz",
            "/webhooks/git/github",
            "/metricsx",
            "/",
        ] {
            assert!(!owned_by_reverb(path), "{path}");
        }
    }

    #[test]
    fn paths_are_read_as_a_server_would_read_them() {
        for (raw, read) in [
            ("/webhooks/git/github", "/webhooks/git/github"),
            ("/", "/"),
            ("//health", "/health"),
            ("/health/", "/health"),
            (
                "/notifications%2fcallbacks/slack",
                "/notifications/callbacks/slack",
            ),
            (
                "/notifications%252Fcallbacks/slack",
                "/notifications/callbacks/slack",
            ),
            (
                "/notifications\\callbacks\\slack",
                "/notifications/callbacks/slack",
            ),
            (
                "/notifications;x=1/callbacks/slack",
                "/notifications/callbacks/slack",
            ),
            ("/webhooks/a%20b", "/webhooks/a b"),
            ("/webhooks/v1.2/..x", "/webhooks/v1.2/..x"),
        ] {
            assert_eq!(normalise_path(raw).as_deref(), Ok(read), "{raw}");
        }
        for path in [
            "/notifications%2fcallbacks/slack",
            "/notifications;jsessionid=1/callbacks/slack",
            "/health/",
        ] {
            assert!(owned_by_reverb(&normalise_path(path).unwrap()), "{path}");
        }
    }

    #[test]
    fn dot_segments_in_any_spelling_are_refused() {
        for raw in [
            "/x/../notifications/callbacks/slack",
            "/x/%2e%2e/notifications/callbacks/slack",
            "/x/%2E%2e/health",
            "/webhooks/../health",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/x%2f..%2fhealth",
            "/x\\..\\health",
            "/x/%252e%252e/health",
            "/x/.%2e/health",
            "/x/..;/health",
            "/./health",
            "/webhooks/.",
        ] {
            assert_eq!(normalise_path(raw), Err(DotSegments), "{raw}");
        }
    }

    #[test]
    fn metadata_merge_prefers_reverb_and_keeps_echo_order() {
        let echo = vec![
            json!({"notificationType": "teams-plugin", "uiType": "BASIC", "parameters": []}),
            json!({"notificationType": "pager", "uiType": "CUSTOM", "parameters": []}),
        ];
        assert_eq!(merge_metadata(Vec::new(), echo.clone()), echo);
        let ours = vec![json!({"notificationType": "PAGER", "uiType": "BASIC", "parameters": []})];
        let merged = merge_metadata(ours.clone(), echo);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0], ours[0]);
        assert_eq!(merged[1]["notificationType"], "teams-plugin");
    }
}
