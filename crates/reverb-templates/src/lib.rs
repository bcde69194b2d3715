//! Rendering Reverb's Slack messages from Tera templates (`templates/` at the repository root,
//! built into the binary; an operator may override any of them from a directory).
//!
//! Rendering only: nothing here sends. Each message kind has a body template (`<kind>.tera`,
//! Slack mrkdwn) and a title template (`<kind>-subject.tera`, plain text); `layout.tera` turns
//! both into the Slack message JSON, as Block Kit in a coloured attachment (`blocks` style) or
//! as Echo's legacy attachment (`attachments` style). Every rendered message is cut to Slack's
//! limits, and a failing override falls back to the built-in template.

mod engine;
mod error;
mod filters;
mod html_text;
pub mod limits;
mod markdown;
pub mod mrkdwn;
mod samples;
mod views;

pub use engine::{
    FOOTER, FOOTER_ICON, MessageStyle, RenderedTexts, TemplateEngine, TemplateOptions,
    UnknownMessageStyle,
};
pub use error::TemplateError;
pub use filters::{capitalize_words, civil_from_days, group_thousands, slack_date, utc_minutes};
pub use html_text::{html_to_mrkdwn, html_to_text};
pub use markdown::markdown_to_html;
pub use views::{
    BuildView, Decision, EventView, JudgmentButton, JudgmentButtons, JudgmentGroup, JudgmentLinks,
    LayoutOptions, LegacyActions, LegacyButton, ManualJudgmentView, MessageContent,
    NotificationView, ResolvedJudgment, TemplateKind,
};

#[cfg(test)]
mod tests;
