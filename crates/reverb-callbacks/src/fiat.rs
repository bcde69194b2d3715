//! Judging as Fiat would: the clicker's permissions from `GET {fiat}/authorize/{user}`, checked
//! the way Orca does before it accepts a judgment, and the accounts Gate would send for that
//! user in `X-SPINNAKER-ACCOUNTS` (`docs/security.md`, "Fiat").

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use crate::peer::{Peer, PeerFailure, path_segment};

/// A user's permissions as Fiat's `UserPermission.View` lists them (the parts Reverb reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Permissions {
    pub name: String,
    pub admin: bool,
    pub allow_access_to_unknown_applications: bool,
    pub roles: Vec<Named>,
    pub applications: Vec<Authorized>,
    pub accounts: Vec<Authorized>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct Named {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct Authorized {
    pub name: String,
    pub authorizations: Vec<String>,
}

impl Authorized {
    fn allows(&self, what: &str) -> bool {
        self.authorizations
            .iter()
            .any(|a| a.eq_ignore_ascii_case(what))
    }
}

/// Why Fiat's answer forbids the judgment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `EXECUTE` on the application: Orca would answer 403.
    NoExecute { application: String },
    /// None of the stage's required roles: Orca would silently revert the judgment.
    MissingRole { required: Vec<String> },
}

impl Permissions {
    /// Orca's rules: `EXECUTE` on the application (`@PreAuthorize` on the PATCH), then admin or
    /// one of the required roles (`ManualJudgmentAuthorization`). Names compare without case,
    /// as Fiat stores them lower-cased.
    pub(crate) fn may_judge(
        &self,
        application: &str,
        required_roles: &[String],
    ) -> Result<(), Refusal> {
        if self.admin {
            return Ok(());
        }
        let listed = self
            .applications
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(application));
        let may_execute = match listed {
            Some(app) => app.allows("EXECUTE"),
            None => self.allow_access_to_unknown_applications,
        };
        if !may_execute {
            return Err(Refusal::NoExecute {
                application: application.to_string(),
            });
        }
        if required_roles.is_empty() {
            return Ok(());
        }
        let mine: BTreeSet<String> = self
            .roles
            .iter()
            .map(|r| r.name.to_ascii_lowercase())
            .collect();
        if required_roles
            .iter()
            .any(|r| mine.contains(&r.to_ascii_lowercase()))
        {
            Ok(())
        } else {
            Err(Refusal::MissingRole {
                required: required_roles.to_vec(),
            })
        }
    }

    /// What Gate puts in `X-SPINNAKER-ACCOUNTS` for this user: the accounts with `WRITE`,
    /// comma-separated, in Fiat's order.
    pub(crate) fn allowed_accounts(&self) -> String {
        self.accounts
            .iter()
            .filter(|a| a.allows("WRITE") && !a.name.is_empty() && !a.name.contains(','))
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// How asking Fiat failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FiatFailure {
    /// Fiat does not know the user (404): they never logged in to Spinnaker, or the id differs.
    UnknownUser,
    /// Down, timing out, 5xx, or an answer Reverb cannot read.
    Unavailable(String),
}

#[derive(Clone)]
pub(crate) struct FiatClient {
    peer: Peer,
}

impl FiatClient {
    pub(crate) fn new(http: reqwest::Client, base_url: &str, timeout: Duration) -> Self {
        Self {
            peer: Peer::new(http, base_url, timeout),
        }
    }

    pub(crate) async fn permissions(&self, user: &str) -> Result<Permissions, PeerFailure> {
        let path = format!("/authorize/{}", path_segment(user));
        self.peer.get_json(&path, "Fiat's permissions").await
    }
}

impl From<PeerFailure> for FiatFailure {
    fn from(failure: PeerFailure) -> Self {
        match failure {
            PeerFailure::Rejected { status: 404, .. } => Self::UnknownUser,
            other => Self::Unavailable(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn permissions(value: serde_json::Value) -> Permissions {
        serde_json::from_value(value).unwrap()
    }

    fn jane() -> Permissions {
        permissions(json!({
            "name": "jane@example.com",
            "accounts": [
                {"name": "prod-aws", "authorizations": ["READ", "WRITE"]},
                {"name": "audit-aws", "authorizations": ["READ"]},
                {"name": "staging-aws", "authorizations": ["WRITE", "READ"]}
            ],
            "applications": [{"name": "myapp", "authorizations": ["READ", "WRITE", "EXECUTE"]},
                             {"name": "other", "authorizations": ["READ"]}],
            "roles": [{"name": "release-managers", "source": "LDAP"}],
            "serviceAccounts": [], "buildServices": [], "extensionResources": {},
            "admin": false, "legacyFallback": false, "allowAccessToUnknownApplications": false,
            "accountManager": false
        }))
    }

    #[test]
    fn execute_and_a_required_role_are_both_needed() {
        let jane = jane();
        assert_eq!(jane.may_judge("myapp", &[]), Ok(()));
        assert_eq!(
            jane.may_judge("MyApp", &["Release-Managers".into()]),
            Ok(())
        );
        assert_eq!(
            jane.may_judge("other", &[]),
            Err(Refusal::NoExecute {
                application: "other".into()
            })
        );
        assert_eq!(
            jane.may_judge("unknown", &[]),
            Err(Refusal::NoExecute {
                application: "unknown".into()
            })
        );
        assert_eq!(
            jane.may_judge("myapp", &["sre".into(), "dba".into()]),
            Err(Refusal::MissingRole {
                required: vec!["sre".into(), "dba".into()]
            })
        );
    }

    #[test]
    fn admins_pass_and_unknown_applications_follow_fiat_setting() {
        let admin = permissions(json!({"name": "root", "admin": true}));
        assert_eq!(admin.may_judge("anything", &["sre".into()]), Ok(()));
        let open = permissions(json!({"name": "u", "allowAccessToUnknownApplications": true}));
        assert_eq!(open.may_judge("unlisted", &[]), Ok(()));
    }

    #[test]
    fn accounts_are_those_with_write_as_gate_sends_them() {
        assert_eq!(jane().allowed_accounts(), "prod-aws,staging-aws");
        assert_eq!(permissions(json!({})).allowed_accounts(), "");
    }

    #[test]
    fn a_404_means_fiat_does_not_know_the_user() {
        assert_eq!(
            FiatFailure::from(PeerFailure::Rejected {
                status: 404,
                message: String::new()
            }),
            FiatFailure::UnknownUser
        );
        assert!(matches!(
            FiatFailure::from(PeerFailure::Unreachable("timeout".into())),
            FiatFailure::Unavailable(_)
        ));
    }
}
