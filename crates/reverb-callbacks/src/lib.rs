//! Slack interactivity for Reverb: signature checks, payload parsing, recording manual judgments
//! in Orca, and Echo's callback relay to Keel.
//!
//! The HTTP route hands the raw request to one function, [`ClickHandler::accept_callback`]: it
//! verifies the signature ([`verify_signature`]), parses ([`parse_interaction`]) and routes the
//! click, and stores it with the record of the signed request; the route maps the
//! [`Acceptance`] to its answer, acknowledges Slack at once (Slack allows 3 seconds), and runs the
//! accepted click ([`ClickHandler::run`]) on a spawned task. Nothing after the accept step
//! depends on HTTP, so clicks arriving over Socket Mode use [`ClickHandler::handle`] unchanged
//! ([`Interaction::from_payload`]).

mod accept;
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

pub use accept::{Acceptance, SignedCallback};
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
