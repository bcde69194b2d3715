//! Slack failures and how they are handled: retry (with Slack's own delay when it gives one) or
//! give up.

use std::time::Duration;

use reverb_support::http::{TransportFailure, status_is_retryable};

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// HTTP 429: wait what Slack asked (the engine obeys at most `reverb.delivery.maxRetryAfter`),
    /// then retry.
    RateLimited { retry_after: Duration },
    /// Slack or the network had a bad moment: retry with backoff.
    Retryable,
    /// Retrying the same request cannot help (auth, destination, content).
    Permanent,
}

/// A failed Slack call: Slack's error code (or a transport description) and its class.
#[derive(Debug, Clone, thiserror::Error)]
#[error("slack {method}: {code}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct SlackError {
    pub method: &'static str,
    pub code: String,
    pub class: ErrorClass,
    pub http_status: Option<u16>,
    /// Slack's `response_metadata.messages`, or a transport detail.
    pub detail: Option<String>,
}

impl SlackError {
    pub fn is_permanent(&self) -> bool {
        self.class == ErrorClass::Permanent
    }

    /// How long Slack asked to wait, for a rate-limited call.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.class {
            ErrorClass::RateLimited { retry_after } => Some(retry_after),
            _ => None,
        }
    }

    /// Classify an `ok:false` envelope by its error code.
    pub(crate) fn from_code(method: &'static str, code: &str, detail: Option<String>) -> Self {
        Self {
            method,
            code: code.to_string(),
            class: classify_code(code),
            http_status: Some(200),
            detail,
        }
    }

    /// No answer came (reverb-support's transport classification). reqwest's Display can
    /// include the URL; for webhooks the URL holds the token, so only the kind of failure is
    /// kept.
    pub(crate) fn transport(method: &'static str, err: &reqwest::Error) -> Self {
        let failure = TransportFailure::of(err);
        Self {
            method,
            code: failure.code().to_string(),
            class: if failure.is_retryable() {
                ErrorClass::Retryable
            } else {
                ErrorClass::Permanent
            },
            http_status: None,
            detail: None,
        }
    }

    pub(crate) fn http(
        method: &'static str,
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
    ) -> Self {
        let class = match status {
            429 => ErrorClass::RateLimited {
                retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
            },
            _ if status_is_retryable(status) => ErrorClass::Retryable,
            _ => ErrorClass::Permanent,
        };
        let code = match status {
            429 => "ratelimited".to_string(),
            _ if !body.trim().is_empty() && body.len() < 100 && !body.contains('<') => {
                body.trim().to_string()
            }
            _ => format!("http_{status}"),
        };
        Self {
            method,
            code,
            class,
            http_status: Some(status),
            detail: None,
        }
    }
}

/// Slack's documented error codes, sorted into retry and give-up (docs/architecture.md,
/// "Durability").
pub fn classify_code(code: &str) -> ErrorClass {
    match code {
        "ratelimited" | "rate_limited" => ErrorClass::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "team_added_to_org"
        | "org_login_required"
        | "update_failed" => ErrorClass::Retryable,
        _ => ErrorClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_slack_codes() {
        for code in [
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
        ] {
            assert_eq!(classify_code(code), ErrorClass::Retryable, "{code}");
        }
        for code in [
            "invalid_auth",
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "msg_too_long",
            "invalid_blocks",
            "missing_scope",
        ] {
            assert_eq!(classify_code(code), ErrorClass::Permanent, "{code}");
        }
        assert!(matches!(
            classify_code("ratelimited"),
            ErrorClass::RateLimited { .. }
        ));
    }

    #[test]
    fn classifies_http_statuses() {
        let limited = SlackError::http("chat.postMessage", 429, Some(Duration::from_secs(7)), "");
        assert_eq!(
            limited.class,
            ErrorClass::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        assert_eq!(
            SlackError::http("m", 503, None, "").class,
            ErrorClass::Retryable
        );
        assert_eq!(
            SlackError::http("m", 501, None, "").class,
            ErrorClass::Permanent,
            "the same request is refused again"
        );
        let gone = SlackError::http("webhook", 404, None, "channel_not_found");
        assert_eq!(gone.class, ErrorClass::Permanent);
        assert_eq!(gone.code, "channel_not_found");
        assert_eq!(SlackError::http("m", 400, None, "<html>").code, "http_400");
    }
}
