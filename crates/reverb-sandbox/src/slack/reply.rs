//! The fake Slack's answers, kept as data so they can be logged before being sent.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReplyBody {
    Json(Value),
    /// Incoming webhooks answer plain text (`ok`, `no_text`, …).
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: ReplyBody,
    pub(crate) retry_after_secs: Option<u64>,
    /// Extra response headers (`x-oauth-scopes`, …).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: ReplyBody::Json(body),
            retry_after_secs: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    /// Slack's failure envelope: HTTP 200, `ok: false`.
    pub(crate) fn error(code: &str) -> Self {
        Self::json(200, json!({"ok": false, "error": code}))
    }

    pub(crate) fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            body: ReplyBody::Text(text.to_owned()),
            retry_after_secs: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            status: 429,
            body: ReplyBody::Json(json!({"ok": false, "error": "ratelimited"})),
            retry_after_secs: Some(retry_after_secs),
            headers: Vec::new(),
        }
    }

    /// An injected HTTP failure; a 429 looks like Slack's own.
    pub(crate) fn http_failure(status: u16) -> Self {
        if status == 429 {
            return Self::rate_limited(1);
        }
        Self::json(
            status,
            json!({"ok": false, "error": format!("sandbox_http_{status}")}),
        )
    }

    #[must_use]
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// What the call log keeps of the body.
    pub(crate) fn logged_body(&self) -> Value {
        match &self.body {
            ReplyBody::Json(value) => value.clone(),
            ReplyBody::Text(text) => Value::String(text.clone()),
        }
    }

    pub(crate) fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = HttpResponse::build(status);
        if let Some(secs) = self.retry_after_secs {
            builder.insert_header(("Retry-After", secs.to_string()));
        }
        for (name, value) in self.headers {
            builder.insert_header((name, value));
        }
        match self.body {
            ReplyBody::Json(value) => builder
                .content_type("application/json; charset=utf-8")
                .body(value.to_string()),
            ReplyBody::Text(text) => builder.content_type("text/html").body(text),
        }
    }
}
