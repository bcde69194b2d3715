//! Every error answers with a JSON body shaped like Spinnaker's (kork's error controller):
//! `{"timestamp","status","error","message"}`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use reverb_templates::civil_from_days;
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

pub fn error_body(status: StatusCode, message: &str) -> String {
    json!({
        "timestamp": rfc3339_now(),
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    })
    .to_string()
}

/// Middleware hook: any error response that is not already JSON (actix's own 404/405/413…)
/// gets the Spinnaker-shaped JSON body.
pub fn jsonify_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // Echo's own answers, relayed, stay exactly as Echo sent them.
    let relayed = res
        .response()
        .extensions()
        .contains::<crate::echo::RelayedFromEcho>();
    if is_json || relayed {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = match status {
        StatusCode::NOT_FOUND => format!(
            "No handler for {} {}",
            res.request().method(),
            res.request().path()
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{} is not supported here", res.request().method())
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            "Request body is larger than the configured limit".to_string()
        }
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    let (req, mut response) = res.into_parts();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let response = response.set_body(BoxBody::new(error_body(status, &message)));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// UTC now as RFC 3339 with milliseconds, like Spring's error timestamps.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format_rfc3339(now.as_secs() as i64, now.subsec_millis())
}

fn format_rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}+00:00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(
            format_rfc3339(1_712_570_400, 5),
            "2024-04-08T10:00:00.005+00:00"
        );
        assert_eq!(
            format_rfc3339(951_782_400, 0),
            "2000-02-29T00:00:00.000+00:00"
        );
    }

    #[test]
    fn error_body_has_spring_keys() {
        let v: serde_json::Value =
            serde_json::from_str(&error_body(StatusCode::BAD_REQUEST, "nope")).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["error"], "Bad Request");
        assert_eq!(v["message"], "nope");
        assert!(v["timestamp"].as_str().unwrap().ends_with("+00:00"));
    }
}
