//! What the fake Fiat stores about a user, and what it records about the requests it answers.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize, Serializer};

use crate::ids::epoch_ms;

/// Fiat's `Authorization` enum, in its declaration order (the order views list them in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FiatAuthorization {
    Read,
    Write,
    Execute,
    Create,
}

impl FiatAuthorization {
    /// `Authorization.ALL`: what an admin is granted on every resource listed for them.
    pub const ALL: [Self; 4] = [Self::Read, Self::Write, Self::Execute, Self::Create];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Execute => "EXECUTE",
            Self::Create => "CREATE",
        }
    }

    /// `Authorization.parse`: case-insensitive.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|authorization| authorization.as_str().eq_ignore_ascii_case(text))
    }
}

/// `Role.Source`: where Fiat learnt the role from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleSource {
    External,
    File,
    GoogleGroups,
    GithubTeams,
    Ldap,
}

/// `Role.View`: `{name, source}`. Fiat lower-cases role names (`Role.setName`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiatRole {
    pub name: String,
    /// Fiat's mapper omits nulls, so a role without source is `{"name": …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<RoleSource>,
}

impl FiatRole {
    /// A role from Fiat's file-based role provider (`source: FILE`).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_lowercase(),
            source: Some(RoleSource::File),
        }
    }
}

/// An application, account or build service with what the user may do on it
/// (`Application.View`, `Account.View`, `BuildService.View`: `{name, authorizations}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiatGrant {
    pub name: String,
    #[serde(default)]
    pub authorizations: Vec<FiatAuthorization>,
}

impl FiatGrant {
    pub fn new(name: &str, authorizations: &[FiatAuthorization]) -> Self {
        let mut authorizations = authorizations.to_vec();
        authorizations.sort();
        authorizations.dedup();
        Self {
            name: name.to_owned(),
            authorizations,
        }
    }

    pub fn allows(&self, authorization: FiatAuthorization) -> bool {
        self.authorizations.contains(&authorization)
    }
}

/// `ServiceAccount.View`: `{name, memberOf}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FiatServiceAccount {
    pub name: String,
    #[serde(default)]
    pub member_of: Vec<String>,
}

/// One user's permissions as the fake Fiat stores them (the `UserPermission` behind a view).
///
/// The JSON form (control API, [`super::FakeFiat::users`]) uses the view's field names:
/// `{"name":"jane@example.com","roles":[{"name":"developers","source":"FILE"}],
/// "applications":[{"name":"myapp","authorizations":["READ","EXECUTE"]}],"accounts":[…],
/// "serviceAccounts":[…],"buildServices":[…],"admin":false,"accountManager":false}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FiatUser {
    /// The user id, lower-cased when stored (Fiat keys permissions by the lower-cased id).
    pub name: String,
    pub roles: Vec<FiatRole>,
    pub applications: Vec<FiatGrant>,
    pub accounts: Vec<FiatGrant>,
    pub service_accounts: Vec<FiatServiceAccount>,
    pub build_services: Vec<FiatGrant>,
    /// Admins pass every check; every resource listed for them shows all authorizations.
    pub admin: bool,
    pub account_manager: bool,
}

impl FiatUser {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_lowercase(),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn with_roles(mut self, roles: &[&str]) -> Self {
        self.roles
            .extend(roles.iter().map(|role| FiatRole::new(role)));
        self
    }

    #[must_use]
    pub fn with_application(mut self, name: &str, authorizations: &[FiatAuthorization]) -> Self {
        self.applications.push(FiatGrant::new(name, authorizations));
        self
    }

    #[must_use]
    pub fn with_account(mut self, name: &str, authorizations: &[FiatAuthorization]) -> Self {
        self.accounts.push(FiatGrant::new(name, authorizations));
        self
    }

    #[must_use]
    pub fn as_admin(mut self) -> Self {
        self.admin = true;
        self
    }

    /// Fiat's normal form: lower-case id and role names, authorizations in enum order, once.
    pub(crate) fn normalized(mut self) -> Self {
        self.name = self.name.to_lowercase();
        for role in &mut self.roles {
            role.name = role.name.to_lowercase();
        }
        for grant in self
            .applications
            .iter_mut()
            .chain(self.accounts.iter_mut())
            .chain(self.build_services.iter_mut())
        {
            grant.authorizations.sort();
            grant.authorizations.dedup();
        }
        self
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|mine| mine.name == role)
    }

    pub fn application(&self, name: &str) -> Option<&FiatGrant> {
        self.applications
            .iter()
            .find(|grant| grant.name.eq_ignore_ascii_case(name))
    }

    pub fn account(&self, name: &str) -> Option<&FiatGrant> {
        self.accounts
            .iter()
            .find(|grant| grant.name.eq_ignore_ascii_case(name))
    }
}

/// An injected fault for the next request(s) to Fiat's own endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FiatFailure {
    /// Answer with this status and a Spring error body (e.g. 503).
    Status(u16),
    /// Hold the answer back this long, then answer normally: longer than the caller's timeout,
    /// this is a Fiat that stops answering.
    Hang(Duration),
}

/// One request to Fiat's own endpoints (the `/_sandbox/` controls are not recorded).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FiatRequest {
    pub method: String,
    pub path: String,
    /// The `{userId}` of an `/authorize/{userId}…` request, as sent (not lower-cased).
    pub user_id: Option<String>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    /// What was answered (also for injected failures).
    pub status: u16,
    #[serde(rename = "receivedAtMs", serialize_with = "serialize_epoch_ms")]
    pub received_at: SystemTime,
}

impl FiatRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether this request asked about `user` (case-insensitively, as Fiat matches).
    pub fn is_for(&self, user: &str) -> bool {
        self.user_id
            .as_deref()
            .is_some_and(|id| id.to_lowercase() == user.to_lowercase())
    }
}

fn serialize_epoch_ms<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_i64(epoch_ms(*time))
}
