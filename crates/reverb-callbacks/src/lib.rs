//! Slack interactivity for Reverb: signature checks, payload parsing, recording manual judgments
//! in Orca, and Echo's callback relay to Keel.
//!
//! The HTTP route verifies ([`verify_signature`]) and parses ([`parse_interaction`]) the
//! request, acknowledges Slack at once (Slack allows 3 seconds), and hands the [`Interaction`] to
//! [`ClickHandler::handle`] on a spawned task. Nothing in the handler depends on HTTP, so clicks
//! arriving over Socket Mode use it unchanged ([`Interaction::from_payload`]).

mod buttons;
mod fiat;
mod handler;
mod identity;
mod interaction;
mod judgment;
mod manifest;
mod metrics;
mod orca;
mod peer;
mod relay;
mod replies;
mod resolution;
mod settings;
mod signature;

pub use buttons::{ClickedMessage, JudgmentClick, Route, callback_service_id, route};
pub use handler::{AcceptedClick, ClickHandler, ClickOutcome, SlackAppCheck, StoreCallError};
pub use identity::{EMAIL_SCOPE, IdentitySettings, USERS_SCOPE, missing_scope_effects};
pub use interaction::{
    CallbackError, Interaction, InteractionAction, InteractionKind, SlackUserRef, parse_interaction,
};
pub use manifest::{BOT_SCOPES, slack_app_manifest};
pub use resolution::{Decision, ResolutionRenderer, ResolvedJudgment};
pub use settings::{CallbackSettings, ServiceBaseUrls};
pub use signature::{DEFAULT_TOLERANCE_SECS, SignatureError, sign_v0, verify_signature};
