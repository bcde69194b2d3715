//! A message waiting in the outbox: what to send, where, and how later updates find it.

use serde::{Deserialize, Serialize};

use crate::SlackMessage;

/// How a message reaches Slack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// `chat.postMessage` (or the incoming webhook in webhook mode).
    Post,
    /// `chat.update` of the message recorded under `ref_key`; posts anew when none was recorded.
    Update,
    /// `chat.postEphemeral` to `ephemeral_user`.
    Ephemeral,
    /// A JSON POST to an interaction's `response_url` (`address` holds the URL).
    ResponseUrl,
}

impl DeliveryMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "post",
            Self::Update => "update",
            Self::Ephemeral => "ephemeral",
            Self::ResponseUrl => "response_url",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "post" => Some(Self::Post),
            "update" => Some(Self::Update),
            "ephemeral" => Some(Self::Ephemeral),
            "response_url" => Some(Self::ResponseUrl),
            _ => None,
        }
    }
}

/// Which Slack client sends the message: Echo keeps a legacy bot and an interactive app apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlackClientKind {
    #[default]
    Legacy,
    App,
}

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct OutboundMessage {
    /// What produced it, for metrics: `pipeline`, `stage`, `manualJudgment`, `notification`, ...
    pub kind: String,
    /// The address as the user wrote it (`#chan`, `chan`, `C123`, `U123`, `a@b.c`).
    pub address: String,
    pub method: DeliveryMethod,
    #[serde(default)]
    pub client: SlackClientKind,
    pub message: SlackMessage,
    /// Key under which the delivered message's channel and `ts` are recorded (Post), or the
    /// message to edit (Update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_key: Option<String>,
    /// Post into the thread of the message recorded under this key, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_user: Option<String>,
    /// For `Update`: post a new message when nothing was recorded under `ref_key` (the thread
    /// parent case); otherwise an update with nothing to edit is dropped (the judgment case).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub post_if_missing: bool,
    /// Not stored at all when this judgment was already decided through Reverb: the check and
    /// the insert are one transaction, so an edit from Orca's side can never land after (and
    /// overwrite) the richer view a click produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unless_judgment_decided: Option<String>,
}

impl OutboundMessage {
    pub fn post(
        kind: impl Into<String>,
        address: impl Into<String>,
        message: SlackMessage,
    ) -> Self {
        Self {
            kind: kind.into(),
            address: address.into(),
            method: DeliveryMethod::Post,
            client: SlackClientKind::Legacy,
            message,
            ref_key: None,
            thread_key: None,
            ephemeral_user: None,
            post_if_missing: false,
            unless_judgment_decided: None,
        }
    }

    /// An edit of the message recorded under `ref_key`.
    pub fn update(
        kind: impl Into<String>,
        address: impl Into<String>,
        ref_key: impl Into<String>,
        message: SlackMessage,
    ) -> Self {
        Self {
            method: DeliveryMethod::Update,
            ref_key: Some(ref_key.into()),
            ..Self::post(kind, address, message)
        }
    }

    pub fn with_thread_key(mut self, key: impl Into<String>) -> Self {
        self.thread_key = Some(key.into());
        self
    }

    pub fn with_ref_key(mut self, key: impl Into<String>) -> Self {
        self.ref_key = Some(key.into());
        self
    }

    pub fn with_client(mut self, client: SlackClientKind) -> Self {
        self.client = client;
        self
    }

    /// The ordering lane: messages to the same channel go out in acceptance order. `#chan` and
    /// `chan` are one channel, as Slack treats them.
    pub fn lane(&self) -> String {
        match self.method {
            DeliveryMethod::ResponseUrl => "response_url".to_string(),
            _ => Self::lane_of(&self.address),
        }
    }

    /// The lane of a channel address, for building keys before a message exists.
    pub fn lane_of(address: &str) -> String {
        address.trim_start_matches('#').to_lowercase()
    }
}
