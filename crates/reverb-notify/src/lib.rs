//! Echo's rules for what to send to Slack, and Reverb's manual-judgment buttons.
//!
//! - [`plan_event`]: an Orca event (`POST /`) → the messages Echo's `SlackNotificationAgent` would
//!   send, plus edits that close manual-judgment messages when their stage ends.
//! - [`plan_notification`]: a `POST /notifications` → Echo's `SlackNotificationService` /
//!   `SlackInteractiveNotificationService` messages; Orca manual judgments get Approve/Reject
//!   buttons when [`NotifyContext::judgment_buttons`] holds the key.
//! - [`render_judgment_resolution`]: the view that replaces the buttons after a decision.
//!
//! Nothing here sends or stores: the result is a list of [`OutboundMessage`]s for the outbox.

mod events;
mod json;
mod judgment;
mod links;
mod notifications;
mod probe;

pub use events::plan_event;
pub use judgment::{ResolvedJudgment, render_judgment_resolution};
pub use links::{execution_link, execution_ref_key, judgment_ref_key};
pub use notifications::plan_notification;
pub use probe::EventProbe;
pub use reverb_templates::Decision;

use reverb_model::OutboundMessage;
use reverb_model::judgment::ButtonKey;

/// The configuration the rules depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyContext {
    /// `spinnaker.baseUrl`: Deck links.
    pub spinnaker_base_url: String,
    /// `slack.sendCompactMessages`.
    pub legacy_compact: bool,
    /// `slack.app.sendCompactMessages`.
    pub app_compact: bool,
    /// `slack.expandUserNames`.
    pub legacy_link_names: bool,
    /// `slack.app.expandUserNames`.
    pub app_link_names: bool,
    /// Add Approve/Reject buttons to Orca manual judgments (sent with the Slack app), their
    /// values minted with this key; `None`: no buttons.
    pub judgment_buttons: Option<ButtonKey>,
    /// `reverb.slack.threads`: stage messages reply in the thread of the pipeline's message.
    pub threads: bool,
}

/// What to do with a `POST /notifications`.
#[derive(Debug, Clone, PartialEq)]
pub enum NotificationPlan {
    /// Send these, in order.
    Slack(Vec<OutboundMessage>),
    /// Not a Slack notification: the server answers 200 with an empty body, as Echo does when
    /// no service takes a type.
    NotHandled,
}

/// A notification Reverb cannot send (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("notificationType is required")]
    MissingNotificationType,
    #[error("\"to\" is required: list the Slack channels or users to notify")]
    MissingRecipients,
    #[error(
        "interactiveActions.actions[{index}] needs a name, a label and a value (Slack buttons require all three)"
    )]
    InvalidButton { index: usize },
    #[error(
        "unknown templateGroup '{0}' for SLACK notifications: use manualJudgment, manualJudgmentContinue, manualJudgmentStop, or none with additionalContext.subject/body"
    )]
    UnknownTemplateGroup(String),
    #[error("additionalContext.body (or customBody) is required when no templateGroup is given")]
    MissingBody,
    /// A caller may not make buttons that Reverb's own click handling would act on.
    #[error(
        "interactiveActions.callbackServiceId '{0}' is reserved by Reverb: use the id of the service that handles the callback (e.g. keel)"
    )]
    ReservedCallbackService(String),
}

#[cfg(test)]
mod tests;
