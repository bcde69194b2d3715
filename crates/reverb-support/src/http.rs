//! The one HTTP retry classification, for every peer (Slack, Echo, Orca, Fiat, Keel, Front50):
//! 408, 429 and 5xx other than 501 are worth another try, as are timeouts and failed connections;
//! 501 and the other 4xx are not, because the same request will be refused again.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Whether an HTTP status is worth retrying.
pub fn status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..=599).contains(&status) && status != 501
}

/// How a request failed before an answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    Timeout,
    Connect,
    /// The request could not be built (a bad URL or header): sending it again cannot help.
    Build,
    Other,
}

impl TransportFailure {
    pub fn of(error: &reqwest::Error) -> Self {
        if error.is_builder() {
            Self::Build
        } else if error.is_timeout() {
            Self::Timeout
        } else if error.is_connect() {
            Self::Connect
        } else {
            Self::Other
        }
    }

    pub fn is_retryable(self) -> bool {
        self != Self::Build
    }

    /// A metric- and log-friendly code. reqwest's own text can hold the URL, and webhook URLs
    /// hold tokens, so only the kind of failure is ever shown.
    pub fn code(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connection_failed",
            Self::Build => "invalid_request",
            Self::Other => "transport_error",
        }
    }
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timeout",
            Self::Connect => "connection failed",
            Self::Build => "the request could not be built",
            Self::Other => "transport error",
        })
    }
}

/// The `Retry-After` header, in whole seconds.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// `Retry-After` in whole seconds. A number too large for any clock is read as "as long as
/// possible" (the caller's [`crate::Backoff::clamp`] bounds it), not as absent; anything that is
/// not a number (an HTTP date included) is absent, and the caller's default applies.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(
        digits.parse::<u64>().unwrap_or(u64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses_like_vectors_retry_logic() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(status_is_retryable(status), "{status}");
        }
        for status in [200, 301, 400, 401, 403, 404, 409, 413, 422, 501] {
            assert!(!status_is_retryable(status), "{status}");
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_and_saturates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("99999999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        for junk in [
            "",
            "-1",
            "1.5",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "+3",
        ] {
            assert_eq!(parse_retry_after(junk), None, "{junk:?}");
        }
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "12".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(12)));
    }
}
