//! Every error answers in Spinnaker's JSON shape ([`reverb_http::errors`]); this adds the
//! middleware hook that gives actix's own error answers the same shape.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
pub use reverb_http::errors::{ApiError, error_body};

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
        .contains::<reverb_echo::RelayedFromEcho>();
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
