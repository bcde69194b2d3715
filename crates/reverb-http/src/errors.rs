//! Every error answers with a JSON body shaped like Spinnaker's (kork's error controller):
//! `{"timestamp","status","error","message"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use reverb_support::clock::rfc3339_ms;
use reverb_support::now_ms;
use serde_json::json;

/// An error a route returns on purpose, with the status it deserves.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Close the connection after the answer (`Connection: close`): for a request whose body
    /// was left unread, so that the rest of it cannot keep the connection busy.
    pub close: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            close: false,
        }
    }

    /// The same error, closing the connection after the answer.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = error_response(self.status, &self.message);
        if self.close {
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        response
    }
}

pub fn error_response(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(error_body(status, message))
}

/// The body, stamped with the current time as RFC 3339 with milliseconds in UTC, like Spring's
/// error timestamps.
pub fn error_body(status: StatusCode, message: &str) -> String {
    json!({
        "timestamp": rfc3339_ms(now_ms()),
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_spring_keys() {
        let v: serde_json::Value =
            serde_json::from_str(&error_body(StatusCode::BAD_REQUEST, "nope")).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["error"], "Bad Request");
        assert_eq!(v["message"], "nope");
        let timestamp = v["timestamp"].as_str().unwrap();
        assert!(timestamp.ends_with("+00:00"), "{timestamp}");
        assert_eq!(timestamp.len(), "2024-04-08T10:00:00.005+00:00".len());
    }
}
