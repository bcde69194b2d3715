//! A server that records every request and answers with canned responses: the stand-in for
//! Keel (`/notifications/callback`), a downstream Echo, or any other peer.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use crate::http_server::{self, RunningServer};

/// One request as received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?` (empty when there is none).
    pub query: String,
    /// Lower-case names; every value, values of one name in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Instant,
    pub received_at_system: SystemTime,
}

impl RecordedRequest {
    /// The first value of a header (name is case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

#[derive(Debug, Clone)]
struct CannedResponse {
    path_prefix: String,
    status: u16,
    body: String,
    content_type: String,
}

#[derive(Debug, Default)]
struct RecorderData {
    requests: Vec<RecordedRequest>,
    responses: Vec<CannedResponse>,
    down: bool,
    delay: Duration,
    /// Statuses for the next requests, in order (see [`Recorder::fail_next`]).
    failures: VecDeque<u16>,
}

#[derive(Debug, Default)]
struct RecorderState {
    data: Mutex<RecorderData>,
}

impl RecorderState {
    fn data(&self) -> MutexGuard<'_, RecorderData> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running recorder. Dropping it stops the server.
pub struct Recorder {
    state: Arc<RecorderState>,
    server: RunningServer,
    base_url: String,
}

/// Starts a recorder on `bind` (default `127.0.0.1:0`). Needs a tokio runtime.
pub async fn start_recorder(bind: Option<SocketAddr>) -> io::Result<Recorder> {
    let runtime = http_server::current_runtime()?;
    let listener = http_server::bind(bind)?;
    let base_url = http_server::base_url(listener.local_addr()?);
    let state = Arc::new(RecorderState::default());
    let shared = state.clone();
    let server = RunningServer::spawn(
        listener,
        &runtime,
        move |config: &mut web::ServiceConfig| {
            config
                .app_data(web::Data::from(shared.clone()))
                .default_service(web::to(record));
        },
    )?;
    tracing::info!(url = %base_url, "recorder listening");
    Ok(Recorder {
        state,
        server,
        base_url,
    })
}

impl Recorder {
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.data().requests.clone()
    }

    /// Requests whose path is exactly `path`.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }

    /// Answer requests whose path starts with `path_prefix` like this (the longest matching
    /// prefix wins; a later call for the same prefix replaces the earlier one). Default: 200, empty.
    pub fn respond(&self, path_prefix: &str, status: u16, body: &str, content_type: &str) {
        let mut data = self.state.data();
        data.responses
            .retain(|canned| canned.path_prefix != path_prefix);
        data.responses.push(CannedResponse {
            path_prefix: path_prefix.to_owned(),
            status,
            body: body.to_owned(),
            content_type: content_type.to_owned(),
        });
    }

    /// While down, every request is still recorded but answered 503.
    pub fn set_down(&self, down: bool) {
        self.state.data().down = down;
    }

    /// The next `times` requests are recorded and answered `status` with an empty body (after
    /// any queued before), e.g. a Keel that fails twice and then accepts.
    pub fn fail_next(&self, times: usize, status: u16) {
        self.state
            .data()
            .failures
            .extend(std::iter::repeat_n(status, times));
    }

    /// Hold every answer back this long.
    pub fn set_delay(&self, delay: Duration) {
        self.state.data().delay = delay;
    }

    /// Forgets the recorded requests (canned responses stay).
    pub fn clear(&self) {
        self.state.data().requests.clear();
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

async fn record(
    state: web::Data<RecorderState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let recorded = RecordedRequest {
        method: request.method().as_str().to_owned(),
        path: request.path().to_owned(),
        query: request.query_string().to_owned(),
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        received_at: Instant::now(),
        received_at_system: SystemTime::now(),
    };
    let (down, delay, canned, failure) = {
        let mut data = state.data();
        let failure = if data.down {
            None
        } else {
            data.failures.pop_front()
        };
        let canned = data
            .responses
            .iter()
            .filter(|canned| recorded.path.starts_with(&canned.path_prefix))
            .max_by_key(|canned| canned.path_prefix.len())
            .cloned();
        data.requests.push(recorded);
        (data.down, data.delay, canned, failure)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if down {
        return HttpResponse::ServiceUnavailable().finish();
    }
    if let Some(status) = failure {
        return HttpResponse::build(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .finish();
    }
    match canned {
        Some(canned) => {
            HttpResponse::build(StatusCode::from_u16(canned.status).unwrap_or(StatusCode::OK))
                .content_type(canned.content_type)
                .body(canned.body)
        }
        None => HttpResponse::Ok().finish(),
    }
}
