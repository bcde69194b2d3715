//! The Slack message Reverb renders and sends (`chat.postMessage` / `chat.update` arguments).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message body. `channel`, `ts` and `thread_ts` are filled in by the delivery engine.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SlackMessage {
    /// Fallback and notification text; always set.
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Value>>,
    /// Echo sends `link_names=1` when `expandUserNames` is on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub link_names: bool,
}
