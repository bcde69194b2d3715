//! What the clicker is told, and the outbound messages that carry it.

use reverb_model::{MessageKind, OutboundMessage, SlackClientKind, SlackMessage};

use crate::fiat::{FiatFailure, Refusal};
use crate::identity::NoIdentity;
use crate::peer::PeerFailure;
use crate::resolution::{Decision, ResolvedJudgment};

/// A message only `user_id` sees, in `channel_id`.
pub(crate) fn ephemeral(channel_id: &str, user_id: &str, text: String) -> OutboundMessage {
    OutboundMessage::ephemeral(MessageKind::ClickReply, channel_id, user_id, plain(text))
        .with_client(SlackClientKind::App)
        .into()
}

/// A replacement of the clicked message through its `response_url` (sent with the Slack app's
/// client).
pub(crate) fn via_response_url(
    kind: MessageKind,
    response_url: &str,
    message: SlackMessage,
) -> OutboundMessage {
    OutboundMessage::response_url(kind, response_url, message).into()
}

fn plain(text: String) -> SlackMessage {
    SlackMessage {
        text,
        ..SlackMessage::default()
    }
}

/// Slack mrkdwn's three control characters.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn deck_link(url: &str) -> String {
    format!("<{url}|Open it in Spinnaker>")
}

pub(crate) fn no_identity(why: &NoIdentity) -> String {
    let reason = match why {
        NoIdentity::NoEmail { missing_scope: true } => format!(
            "the Spinnaker Slack app may not read e-mail addresses, so Spinnaker cannot tell who you are. \
             Ask your Spinnaker operator to add the `{}` scope to the Slack app and reinstall it.",
            crate::identity::EMAIL_SCOPE
        ),
        NoIdentity::NoEmail { missing_scope: false } => "Slack gives no e-mail address for you, so Spinnaker cannot tell who you are. \
            Check that your Slack profile has an e-mail address and that the Spinnaker Slack app has the \
            `users:read.email` scope."
            .to_string(),
        NoIdentity::LookupFailed(code) if code == "missing_scope" => format!(
            "the Spinnaker Slack app may not look users up, so Spinnaker cannot tell who you are. \
             Ask your Spinnaker operator to add the `{}` and `{}` scopes to the Slack app and reinstall it.",
            crate::identity::USERS_SCOPE,
            crate::identity::EMAIL_SCOPE
        ),
        NoIdentity::LookupFailed(code) => {
            format!("looking you up in Slack failed (`{}`), so Spinnaker cannot tell who you are. Please try again.", escape(code))
        }
        NoIdentity::WorkspaceUnknown(code) => format!(
            "Reverb could not confirm its own Slack workspace (`{}`). Please try again.",
            escape(code)
        ),
        NoIdentity::NoUserId => "Slack did not say who clicked.".to_string(),
        NoIdentity::ForeignWorkspace => {
            "this click came from a Slack workspace other than the one Spinnaker is installed in.".to_string()
        }
        NoIdentity::ExternalUser => "you are a member of another organisation, and only members of this workspace may judge here.".to_string(),
        NoIdentity::Guest => "guests may not judge here.".to_string(),
        NoIdentity::Deleted => "your Slack account is deactivated.".to_string(),
        NoIdentity::Bot => "bots and apps may not judge.".to_string(),
        NoIdentity::Unusable => "your Slack e-mail address cannot be used as a Spinnaker user name (it must be plain ASCII).".to_string(),
    };
    format!("Your judgment was not recorded: {reason}")
}

pub(crate) fn not_our_message() -> String {
    "Nothing was recorded: this button is not on the message Reverb posted for this judgment."
        .to_string()
}

pub(crate) fn not_this_execution(execution_url: &str) -> String {
    format!(
        "Nothing was recorded: this button does not match the execution it names. {}",
        deck_link(execution_url)
    )
}

pub(crate) fn options_changed(execution_url: &str) -> String {
    format!(
        "Nothing was recorded: the stage's judgment options changed since this message was posted. {}",
        deck_link(execution_url)
    )
}

pub(crate) fn not_authorized(refusal: &Refusal, user: &str, execution_url: &str) -> String {
    let reason = match refusal {
        Refusal::NoExecute { application } => format!(
            "{} may not run pipelines of *{}* (Spinnaker's Fiat grants no EXECUTE permission on it)",
            escape(user),
            escape(application)
        ),
        Refusal::MissingRole { required } => format!(
            "{} is in none of the roles allowed to judge this stage; a judge needs one of: {}",
            escape(user),
            escape(&required.join(", "))
        ),
    };
    format!(
        "Your judgment was not recorded: {reason}. {}",
        deck_link(execution_url)
    )
}

pub(crate) fn fiat_refused(failure: &FiatFailure, user: &str) -> String {
    match failure {
        FiatFailure::UnknownUser => format!(
            "Your judgment was not recorded: Spinnaker's Fiat does not know the user {}. Log in to Spinnaker once, or ask your operator to map your Slack account to your Spinnaker user.",
            escape(user)
        ),
        FiatFailure::Unavailable(_) => "Your judgment was not recorded: Spinnaker's Fiat could not be reached to check your permissions. Please try again in a few minutes.".to_string(),
    }
}

pub(crate) fn in_progress(claimant: &str, me: &str) -> String {
    if claimant == me {
        "Your judgment of this stage is already being recorded.".to_string()
    } else {
        format!(
            "This stage is already being judged by {}.",
            escape(claimant)
        )
    }
}

fn decided_phrase(r: &ResolvedJudgment) -> String {
    let by = r
        .judged_by
        .as_deref()
        .map(|who| format!(" by {}", escape(who)))
        .unwrap_or_default();
    match r.decision {
        Some(Decision::Continue) => format!("judged to *continue*{by}"),
        Some(Decision::Stop) => format!("judged to *stop*{by}"),
        None => "not judged".to_string(),
    }
}

pub(crate) fn already_judged(r: &ResolvedJudgment) -> String {
    let what = match r.decision {
        None => "is no longer waiting for a judgment".to_string(),
        _ => format!("was already {}", decided_phrase(r)),
    };
    format!(
        "Nothing was recorded: this stage {what}. {}",
        deck_link(&r.link)
    )
}

pub(crate) fn no_longer_waiting(r: &ResolvedJudgment, status: &str) -> String {
    format!(
        "Nothing was recorded: this stage is {} and no longer waiting for a judgment. {}",
        escape(status),
        deck_link(&r.link)
    )
}

pub(crate) fn not_a_judgment(execution_url: &str) -> String {
    format!(
        "Nothing was recorded: this stage is not a manual judgment stage. {}",
        deck_link(execution_url)
    )
}

pub(crate) fn stage_not_found(stage_ref_id: &str, execution_url: &str) -> String {
    format!(
        "Nothing was recorded: Orca's execution has no stage `{}`. {}",
        escape(stage_ref_id),
        deck_link(execution_url)
    )
}

pub(crate) fn orca_unreachable() -> String {
    "Your judgment was not recorded: Orca could not be reached. Please try again in a few minutes."
        .to_string()
}

pub(crate) fn orca_refused(failure: &PeerFailure, execution_url: &str) -> String {
    let reason = match failure {
        PeerFailure::Rejected { status: 403, .. } => {
            "Orca refused it: you are not allowed to run this application's pipelines".to_string()
        }
        PeerFailure::Rejected { status: 404, .. } => {
            "Orca no longer knows this execution".to_string()
        }
        other => format!("Orca refused it ({})", escape(&other.to_string())),
    };
    format!(
        "Your judgment was not recorded: {reason}. {}",
        deck_link(execution_url)
    )
}

pub(crate) fn reverted(required_roles: &[String], execution_url: &str) -> String {
    let roles = if required_roles.is_empty() {
        String::new()
    } else {
        format!(" (allowed roles: {})", escape(&required_roles.join(", ")))
    };
    format!(
        "Orca did not accept your judgment: you are not in a role allowed to judge this stage{roles}. {}",
        deck_link(execution_url)
    )
}

pub(crate) fn not_applied(execution_url: &str) -> String {
    format!(
        "Your judgment was not recorded: Orca answered but did not store it. Please try again. {}",
        deck_link(execution_url)
    )
}

pub(crate) fn unconfirmed(execution_url: &str) -> String {
    format!(
        "Orca took your judgment, but Reverb could not confirm that it was applied. Please check the execution. {}",
        deck_link(execution_url)
    )
}

pub(crate) fn bad_button(why: &str) -> String {
    format!(
        "Nothing was recorded: Reverb could not read this button ({}).",
        escape(why)
    )
}

pub(crate) fn internal_error() -> String {
    "Nothing was recorded: Reverb hit an internal error. Please try again.".to_string()
}

pub(crate) fn service_not_configured(service_id: &str) -> String {
    format!(
        "Your action was not delivered: Reverb has no `{}.baseUrl` configured.",
        escape(service_id)
    )
}

pub(crate) fn service_refused(service_id: &str, failure: &PeerFailure) -> String {
    format!(
        "Your action was not delivered: {} answered {}.",
        escape(service_id),
        escape(&failure.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_replies_go_to_the_clicker_through_the_app() {
        let OutboundMessage::Ephemeral(m) = ephemeral("C1", "U1", "hi".into()) else {
            panic!("an ephemeral message");
        };
        assert_eq!(m.kind, MessageKind::ClickReply);
        assert_eq!(m.channel, "C1");
        assert_eq!(m.user, "U1");
        assert_eq!(m.client, SlackClientKind::App);
        assert_eq!(m.message.text, "hi");
    }

    #[test]
    fn dynamic_text_is_escaped() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(
            in_progress("<@x>", "me"),
            "This stage is already being judged by &lt;@x&gt;."
        );
        assert_eq!(
            in_progress("me", "me"),
            "Your judgment of this stage is already being recorded."
        );
    }

    #[test]
    fn revert_message_names_the_roles() {
        let text = reverted(&["release-managers".into()], "http://deck/x");
        assert!(text.starts_with(
            "Orca did not accept your judgment: you are not in a role allowed to judge this stage (allowed roles: release-managers)."
        ));
        assert!(text.ends_with("<http://deck/x|Open it in Spinnaker>"));
    }
}
