//! plan_event / plan_notification against Echo's own test cases and the shared fixtures.

mod echo_agent;
mod fixtures;
mod injection;
mod notifications;
mod threads;

use reverb_model::{Event, Notification, OutboundMessage};
use reverb_templates::{MessageStyle, TemplateEngine, TemplateOptions};
use serde_json::Value;

use crate::NotifyContext;

pub(crate) fn templates(style: MessageStyle) -> TemplateEngine {
    TemplateEngine::load(TemplateOptions {
        override_dir: None,
        style,
    })
    .unwrap()
}

/// Echo's agent spec uses `spinnakerUrl: 'http://spinnaker'`.
pub(crate) fn ctx() -> NotifyContext {
    NotifyContext {
        spinnaker_base_url: "http://spinnaker".into(),
        ..NotifyContext::default()
    }
}

pub(crate) fn event(value: Value) -> Event {
    serde_json::from_value(value).unwrap()
}

pub(crate) fn notification(value: Value) -> Notification {
    serde_json::from_value(value).unwrap()
}

/// The first attachment of a message (attachments style: Echo's attachment).
pub(crate) fn attachment(message: &OutboundMessage) -> &serde_json::Map<String, Value> {
    message.message().attachments.as_ref().unwrap()[0]
        .as_object()
        .unwrap()
}

/// The key a post records, or the key of the message an update edits.
pub(crate) fn ref_key(message: &OutboundMessage) -> Option<&str> {
    match message {
        OutboundMessage::Post(post) => post.ref_key.as_deref(),
        OutboundMessage::Update(update) => Some(&update.ref_key),
        _ => None,
    }
}

/// The key of the message a post replies in the thread of.
pub(crate) fn thread_key(message: &OutboundMessage) -> Option<&str> {
    match message {
        OutboundMessage::Post(post) => post.thread_key.as_deref(),
        _ => None,
    }
}

/// Whether an update posts anew when there is nothing to edit.
pub(crate) fn post_if_missing(message: &OutboundMessage) -> bool {
    matches!(message, OutboundMessage::Update(update) if update.post_if_missing)
}

pub(crate) fn text_of(message: &OutboundMessage) -> String {
    attachment(message)["text"].as_str().unwrap().to_string()
}

#[test]
fn engine_and_plans_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TemplateEngine>();
    shareable::<NotifyContext>();
    shareable::<crate::NotificationPlan>();
}
