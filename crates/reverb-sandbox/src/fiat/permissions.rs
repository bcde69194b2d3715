//! The permission store behind the fake Fiat, shareable in-process with the fake Orca, and the
//! checks Orca makes with Fiat's answer (`FiatPermissionEvaluator`, `ManualJudgmentAuthorization`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use super::model::{FiatAuthorization, FiatUser};
use super::seed::seed_users;
use super::view::UserPermissionView;

/// Fiat's stand-in for `anonymous` (`UnrestrictedResourceConfig.UNRESTRICTED_USERNAME`).
pub const UNRESTRICTED_USER: &str = "__unrestricted_user__";

/// The key Fiat looks a user id up by (`ControllerSupport.convert`): `anonymous` becomes the
/// unrestricted user, anything else is lower-cased.
pub(crate) fn lookup_key(user_id: &str) -> String {
    if user_id.eq_ignore_ascii_case("anonymous") {
        UNRESTRICTED_USER.to_owned()
    } else {
        user_id.to_lowercase()
    }
}

#[derive(Debug)]
struct PermissionData {
    users: Vec<FiatUser>,
    allow_unknown_applications: bool,
    initial_users: Vec<FiatUser>,
    initial_allow_unknown_applications: bool,
}

/// Users and their permissions. Cloning shares the same store: hand
/// [`super::FakeFiat::permissions`] to [`crate::FakeOrcaConfig::fiat`] and both fakes see every
/// change. Reads through this handle are neither recorded nor affected by injected failures
/// (those belong to Fiat's HTTP side).
#[derive(Debug, Clone)]
pub struct FiatPermissions {
    inner: Arc<Mutex<PermissionData>>,
}

impl Default for FiatPermissions {
    /// The seed users (see [`super`]).
    fn default() -> Self {
        Self::new(seed_users())
    }
}

impl FiatPermissions {
    pub fn new(users: Vec<FiatUser>) -> Self {
        Self::with_settings(users, false)
    }

    pub(crate) fn with_settings(users: Vec<FiatUser>, allow_unknown_applications: bool) -> Self {
        let users: Vec<FiatUser> = users.into_iter().map(FiatUser::normalized).collect();
        Self {
            inner: Arc::new(Mutex::new(PermissionData {
                users: users.clone(),
                allow_unknown_applications,
                initial_users: users,
                initial_allow_unknown_applications: allow_unknown_applications,
            })),
        }
    }

    fn data(&self) -> MutexGuard<'_, PermissionData> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user Fiat would answer for `user_id` (case-insensitive; `anonymous` is the
    /// unrestricted user).
    pub fn user(&self, user_id: &str) -> Option<FiatUser> {
        let key = lookup_key(user_id);
        self.data()
            .users
            .iter()
            .find(|user| user.name == key)
            .cloned()
    }

    pub fn users(&self) -> Vec<FiatUser> {
        self.data().users.clone()
    }

    /// Adds or replaces (by lower-cased name) a user.
    pub fn put_user(&self, user: FiatUser) {
        let user = user.normalized();
        let mut data = self.data();
        match data
            .users
            .iter()
            .position(|existing| existing.name == user.name)
        {
            Some(index) => data.users[index] = user,
            None => data.users.push(user),
        }
    }

    /// Forgets a user (Fiat then answers 404 for them); false when there was none.
    pub fn remove_user(&self, user_id: &str) -> bool {
        let key = lookup_key(user_id);
        let mut data = self.data();
        let before = data.users.len();
        data.users.retain(|user| user.name != key);
        data.users.len() != before
    }

    /// Fiat's `fiat.allowAccessToUnknownApplications`: applications the user has no entry for
    /// are allowed.
    pub fn set_allow_access_to_unknown_applications(&self, allow: bool) {
        self.data().allow_unknown_applications = allow;
    }

    pub fn allows_access_to_unknown_applications(&self) -> bool {
        self.data().allow_unknown_applications
    }

    /// Back to the users and settings it was created with.
    pub fn reset(&self) {
        let mut data = self.data();
        data.users = data.initial_users.clone();
        data.allow_unknown_applications = data.initial_allow_unknown_applications;
    }

    /// `GET /authorize/{userId}` as JSON, or `None` where Fiat answers 404.
    pub fn view(&self, user_id: &str) -> Option<Value> {
        let allow = self.allows_access_to_unknown_applications();
        let user = self.user(user_id)?;
        serde_json::to_value(UserPermissionView::of(&user, allow)).ok()
    }

    /// `FiatPermissionEvaluator.hasPermission(user, application, 'APPLICATION', authorization)`:
    /// unknown users are refused; admins pass; an application the user has no entry for passes
    /// only with `allowAccessToUnknownApplications`; otherwise the entry must hold it.
    pub fn can_on_application(
        &self,
        user_id: &str,
        application: &str,
        authorization: FiatAuthorization,
    ) -> bool {
        let allow_unknown = self.allows_access_to_unknown_applications();
        let Some(user) = self.user(user_id) else {
            return false;
        };
        if user.admin {
            return true;
        }
        match user.application(application) {
            Some(grant) => grant.allows(authorization),
            None => allow_unknown,
        }
    }

    /// `ManualJudgmentAuthorization.isAuthorized`: no required roles passes; an empty or
    /// unknown user fails; an admin passes; otherwise one of the user's roles must equal one of
    /// `required` (exactly: Fiat's role names are lower case, the stage's are compared as given).
    pub fn may_judge(&self, user_id: &str, required: &[String]) -> bool {
        if required.is_empty() {
            return true;
        }
        if user_id.is_empty() {
            return false;
        }
        self.user(user_id)
            .is_some_and(|user| user.admin || required.iter().any(|role| user.has_role(role)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fiat::model::FiatAuthorization::{Execute, Read};

    #[test]
    fn seeded_users_match_the_stage_and_application_checks() {
        let fiat = FiatPermissions::default();
        let required = vec!["release-managers".to_owned()];
        assert!(fiat.can_on_application("Jane@Example.com", "myapp", Execute));
        assert!(fiat.may_judge("JANE@example.com", &required));
        assert!(fiat.can_on_application("mallory@example.com", "MyApp", Execute));
        assert!(!fiat.may_judge("mallory@example.com", &required));
        assert!(fiat.can_on_application("viewer@example.com", "myapp", Read));
        assert!(!fiat.can_on_application("viewer@example.com", "myapp", Execute));
        assert!(fiat.can_on_application("admin@example.com", "anything", Execute));
        assert!(fiat.may_judge("admin@example.com", &required));
        assert!(!fiat.can_on_application("nobody@example.com", "myapp", Read));
        assert!(!fiat.may_judge("", &required));
        // Roles compare exactly, as Orca's set intersection does.
        assert!(!fiat.may_judge("jane@example.com", &["Release-Managers".to_owned()]));
        // anonymous is the unrestricted user, who has nothing here.
        assert_eq!(
            fiat.user("anonymous").map(|user| user.name),
            Some(UNRESTRICTED_USER.to_owned())
        );
        assert!(!fiat.can_on_application("anonymous", "myapp", Execute));
    }

    #[test]
    fn unknown_applications_and_changes_are_shared_by_clones() {
        let fiat = FiatPermissions::default();
        let orca_side = fiat.clone();
        assert!(!orca_side.can_on_application("jane@example.com", "otherapp", Execute));
        fiat.set_allow_access_to_unknown_applications(true);
        assert!(orca_side.can_on_application("jane@example.com", "otherapp", Execute));
        // An application with an entry still needs the authorization.
        assert!(!orca_side.can_on_application("viewer@example.com", "myapp", Execute));
        fiat.put_user(FiatUser::new("Viewer@Example.com").with_application("myapp", &[Execute]));
        assert!(orca_side.can_on_application("viewer@example.com", "myapp", Execute));
        assert!(fiat.remove_user("VIEWER@example.com"));
        assert!(orca_side.user("viewer@example.com").is_none());
        orca_side.reset();
        assert!(fiat.user("viewer@example.com").is_some());
        assert!(!fiat.allows_access_to_unknown_applications());
    }
}
