//! What the fake Slack records and stores, as seen by tests and by the control API.

use std::borrow::Cow;
use std::time::{Duration, Instant, SystemTime};

use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::{BOT_ID, BOT_USER_ID, TEAM_ID};
use crate::ids::epoch_ms;

/// How a request authenticated itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "style", content = "token")]
pub enum SlackAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// A `token` field in a form body (what Echo sends).
    FormToken(String),
    /// A `token` query parameter (Echo's `users.info` GET).
    QueryToken(String),
}

impl SlackAuth {
    pub fn token(&self) -> &str {
        match self {
            Self::Bearer(token) | Self::FormToken(token) | Self::QueryToken(token) => token,
        }
    }
}

/// One request the fake Slack received (Web API, incoming webhook or `response_url`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlackCall {
    /// Sequence number, unique within the fake's life (survives `reset`).
    pub id: u64,
    /// The Web API method (`chat.postMessage`, …), or `webhook`, `response_url`, `unknown`.
    pub method: String,
    pub http_method: String,
    pub path: String,
    pub auth: Option<SlackAuth>,
    pub content_type: Option<String>,
    /// The arguments as a JSON object: the JSON body, or the form/query fields with the
    /// `attachments`, `blocks` and `metadata` JSON strings parsed into JSON.
    pub args: Value,
    /// HTTP status answered (0 while the answer is still being prepared).
    pub status: u16,
    /// The answer's body (JSON, or a JSON string for plain-text answers).
    pub response: Value,
    #[serde(skip)]
    pub received_at: Instant,
    #[serde(rename = "receivedAtMs", serialize_with = "serialize_epoch_ms")]
    pub received_at_system: SystemTime,
}

impl SlackCall {
    /// A string argument, e.g. `call.arg_str("channel")`.
    pub fn arg_str(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str)
    }

    /// The `ok` field of a Web API answer.
    pub fn ok(&self) -> Option<bool> {
        self.response.get("ok").and_then(Value::as_bool)
    }

    /// The `error` code of a Web API answer.
    pub fn error(&self) -> Option<&str> {
        self.response.get("error").and_then(Value::as_str)
    }
}

fn serialize_epoch_ms<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_i64(epoch_ms(*time))
}

/// An injected fault for the next request(s) to one method.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Answer with this HTTP status (a 429 carries `Retry-After: 1` and Slack's
    /// `{"ok":false,"error":"ratelimited"}`).
    Http(u16),
    /// Answer HTTP 200 `{"ok":false,"error":<code>}` (plain text for webhooks and response_url).
    SlackError(Cow<'static, str>),
    /// Answer HTTP 429 with this `Retry-After` (whole seconds, sent as given, however large).
    RetryAfter(u64),
    /// Do the work, then hold the answer back this long (the message IS posted, as when a real
    /// client times out on a request Slack already handled).
    Delay(Duration),
}

impl Failure {
    /// E.g. `Failure::slack_error("user_not_found")` for `users.info`.
    pub fn slack_error(code: impl Into<Cow<'static, str>>) -> Self {
        Self::SlackError(code.into())
    }

    /// HTTP 429 with `Retry-After: 1`, as Slack rate-limits a method.
    pub fn rate_limited() -> Self {
        Self::Http(429)
    }
}

/// Where a stored message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageOrigin {
    PostMessage,
    Webhook,
    ResponseUrl,
    PostEphemeral,
}

/// A message as it currently stands in a channel (edits applied).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackStoredMessage {
    /// Channel id (`C…`, `G…` or `D…`).
    pub channel: String,
    pub ts: String,
    /// Set on thread replies.
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Option<Value>,
    pub attachments: Option<Value>,
    pub username: Option<String>,
    pub reply_broadcast: bool,
    /// Number of edits applied (chat.update or a replacing response_url post).
    pub edit_count: u32,
    pub origin: MessageOrigin,
    /// For ephemeral messages: the only user who sees it.
    pub visible_to: Option<String>,
    /// The arguments of the latest post or edit, as received.
    pub args: Value,
}

impl SlackStoredMessage {
    /// The message as Slack's API shows it (`message` in chat.postMessage answers and payloads).
    /// Attachments get Slack's 1-based `id`s, as in the `original_message` of legacy payloads.
    pub fn to_slack_json(&self) -> Value {
        let mut message = Map::new();
        message.insert("type".into(), json!("message"));
        if self.origin == MessageOrigin::Webhook {
            message.insert("subtype".into(), json!("bot_message"));
        }
        message.insert("text".into(), json!(self.text));
        message.insert("user".into(), json!(BOT_USER_ID));
        message.insert("bot_id".into(), json!(BOT_ID));
        message.insert("team".into(), json!(TEAM_ID));
        message.insert("ts".into(), json!(self.ts));
        if let Some(username) = &self.username {
            message.insert("username".into(), json!(username));
        }
        if let Some(thread_ts) = &self.thread_ts {
            message.insert("thread_ts".into(), json!(thread_ts));
        }
        if let Some(blocks) = &self.blocks {
            message.insert("blocks".into(), blocks.clone());
        }
        if let Some(attachments) = &self.attachments {
            message.insert("attachments".into(), with_attachment_ids(attachments));
        }
        if self.edit_count > 0 {
            message.insert("edited".into(), json!({"user": BOT_USER_ID, "ts": self.ts}));
        }
        Value::Object(message)
    }

    /// Every text the message shows, joined: handy for assertions.
    pub fn all_text(&self) -> String {
        let mut parts = vec![self.text.clone()];
        for source in [&self.blocks, &self.attachments].into_iter().flatten() {
            collect_strings(source, &mut parts);
        }
        parts.join("\n")
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match inner {
                    Value::String(text)
                        if matches!(key.as_str(), "text" | "title" | "pretext" | "fallback") =>
                    {
                        out.push(text.clone());
                    }
                    _ => collect_strings(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

fn with_attachment_ids(attachments: &Value) -> Value {
    let Some(list) = attachments.as_array() else {
        return attachments.clone();
    };
    let numbered = list
        .iter()
        .enumerate()
        .map(|(index, attachment)| {
            let mut attachment = attachment.clone();
            if let Some(map) = attachment.as_object_mut() {
                map.entry("id").or_insert_with(|| json!(index + 1));
                if let Some(actions) = map.get_mut("actions").and_then(Value::as_array_mut) {
                    for (action_index, action) in actions.iter_mut().enumerate() {
                        if let Some(action) = action.as_object_mut() {
                            action
                                .entry("id")
                                .or_insert_with(|| json!((action_index + 1).to_string()));
                        }
                    }
                }
            }
            attachment
        })
        .collect();
    Value::Array(numbered)
}

/// A workspace member, or a person from another organisation met in a shared channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlackUser {
    pub id: String,
    pub name: String,
    pub real_name: String,
    /// `profile.email`, as stored (no trimming or case folding).
    pub email: Option<String>,
    pub is_bot: bool,
    pub deleted: bool,
    /// The user's own team: [`TEAM_ID`] for the workspace's members, another team's id for
    /// people from another organisation in a Slack Connect channel.
    pub team_id: String,
    pub is_admin: bool,
    pub is_owner: bool,
    pub is_primary_owner: bool,
    /// A guest (multi-channel guest); single-channel guests have this and `is_ultra_restricted`.
    pub is_restricted: bool,
    pub is_ultra_restricted: bool,
    pub is_app_user: bool,
    /// Slack's `is_stranger`: a user of another workspace who shares no channel the app can
    /// see. People from another organisation in a shared channel the app is in are not
    /// strangers: only their `team_id` tells them apart (Slack's "determining whether a user is
    /// external must be done implicitly"). Sent only when true.
    pub is_stranger: bool,
    /// For bot users: `profile.bot_id`.
    pub bot_id: Option<String>,
}

impl SlackUser {
    pub fn new(id: &str, name: &str, real_name: &str, email: Option<&str>) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            real_name: real_name.to_owned(),
            email: email.map(str::to_owned),
            is_bot: false,
            deleted: false,
            team_id: TEAM_ID.to_owned(),
            is_admin: false,
            is_owner: false,
            is_primary_owner: false,
            is_restricted: false,
            is_ultra_restricted: false,
            is_app_user: false,
            is_stranger: false,
            bot_id: None,
        }
    }

    /// Whether the user belongs to another team than the fake workspace.
    pub fn is_external(&self) -> bool {
        self.team_id != TEAM_ID
    }

    /// The `user` object of `users.info` / `users.lookupByEmail`. `profile.email` is only
    /// there with the `users:read.email` scope (`with_email`), as on Slack.
    pub fn to_slack_json(&self, with_email: bool) -> Value {
        let mut profile = Map::new();
        profile.insert("real_name".into(), json!(self.real_name));
        profile.insert("display_name".into(), json!(self.name));
        if let (Some(email), true) = (&self.email, with_email) {
            profile.insert("email".into(), json!(email));
        }
        if let Some(bot_id) = &self.bot_id {
            profile.insert("bot_id".into(), json!(bot_id));
        }
        profile.insert("team".into(), json!(self.team_id));
        let mut user = json!({
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": self.is_primary_owner,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": self.is_ultra_restricted,
            "is_bot": self.is_bot,
            "is_app_user": self.is_app_user,
            "has_2fa": !self.is_bot,
            "profile": Value::Object(profile),
        });
        if let (true, Some(map)) = (self.is_stranger, user.as_object_mut()) {
            map.insert("is_stranger".into(), json!(true));
        }
        user
    }
}

/// A conversation: public or private channel, or the bot's DM with a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlackChannel {
    pub id: String,
    pub name: String,
    pub is_private: bool,
    pub is_archived: bool,
    pub is_im: bool,
    /// Whether the bot is in it (private channels the bot was never invited to answer
    /// `not_in_channel`).
    pub is_member: bool,
    /// For DMs: the other user.
    pub user: Option<String>,
}

impl SlackChannel {
    pub fn public(id: &str, name: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            is_private: false,
            is_archived: false,
            is_im: false,
            is_member: true,
            user: None,
        }
    }

    /// The `channel` object of `conversations.info`.
    pub fn to_slack_json(&self) -> Value {
        let mut channel = json!({
            "id": self.id,
            "name": self.name,
            "is_channel": !self.is_private && !self.is_im,
            "is_group": false,
            "is_im": self.is_im,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": self.is_member,
            "context_team_id": TEAM_ID,
        });
        if let (Some(user), Some(map)) = (&self.user, channel.as_object_mut()) {
            map.insert("user".into(), json!(user));
        }
        channel
    }
}

/// Counters for `GET /_sandbox/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlackStats {
    pub calls: usize,
    pub rate_limited: usize,
}
