//! Wire types shared by every Reverb crate.
//!
//! The shapes follow Spinnaker Echo's JSON exactly (field names, defaults, nullability), so that
//! Orca, Gate and Keel can talk to Reverb unchanged. Anything Echo treats as free-form stays a
//! [`serde_json::Value`]: Orca's executions carry far more than Reverb reads, and a strict
//! decoder would reject real traffic.

pub mod event;
pub mod judgment;
pub mod notification;
pub mod orca;
pub mod outbound;
pub mod slack;

pub use event::{Event, EventKind, Metadata, OrcaEventType};
pub use notification::{
    ButtonAction, ButtonFields, EchoResponse, InteractiveAction, InteractiveActionCallback,
    InteractiveActions, Notification, NotificationSource, Severity,
};
pub use orca::{Execution, Stage};
pub use outbound::{DeliveryMethod, MessageKind, OutboundMessage, SlackClientKind};
pub use slack::SlackMessage;
