//! Reading a Slack-bound request the way Slack does: JSON body (Bearer only), form body (Bearer
//! or a `token` field, with `attachments`/`blocks` as JSON strings), or query arguments.

use actix_web::HttpRequest;
use actix_web::http::header;
use serde_json::{Map, Value};

use super::model::SlackAuth;

/// Form fields that carry JSON documents as strings.
const JSON_STRING_FIELDS: &[&str] = &["attachments", "blocks", "metadata"];

#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) http_method: String,
    pub(crate) path: String,
    pub(crate) content_type: Option<String>,
    pub(crate) auth: Option<SlackAuth>,
    pub(crate) args: Map<String, Value>,
    /// The Slack error code for a body that could not be read (`invalid_json`, …).
    pub(crate) body_error: Option<&'static str>,
    /// A JSON body whose Content-Type lacks `charset` (Slack warns `missing_charset`).
    pub(crate) missing_charset: bool,
}

impl Incoming {
    pub(crate) fn parse(request: &HttpRequest, body: &[u8]) -> Self {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let essence = content_type
            .as_deref()
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());

        let mut args = Map::new();
        let query = form_pairs(request.query_string().as_bytes()).unwrap_or_default();
        let query_token = query
            .iter()
            .find(|(key, _)| key == "token")
            .map(|(_, value)| value.clone());
        insert_form_pairs(&mut args, query);

        let mut body_error = None;
        let mut form_token = None;
        let mut missing_charset = false;
        if !body.is_empty() {
            // Without a Content-Type, a body that looks like JSON is read as JSON (webhooks).
            let sniffed = match essence.as_deref() {
                None if body.trim_ascii_start().starts_with(b"{") => Some("application/json"),
                other => other,
            };
            match sniffed {
                Some("application/json") => {
                    missing_charset = !content_type
                        .as_deref()
                        .is_some_and(|value| value.to_ascii_lowercase().contains("charset="));
                    match serde_json::from_slice::<Value>(body) {
                        Ok(Value::Object(map)) => args.extend(map),
                        _ => body_error = Some("invalid_json"),
                    }
                }
                Some("application/x-www-form-urlencoded") | None => match form_pairs(body) {
                    Some(pairs) => {
                        form_token = pairs
                            .iter()
                            .find(|(key, _)| key == "token")
                            .map(|(_, value)| value.clone());
                        insert_form_pairs(&mut args, pairs);
                    }
                    None => body_error = Some("invalid_form_data"),
                },
                Some(_) => body_error = Some("invalid_post_type"),
            }
        }

        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(|token| token.trim().to_owned());
        let auth = bearer
            .map(SlackAuth::Bearer)
            .or_else(|| form_token.map(SlackAuth::FormToken))
            .or_else(|| query_token.map(SlackAuth::QueryToken));

        Self {
            http_method: request.method().as_str().to_owned(),
            path: request.path().to_owned(),
            content_type,
            auth,
            args,
            body_error,
            missing_charset,
        }
    }

    pub(crate) fn str_arg(&self, key: &str) -> Option<&str> {
        self.args
            .get(key)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
    }

    /// Slack's booleans arrive as JSON booleans or as "true"/"1" strings.
    pub(crate) fn bool_arg(&self, key: &str) -> bool {
        match self.args.get(key) {
            Some(Value::Bool(flag)) => *flag,
            Some(Value::String(text)) => matches!(text.as_str(), "true" | "1"),
            Some(Value::Number(number)) => number.as_i64() == Some(1),
            _ => false,
        }
    }

    pub(crate) fn args_value(&self) -> Value {
        Value::Object(self.args.clone())
    }
}

fn form_pairs(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).ok()
}

fn insert_form_pairs(args: &mut Map<String, Value>, pairs: Vec<(String, String)>) {
    for (key, value) in pairs {
        let parsed = if JSON_STRING_FIELDS.contains(&key.as_str()) {
            serde_json::from_str::<Value>(&value).unwrap_or(Value::String(value))
        } else {
            Value::String(value)
        };
        args.insert(key, parsed);
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn echo_style_form_with_token_field_and_attachments_string() {
        let body = "token=xoxb-1&channel=%23deploys&as_user=true&attachments=%5B%7B%22text%22%3A%22hi%22%7D%5D";
        let request = TestRequest::post()
            .uri("/api/chat.postMessage")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .to_http_request();
        let incoming = Incoming::parse(&request, body.as_bytes());
        assert_eq!(incoming.auth, Some(SlackAuth::FormToken("xoxb-1".into())));
        assert_eq!(incoming.str_arg("channel"), Some("#deploys"));
        assert!(incoming.bool_arg("as_user"));
        assert_eq!(
            incoming.args["attachments"],
            serde_json::json!([{"text": "hi"}])
        );
        assert_eq!(incoming.body_error, None);
    }

    #[test]
    fn json_with_bearer_and_json_without_charset() {
        let request = TestRequest::post()
            .uri("/api/chat.postMessage")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header((header::AUTHORIZATION, "Bearer xoxb-2"))
            .to_http_request();
        let incoming = Incoming::parse(
            &request,
            br#"{"channel":"C0GENERAL01","text":"hi","token":"ignored"}"#,
        );
        assert_eq!(incoming.auth, Some(SlackAuth::Bearer("xoxb-2".into())));
        assert!(incoming.missing_charset);
        assert_eq!(incoming.str_arg("text"), Some("hi"));
    }

    #[test]
    fn json_body_token_is_not_authentication() {
        let request = TestRequest::post()
            .uri("/api/chat.postMessage")
            .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
            .to_http_request();
        let incoming = Incoming::parse(&request, br#"{"token":"xoxb-3","channel":"x"}"#);
        assert_eq!(incoming.auth, None);
        assert!(!incoming.missing_charset);
    }

    #[test]
    fn query_token_and_bad_json() {
        let request = TestRequest::get()
            .uri("/api/users.info?token=xoxb-4&user=U0JANE0001")
            .to_http_request();
        let incoming = Incoming::parse(&request, b"");
        assert_eq!(incoming.auth, Some(SlackAuth::QueryToken("xoxb-4".into())));
        assert_eq!(incoming.str_arg("user"), Some("U0JANE0001"));

        let request = TestRequest::post()
            .uri("/api/chat.postMessage")
            .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
            .to_http_request();
        assert_eq!(
            Incoming::parse(&request, b"{nope").body_error,
            Some("invalid_json")
        );
    }
}
