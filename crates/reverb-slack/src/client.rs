//! A Slack Web API client: JSON bodies with `Authorization: Bearer`, Slack's envelope read
//! honestly (`ok:false` is an error, whatever the HTTP status), and Echo's incoming-webhook mode.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reverb_model::SlackMessage;
use reverb_support::http::retry_after;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::SlackError;

/// How to reach one Slack app (Echo keeps a legacy bot and an interactive app apart).
#[derive(Clone)]
pub struct SlackClientConfig {
    /// `https://slack.com` (Web API under `/api/`), or the webhook base in webhook mode.
    pub base_url: String,
    pub token: Option<String>,
    /// Echo's incoming-webhook mode: `POST {base_url}/{token}`.
    pub incoming_webhook: bool,
    pub timeout: Duration,
}

impl std::fmt::Debug for SlackClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackClientConfig")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "******"))
            .field("incoming_webhook", &self.incoming_webhook)
            .finish()
    }
}

/// Where a posted message landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel_id: String,
    pub ts: String,
}

/// The parts of a Slack user Reverb reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlackUser {
    pub id: String,
    pub name: Option<String>,
    pub real_name: Option<String>,
    pub email: Option<String>,
    pub deleted: bool,
    /// The user's own workspace (another organisation's for a Slack Connect stranger).
    pub team_id: Option<String>,
    /// A bot or an app user: never a person who can be held to a judgment.
    pub is_bot: bool,
    /// A multi-channel guest (`is_restricted`) or single-channel guest (`is_ultra_restricted`).
    pub is_guest: bool,
    /// Slack's flag for a user of another organisation seen through a shared channel.
    pub is_stranger: bool,
}

/// Who the bot token is (`auth.test`) and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenIdentity {
    pub team_id: String,
    pub enterprise_id: Option<String>,
    /// An org-wide install on Enterprise Grid: clicks come from every workspace of the org.
    pub is_enterprise_install: bool,
    pub bot_user_id: Option<String>,
    /// The scopes Slack listed in `x-oauth-scopes`; `None` when Slack sent no such header.
    pub scopes: Option<Vec<String>>,
}

#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    config: SlackClientConfig,
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    response_metadata: Option<Value>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

impl SlackClient {
    pub fn new(http: reqwest::Client, config: SlackClientConfig) -> Self {
        Self { http, config }
    }

    pub fn config(&self) -> &SlackClientConfig {
        &self.config
    }

    pub fn is_webhook(&self) -> bool {
        self.config.incoming_webhook
    }

    fn api_url(&self, method: &str) -> String {
        format!(
            "{}/api/{method}",
            self.config.base_url.trim_end_matches('/')
        )
    }

    fn bearer(&self) -> Option<String> {
        self.config.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    /// POST a JSON body to a Web API method and open the envelope.
    async fn call_json(
        &self,
        method: &'static str,
        body: &Value,
    ) -> Result<serde_json::Map<String, Value>, SlackError> {
        let mut req = self
            .http
            .post(self.api_url(method))
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .timeout(self.config.timeout)
            .body(body.to_string());
        if let Some(b) = self.bearer() {
            req = req.header(AUTHORIZATION, b);
        }
        self.finish(method, req.send().await).await
    }

    /// GET a read method with query arguments (read methods take no JSON body).
    async fn call_get(
        &self,
        method: &'static str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Map<String, Value>, SlackError> {
        let mut url = reqwest::Url::parse(&self.api_url(method)).map_err(|_| SlackError {
            method,
            code: "invalid_base_url".into(),
            class: crate::ErrorClass::Permanent,
            http_status: None,
            detail: None,
        })?;
        url.query_pairs_mut().extend_pairs(query);
        let mut req = self.http.get(url).timeout(self.config.timeout);
        if let Some(b) = self.bearer() {
            req = req.header(AUTHORIZATION, b);
        }
        self.finish(method, req.send().await).await
    }

    async fn finish(
        &self,
        method: &'static str,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<serde_json::Map<String, Value>, SlackError> {
        self.finish_with_scopes(method, sent)
            .await
            .map(|(map, _)| map)
    }

    /// [`Self::finish`], also returning the `x-oauth-scopes` header Slack sends with answers.
    async fn finish_with_scopes(
        &self,
        method: &'static str,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<(serde_json::Map<String, Value>, Option<String>), SlackError> {
        let resp = sent.map_err(|e| SlackError::transport(method, &e))?;
        let scopes = resp
            .headers()
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers());
        let text = resp
            .text()
            .await
            .map_err(|e| SlackError::transport(method, &e))?;
        if status != 200 {
            return Err(SlackError::http(method, status, retry_after, &text));
        }
        let envelope: Envelope = serde_json::from_str(&text).map_err(|_| SlackError {
            method,
            code: "invalid_response".into(),
            class: crate::ErrorClass::Retryable,
            http_status: Some(status),
            detail: Some("Slack's answer was not JSON".into()),
        })?;
        if envelope.ok {
            Ok((envelope.rest, scopes))
        } else {
            let code = envelope.error.unwrap_or_else(|| "unknown_error".into());
            let detail = envelope
                .response_metadata
                .as_ref()
                .and_then(|m| m.get("messages"))
                .map(Value::to_string);
            Err(SlackError::from_code(method, &code, detail))
        }
    }

    /// `chat.postMessage`, or the incoming webhook in webhook mode (which returns no `ts`).
    pub async fn post_message(
        &self,
        channel: &str,
        message: &SlackMessage,
        thread_ts: Option<&str>,
    ) -> Result<Option<PostedMessage>, SlackError> {
        if self.config.incoming_webhook {
            self.post_webhook(channel, message).await?;
            return Ok(None);
        }
        let mut body = message_body(message);
        body["channel"] = json!(channel);
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call_json("chat.postMessage", &body).await?;
        Ok(Some(posted(&answer, channel)))
    }

    async fn post_webhook(&self, channel: &str, message: &SlackMessage) -> Result<(), SlackError> {
        const METHOD: &str = "webhook";
        let token = self.config.token.as_deref().unwrap_or_default();
        let url = format!(
            "{}/{}",
            self.config.base_url.trim_end_matches('/'),
            token.trim_start_matches('/')
        );
        let mut body = message_body(message);
        body["channel"] = json!(channel);
        self.post_hook(METHOD, &url, &body).await
    }

    /// `chat.update` of a message this app posted (`channel` must be the channel ID).
    pub async fn update_message(
        &self,
        channel_id: &str,
        ts: &str,
        message: &SlackMessage,
    ) -> Result<PostedMessage, SlackError> {
        let mut body = message_body(message);
        body["channel"] = json!(channel_id);
        body["ts"] = json!(ts);
        // An update must clear what the new version no longer has (buttons, attachments).
        if body.get("blocks").is_none() {
            body["blocks"] = json!([]);
        }
        if body.get("attachments").is_none() {
            body["attachments"] = json!([]);
        }
        let answer = self.call_json("chat.update", &body).await?;
        Ok(posted(&answer, channel_id))
    }

    /// `chat.postEphemeral`: only `user` sees it.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        message: &SlackMessage,
    ) -> Result<(), SlackError> {
        let mut body = message_body(message);
        body["channel"] = json!(channel);
        body["user"] = json!(user);
        self.call_json("chat.postEphemeral", &body)
            .await
            .map(|_| ())
    }

    pub async fn users_info(&self, user_id: &str) -> Result<SlackUser, SlackError> {
        let answer = self.call_get("users.info", &[("user", user_id)]).await?;
        Ok(parse_user(
            answer.get("user").unwrap_or(&Value::Null),
            user_id,
        ))
    }

    pub async fn lookup_by_email(&self, email: &str) -> Result<SlackUser, SlackError> {
        let answer = self
            .call_get("users.lookupByEmail", &[("email", email)])
            .await?;
        Ok(parse_user(answer.get("user").unwrap_or(&Value::Null), ""))
    }

    /// `conversations.info`: the channel object, to validate a configured channel.
    pub async fn conversation_info(&self, channel_id: &str) -> Result<Value, SlackError> {
        let answer = self
            .call_get("conversations.info", &[("channel", channel_id)])
            .await?;
        Ok(answer.get("channel").cloned().unwrap_or(Value::Null))
    }

    /// `auth.test`: who this token is (team, bot user).
    pub async fn auth_test(&self) -> Result<serde_json::Map<String, Value>, SlackError> {
        self.call_json("auth.test", &json!({})).await
    }

    /// `auth.test` read as the token's workspace and scopes.
    pub async fn token_identity(&self) -> Result<TokenIdentity, SlackError> {
        let method = "auth.test";
        let mut req = self
            .http
            .post(self.api_url(method))
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .timeout(self.config.timeout)
            .body("{}");
        if let Some(b) = self.bearer() {
            req = req.header(AUTHORIZATION, b);
        }
        let (answer, scopes) = self.finish_with_scopes(method, req.send().await).await?;
        let text = |key: &str| {
            answer
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let team_id = text("team_id").ok_or_else(|| SlackError {
            method,
            code: "invalid_response".into(),
            class: crate::ErrorClass::Retryable,
            http_status: Some(200),
            detail: Some("auth.test named no team_id".into()),
        })?;
        Ok(TokenIdentity {
            team_id,
            enterprise_id: text("enterprise_id"),
            is_enterprise_install: answer
                .get("is_enterprise_install")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            bot_user_id: text("user_id"),
            scopes: scopes.map(|list| {
                list.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
        })
    }

    /// POST a JSON body to an interaction's `response_url` (no token, no envelope).
    pub async fn post_response_url(&self, url: &str, body: &Value) -> Result<(), SlackError> {
        self.post_hook("response_url", url, body).await
    }

    /// POST JSON to a Slack hook URL (incoming webhook, `response_url`): no envelope, plain
    /// HTTP status, `ok` text on success.
    async fn post_hook(
        &self,
        method: &'static str,
        url: &str,
        body: &Value,
    ) -> Result<(), SlackError> {
        let resp = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .timeout(self.config.timeout)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| SlackError::transport(method, &e))?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers());
        let text = resp.text().await.unwrap_or_default();
        if status == 200 {
            Ok(())
        } else {
            Err(SlackError::http(method, status, retry_after, &text))
        }
    }
}

fn message_body(message: &SlackMessage) -> Value {
    let mut body = json!({ "text": message.text });
    if let Some(blocks) = &message.blocks {
        body["blocks"] = json!(blocks);
    }
    if let Some(attachments) = &message.attachments {
        body["attachments"] = json!(attachments);
    }
    if message.link_names {
        body["link_names"] = json!(true);
    }
    body
}

fn posted(answer: &serde_json::Map<String, Value>, fallback_channel: &str) -> PostedMessage {
    PostedMessage {
        channel_id: answer
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or(fallback_channel)
            .to_string(),
        ts: answer
            .get("ts")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

fn parse_user(user: &Value, fallback_id: &str) -> SlackUser {
    let flag = |key: &str| user.get(key).and_then(Value::as_bool).unwrap_or(false);
    let s = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    SlackUser {
        id: s(user.get("id")).unwrap_or_else(|| fallback_id.to_string()),
        name: s(user.get("name")),
        real_name: s(user.get("real_name")).or_else(|| s(user.pointer("/profile/real_name"))),
        email: s(user.pointer("/profile/email")),
        deleted: flag("deleted"),
        team_id: s(user.get("team_id")),
        is_bot: flag("is_bot") || flag("is_app_user"),
        is_guest: flag("is_restricted") || flag("is_ultra_restricted"),
        is_stranger: flag("is_stranger"),
    }
}
