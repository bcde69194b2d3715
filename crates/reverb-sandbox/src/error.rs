//! Errors returned by the library side of the fakes (clicks and judgments driven from tests).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SandboxError {
    #[error("no interactivity URL is configured on the fake Slack")]
    NoInteractivityUrl,
    #[error("channel {0:?} is not known to the fake Slack")]
    ChannelNotFound(String),
    #[error("no message with ts {ts:?} in channel {channel:?}")]
    MessageNotFound { channel: String, ts: String },
    #[error("user {0:?} is not known to the fake Slack")]
    UserNotFound(String),
    #[error("message {ts:?} has no button or menu matching {action:?}")]
    ActionNotFound { ts: String, action: String },
    #[error("menu {action:?} has no option with value {option:?}")]
    OptionNotFound { action: String, option: String },
    #[error("menu {0:?} needs a selected option")]
    OptionRequired(String),
    #[error("execution {0:?} is not known to the fake Orca")]
    ExecutionNotFound(String),
    #[error("execution {0:?} has no running manual judgment stage")]
    NoRunningJudgment(String),
    /// The fake Orca (with Fiat) refused the judge: Orca's 403 message.
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("the fake's background task failed: {0}")]
    Background(String),
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
}
