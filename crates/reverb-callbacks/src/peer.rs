//! Calls to Spinnaker services (Orca, Keel): one failure vocabulary and retry while the peer is
//! down.

use std::future::Future;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reverb_support::http::{TransportFailure, status_is_retryable};
use reverb_support::{Backoff, Budget, RetryDecision, run_with_retries};
use serde_json::Value;

/// Waits between calls to a peer that is down: short, because a person waits for the answer.
const PEER_BACKOFF: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
/// Keep error texts from a peer short enough for a Slack message.
const MAX_DETAIL_CHARS: usize = 300;

/// Characters left literal in a URL path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How a call to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeerFailure {
    /// Connection refused, timeout, or a 5xx/408/429: worth retrying.
    Unreachable(String),
    /// The peer refused the request (4xx); `message` is its own explanation when it gave one.
    Rejected { status: u16, message: String },
    /// A 2xx whose body is not what was expected.
    Invalid(String),
}

impl std::fmt::Display for PeerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(why) => write!(f, "unreachable ({why})"),
            Self::Rejected { status, message } if message.is_empty() => write!(f, "HTTP {status}"),
            Self::Rejected { status, message } => write!(f, "HTTP {status}: {message}"),
            Self::Invalid(why) => write!(f, "unexpected answer ({why})"),
        }
    }
}

pub(crate) fn path_segment(raw: &str) -> String {
    utf8_percent_encode(raw, PATH_SEGMENT).to_string()
}

/// One Spinnaker service reached over HTTP: its base URL, the shared client, a per-request
/// timeout. Orca and Fiat are both read through it.
#[derive(Clone)]
pub(crate) struct Peer {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) timeout: Duration,
}

impl Peer {
    pub(crate) fn new(http: reqwest::Client, base_url: &str, timeout: Duration) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            timeout,
        }
    }

    /// `GET {base}{path}` and decode the JSON answer; `what` names it in the error.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<T, PeerFailure> {
        let body = send(
            self.http
                .get(format!("{}{path}", self.base_url))
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(self.timeout),
        )
        .await?;
        serde_json::from_str(&body)
            .map_err(|e| PeerFailure::Invalid(format!("{what} is not readable: {e}")))
    }
}

/// Send a request and read the whole answer; the status decides success (408, 429 and 5xx but
/// 501 mean the peer is unreachable for now, as for every peer: `reverb_support::http`).
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<String, PeerFailure> {
    let response = request.send().await.map_err(|e| transport(&e))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| transport(&e))?;
    match status {
        200..=299 => Ok(body),
        _ if status_is_retryable(status) => Err(PeerFailure::Unreachable(format!("HTTP {status}"))),
        _ => Err(PeerFailure::Rejected {
            status,
            message: error_message(&body),
        }),
    }
}

/// Run `attempt` until it succeeds or fails for a reason other than the peer being unreachable,
/// backing off exponentially; give up once `budget` is spent.
pub(crate) async fn retry_while_unreachable<T, F, Fut>(
    peer: &str,
    budget: Duration,
    attempt: F,
) -> Result<T, PeerFailure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PeerFailure>>,
{
    run_with_retries(
        peer,
        &PEER_BACKOFF,
        Budget::Time(budget),
        attempt,
        |failure| match failure {
            PeerFailure::Unreachable(_) => RetryDecision::Retry { asked: None },
            _ => RetryDecision::GiveUp,
        },
    )
    .await
}

fn transport(e: &reqwest::Error) -> PeerFailure {
    match TransportFailure::of(e) {
        // A bad URL or header: sending again cannot help.
        TransportFailure::Build => PeerFailure::Invalid("the request could not be built".into()),
        failure => PeerFailure::Unreachable(failure.to_string()),
    }
}

/// Spring's error body has `message` (and `error`); otherwise the body itself, shortened.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        ["message", "error"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    text.chars().take(MAX_DETAIL_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(
            path_segment("01HTZ8Q5M3K7V2N9P4R6S8T0WX"),
            "01HTZ8Q5M3K7V2N9P4R6S8T0WX"
        );
        assert_eq!(path_segment("a/b c?"), "a%2Fb%20c%3F");
    }

    #[test]
    fn spring_error_bodies_give_their_message() {
        assert_eq!(
            error_message(
                r#"{"timestamp":1,"status":403,"error":"Forbidden","message":"Access denied"}"#
            ),
            "Access denied"
        );
        assert_eq!(error_message("  plain  "), "plain");
        assert_eq!(error_message(&"x".repeat(1000)).len(), MAX_DETAIL_CHARS);
    }

    #[tokio::test]
    async fn retries_only_while_unreachable_and_within_budget() {
        let mut calls = 0;
        let result: Result<(), _> = retry_while_unreachable("test", Duration::from_secs(5), || {
            calls += 1;
            let answer = if calls < 3 {
                Err(PeerFailure::Unreachable("HTTP 503".into()))
            } else {
                Err(PeerFailure::Rejected {
                    status: 403,
                    message: String::new(),
                })
            };
            async move { answer }
        })
        .await;
        assert_eq!(calls, 3);
        assert_eq!(
            result,
            Err(PeerFailure::Rejected {
                status: 403,
                message: String::new()
            })
        );

        let mut calls = 0;
        let result: Result<(), _> =
            retry_while_unreachable("test", Duration::from_millis(100), || {
                calls += 1;
                async { Err(PeerFailure::Unreachable("connection failed".into())) }
            })
            .await;
        assert_eq!(
            calls, 1,
            "a budget shorter than the first delay allows no retry"
        );
        assert!(matches!(result, Err(PeerFailure::Unreachable(_))));
    }
}
