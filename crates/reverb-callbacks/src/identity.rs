//! Who clicked, as Spinnaker knows them: the e-mail of the clicker's Slack profile (`users.info`,
//! scope `users:read.email`). Identity headers on the inbound request are never used: Gate relays
//! every header from the internet unchanged (orca-gate.md §4.1).

use reqwest::header::HeaderValue;
use reverb_slack::SlackClient;

use crate::interaction::SlackUserRef;
use crate::settings::IdentityFallback;

/// Why no Spinnaker identity could be found for a clicker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoIdentity {
    /// The payload names no Slack user id to look up.
    NoUserId,
    /// Slack answered but the profile has no e-mail (or the app lacks `users:read.email`).
    NoEmail,
    /// `users.info` failed; Slack's error code.
    LookupFailed(String),
    /// The name found cannot be sent as an HTTP header.
    Unusable,
}

/// What `users.info` said about the clicker.
enum Lookup {
    Email(String),
    NoEmail,
    Failed(String),
    NoUserId,
}

async fn look_up(slack: &SlackClient, user: &SlackUserRef) -> Lookup {
    let Some(id) = user.id.as_deref() else {
        return Lookup::NoUserId;
    };
    match slack.users_info(id).await {
        Ok(found) => match found.email {
            Some(email) => Lookup::Email(email),
            None => {
                tracing::warn!(
                    slack_user = id,
                    "Slack returned no e-mail for the user; check the app has the users:read.email scope"
                );
                Lookup::NoEmail
            }
        },
        Err(e) => {
            tracing::warn!(slack_user = id, error = %e, "Slack users.info failed");
            Lookup::Failed(e.code)
        }
    }
}

/// The identity a judgment is recorded under.
pub(crate) async fn for_judgment(
    slack: &SlackClient,
    user: &SlackUserRef,
    fallback: IdentityFallback,
) -> Result<String, NoIdentity> {
    let missing = match look_up(slack, user).await {
        Lookup::Email(email) => return usable(email),
        Lookup::NoEmail => NoIdentity::NoEmail,
        Lookup::Failed(code) => NoIdentity::LookupFailed(code),
        Lookup::NoUserId => NoIdentity::NoUserId,
    };
    match (fallback, user.name.clone()) {
        (IdentityFallback::SlackUsername, Some(name)) => {
            tracing::info!(slack_user = %name, reason = ?missing, "judging as the Slack username");
            usable(name)
        }
        _ => Err(missing),
    }
}

/// The `user` of an Echo-style callback. Like Echo: the e-mail, or the username when
/// `users.info` fails. When Slack answers without an e-mail Echo sends no user; Reverb does the
/// same unless the username fallback is configured.
pub(crate) async fn for_echo_callback(
    slack: &SlackClient,
    user: &SlackUserRef,
    fallback: IdentityFallback,
) -> Option<String> {
    let found = match look_up(slack, user).await {
        Lookup::Email(email) => Some(email),
        Lookup::Failed(_) | Lookup::NoUserId => user.name.clone(),
        Lookup::NoEmail => match fallback {
            IdentityFallback::SlackUsername => user.name.clone(),
            IdentityFallback::None => None,
        },
    };
    found.and_then(|id| usable(id).ok())
}

fn usable(identity: String) -> Result<String, NoIdentity> {
    if HeaderValue::from_str(&identity).is_ok() {
        Ok(identity)
    } else {
        tracing::warn!("the clicker's identity cannot be sent as X-SPINNAKER-USER");
        Err(NoIdentity::Unusable)
    }
}
