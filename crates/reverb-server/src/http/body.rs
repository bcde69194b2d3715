//! Reading request bodies ourselves, so that size and content-type problems get clear JSON
//! errors instead of extractor defaults.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;

use super::errors::ApiError;

/// Read the whole body, refusing more than `limit` bytes with a 413.
pub async fn read_limited(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Request body is larger than the limit of {limit} bytes (reverb.server.maxRequestBodySize)"
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn content_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// JSON endpoints take `application/json` (or `+json`), or no content type at all (as some
/// scripts send); anything else is a 415, as Spring answers.
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    match content_type(req) {
        None => Ok(()),
        Some(ct) if ct == "application/json" || ct.ends_with("+json") => Ok(()),
        Some(ct) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content type '{ct}' not supported; send application/json"),
        )),
    }
}

/// Slack's callbacks are form-encoded; Gate relays them with the same type.
pub fn require_form(req: &HttpRequest) -> Result<(), ApiError> {
    match content_type(req) {
        Some(ct) if ct == "application/x-www-form-urlencoded" => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content type '{}' not supported; Slack callbacks are application/x-www-form-urlencoded",
                other.unwrap_or_default()
            ),
        )),
    }
}

/// Decode a JSON body into `T`, with serde's line and column in the 400 message.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "Required request body is missing: expected {what} JSON"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed {what} JSON: {e}")))
}
