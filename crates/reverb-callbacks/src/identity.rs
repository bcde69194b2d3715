//! Who clicked, as Spinnaker knows them. Identity fails closed: a click is honoured only for a
//! person of the bot's own workspace whose Slack profile Slack itself vouches for, mapped to a
//! Spinnaker user id by the operator's rule or users file. Identity headers on the inbound
//! request are never used: Gate relays every header from the internet unchanged
//! (`docs/security.md`).

use std::time::Duration;

use reqwest::header::HeaderValue;
use reverb_config::{IdentityFallback, JudgmentSettings, SpinnakerUserRule};
use reverb_slack::{SlackClient, SlackError, SlackUser, TokenIdentity};
use reverb_support::{Backoff, Budget, RetryDecision, run_with_retries};
use serde_json::Value;
use tokio::sync::RwLock;

use crate::interaction::Interaction;

/// The scope `users.info` needs to return e-mail addresses.
pub const EMAIL_SCOPE: &str = "users:read.email";
/// The scope `users.info` needs at all.
pub const USERS_SCOPE: &str = "users:read";
/// Longest e-mail address accepted (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;
/// How long one click may spend asking Slack who the clicker is.
const LOOKUP_BUDGET: Duration = Duration::from_secs(20);
/// Waits between `users.info` attempts that Slack gave no `Retry-After` for.
const LOOKUP_RETRY_DELAY: Duration = Duration::from_millis(500);

/// How clickers become Spinnaker users: the operator's `reverb.judgments.*` rules, as the
/// configuration defines them, and how long a lookup may take.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub rules: JudgmentSettings,
    /// How long one click may spend asking Slack who the clicker is.
    pub lookup_budget: Duration,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            rules: JudgmentSettings::default(),
            lookup_budget: LOOKUP_BUDGET,
        }
    }
}

/// Why no Spinnaker identity could be found for a clicker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoIdentity {
    /// The payload names no Slack user id to look up.
    NoUserId,
    /// The click came from a workspace other than the bot token's.
    ForeignWorkspace,
    /// The clicker belongs to another organisation (a Slack Connect shared channel).
    ExternalUser,
    /// A multi- or single-channel guest, and guests may not judge here.
    Guest,
    /// A deactivated account.
    Deleted,
    /// A bot or app user.
    Bot,
    /// Slack answered but gave no e-mail; `missing_scope` when the app lacks `users:read.email`.
    NoEmail { missing_scope: bool },
    /// `users.info` failed (after retries); Slack's error code.
    LookupFailed(String),
    /// The bot token's workspace could not be read (`auth.test` failed).
    WorkspaceUnknown(String),
    /// The e-mail or mapped id cannot be a Spinnaker user id (not plain ASCII, too long).
    Unusable,
}

/// A verified clicker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clicker {
    /// The Spinnaker user id: `X-SPINNAKER-USER` and what Fiat is asked about.
    pub spinnaker_user: String,
    pub slack_user_id: String,
}

/// The bot token's workspace, read once with `auth.test` and kept; re-read after a failure.
#[derive(Default)]
pub(crate) struct WorkspaceCache {
    known: RwLock<Option<TokenIdentity>>,
}

impl WorkspaceCache {
    pub(crate) async fn get(&self, slack: &SlackClient) -> Result<TokenIdentity, SlackError> {
        if let Some(known) = self.known.read().await.clone() {
            return Ok(known);
        }
        let fresh = slack.token_identity().await?;
        *self.known.write().await = Some(fresh.clone());
        Ok(fresh)
    }
}

/// The clicker's workspace and organisation as the signed payload names them.
struct PayloadTeams {
    /// `team.id`: the workspace where the click happened.
    team: Option<String>,
    /// `user.team_id`: the clicker's own workspace.
    user_team: Option<String>,
    /// `enterprise.id` (or `user.enterprise_id`) on Enterprise Grid.
    enterprise: Option<String>,
}

impl PayloadTeams {
    fn of(payload: &Value) -> Self {
        let text = |pointer: &str| {
            payload
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Self {
            team: text("/team/id"),
            user_team: text("/user/team_id"),
            enterprise: text("/enterprise/id").or_else(|| text("/user/enterprise_id")),
        }
    }
}

/// Whether a team id belongs to the token's installation (its workspace, or its organisation
/// for an org-wide Enterprise Grid install).
fn is_home(token: &TokenIdentity, team: Option<&str>, enterprise: Option<&str>) -> bool {
    if token.is_enterprise_install {
        return token.enterprise_id.is_some() && token.enterprise_id.as_deref() == enterprise;
    }
    team == Some(token.team_id.as_str())
}

/// The Spinnaker identity a click is recorded under, or why there is none.
pub(crate) async fn clicker(
    slack: &SlackClient,
    workspace: &WorkspaceCache,
    settings: &IdentitySettings,
    interaction: &Interaction,
) -> Result<Clicker, NoIdentity> {
    let slack_user_id = interaction.user.id.clone().ok_or(NoIdentity::NoUserId)?;
    let token = workspace
        .get(slack)
        .await
        .map_err(|e| NoIdentity::WorkspaceUnknown(e.code))?;
    let teams = PayloadTeams::of(&interaction.payload);
    if !is_home(&token, teams.team.as_deref(), teams.enterprise.as_deref()) {
        tracing::warn!(
            click_team = teams.team.as_deref().unwrap_or_default(),
            "refused a click from another workspace"
        );
        return Err(NoIdentity::ForeignWorkspace);
    }
    let user = look_up(slack, &slack_user_id, settings.lookup_budget).await?;
    if user.deleted {
        return Err(NoIdentity::Deleted);
    }
    if user.is_bot {
        return Err(NoIdentity::Bot);
    }
    let user_team = user.team_id.clone().or(teams.user_team);
    let external =
        user.is_stranger || !is_home(&token, user_team.as_deref(), teams.enterprise.as_deref());
    if external && !settings.rules.allow_external_users {
        return Err(NoIdentity::ExternalUser);
    }
    if user.is_guest && !settings.rules.allow_guests {
        return Err(NoIdentity::Guest);
    }
    let email = user.email.as_deref().map(normalise_email);
    let mapped = settings.rules.users_file.as_ref().and_then(|file| {
        file.by_slack_id.get(&slack_user_id).cloned().or_else(|| {
            email
                .as_ref()
                .and_then(|e| e.as_ref().ok())
                .and_then(|e| file.by_email.get(e).cloned())
        })
    });
    let spinnaker_user = match (mapped, email) {
        (Some(mapped), _) => mapped,
        (None, Some(Ok(email))) => by_rule(&email, settings.rules.spinnaker_user),
        (None, Some(Err(()))) => return Err(NoIdentity::Unusable),
        (None, None) => {
            let missing_scope = token
                .scopes
                .as_ref()
                .is_some_and(|scopes| !scopes.iter().any(|s| s == EMAIL_SCOPE));
            match (settings.rules.identity_fallback, user.name.clone()) {
                (IdentityFallback::Username, Some(name)) => {
                    tracing::warn!(slack_user = %slack_user_id, "judging as the Slack username (identityFallback: username)");
                    name
                }
                _ => return Err(NoIdentity::NoEmail { missing_scope }),
            }
        }
    };
    if HeaderValue::from_str(&spinnaker_user).is_err() || spinnaker_user.is_empty() {
        return Err(NoIdentity::Unusable);
    }
    Ok(Clicker {
        spinnaker_user,
        slack_user_id,
    })
}

/// `users.info`, retried within the click's budget (obeying Slack's `Retry-After`).
async fn look_up(
    slack: &SlackClient,
    user_id: &str,
    budget: Duration,
) -> Result<SlackUser, NoIdentity> {
    let backoff = Backoff {
        initial: LOOKUP_RETRY_DELAY,
        max: LOOKUP_RETRY_DELAY * 4,
        ceiling: budget,
    };
    let looked_up = run_with_retries(
        "users.info",
        &backoff,
        Budget::Time(budget),
        || slack.users_info(user_id),
        |e| {
            if e.is_permanent() {
                RetryDecision::GiveUp
            } else {
                RetryDecision::Retry {
                    asked: e.retry_after(),
                }
            }
        },
    )
    .await;
    looked_up.map_err(|e| {
        tracing::warn!(slack_user = user_id, error = %e, "users.info failed; refusing the click");
        NoIdentity::LookupFailed(e.code)
    })
}

/// Trimmed, lower-cased, and refused unless plain printable ASCII with one `@` between two
/// non-empty parts.
pub(crate) fn normalise_email(raw: &str) -> Result<String, ()> {
    let email = raw.trim().to_ascii_lowercase();
    let plain = email.len() <= MAX_EMAIL_CHARS
        && email.bytes().all(|b| b.is_ascii_graphic())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if plain { Ok(email) } else { Err(()) }
}

fn by_rule(email: &str, rule: SpinnakerUserRule) -> String {
    match rule {
        SpinnakerUserRule::Email => email.to_string(),
        SpinnakerUserRule::LocalPart => email.split('@').next().unwrap_or(email).to_string(),
    }
}

/// The features a token's scopes leave out, for the start-up log line, `/health` and `reverb
/// config`: (missing scope, what it disables).
pub fn missing_scope_effects(scopes: &[String]) -> Vec<(&'static str, &'static str)> {
    let has = |scope: &str| scopes.iter().any(|s| s == scope);
    let mut missing = Vec::new();
    if !has("chat:write") {
        missing.push(("chat:write", "every Slack message"));
    }
    if !has(USERS_SCOPE) {
        missing.push((
            USERS_SCOPE,
            "judgments from Slack (nobody can be identified)",
        ));
    }
    if !has(EMAIL_SCOPE) {
        missing.push((
            EMAIL_SCOPE,
            "judgments from Slack by e-mail identity (only users listed by Slack id in reverb.judgments.usersFile can judge)",
        ));
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowered_and_plain() {
        assert_eq!(
            normalise_email("  Jane.Doe@Example.COM ").as_deref(),
            Ok("jane.doe@example.com")
        );
        for bad in [
            "jöhn@exämple.com",
            "a b@c",
            "@c",
            "a@",
            "a@b@c",
            "a\r\n@b",
            "",
            "noat",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad:?}");
        }
        assert!(normalise_email(&format!("{}@b.c", "a".repeat(300))).is_err());
    }

    #[test]
    fn the_rule_makes_the_spinnaker_user() {
        assert_eq!(
            by_rule("alice@example.com", SpinnakerUserRule::Email),
            "alice@example.com"
        );
        assert_eq!(
            by_rule("alice@example.com", SpinnakerUserRule::LocalPart),
            "alice"
        );
    }

    #[test]
    fn home_is_the_workspace_or_the_grid_org() {
        let plain = TokenIdentity {
            team_id: "T1".into(),
            ..TokenIdentity::default()
        };
        assert!(is_home(&plain, Some("T1"), None));
        assert!(!is_home(&plain, Some("T2"), None));
        assert!(!is_home(&plain, None, None));
        let grid = TokenIdentity {
            team_id: "T1".into(),
            enterprise_id: Some("E1".into()),
            is_enterprise_install: true,
            ..TokenIdentity::default()
        };
        assert!(is_home(&grid, Some("T9"), Some("E1")));
        assert!(!is_home(&grid, Some("T1"), Some("E2")));
        assert!(!is_home(&grid, Some("T1"), None));
    }

    #[test]
    fn missing_scopes_say_what_they_disable() {
        let all: Vec<String> = ["chat:write", "users:read", "users:read.email"]
            .map(String::from)
            .to_vec();
        assert!(missing_scope_effects(&all).is_empty());
        let guide = vec!["chat:write".to_string(), "users:read".to_string()];
        let missing = missing_scope_effects(&guide);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].0, "users:read.email");
    }
}
