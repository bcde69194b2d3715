//! A fake Fiat: `GET /authorize/{userId}` answers `UserPermission.View` exactly as Fiat's
//! `AuthorizeController` does (user ids matched case-insensitively, `anonymous` as the
//! unrestricted user, 404 with kork's error body for an unknown user), with a request log per
//! user and fault injection so tests can watch Reverb retry.
//!
//! Seed users (their e-mails are the fake Slack's users):
//! - `jane@example.com`: roles `release-managers`, `developers`; `myapp` READ/WRITE/EXECUTE;
//!   accounts `prod-aws` READ/WRITE, `staging-aws` READ/WRITE, `audit-aws` READ.
//! - `john@doe.com`: role `release-managers`; `myapp` READ/EXECUTE; `staging-aws` READ/WRITE.
//! - `mallory@example.com`: role `developers`; `myapp` READ/EXECUTE; `staging-aws` READ/WRITE
//!   (Orca lets her PATCH; the judgment stage's role check reverts her judgment).
//! - `viewer@example.com`: `myapp` READ only, no roles (Orca's PATCH answers 403).
//! - `admin@example.com`: `admin: true`, nothing else (passes every check).
//! - `__unrestricted_user__` (what `anonymous` resolves to): nothing.
//!
//! `myapp` is the application of the fake Orca's sample pipeline. Share the permissions with
//! the fake Orca through [`FakeFiat::permissions`] and [`crate::FakeOrcaConfig::fiat`].

mod model;
mod permissions;
mod routes;
mod seed;
mod state;
pub(crate) mod view;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;

pub use model::{
    FiatAuthorization, FiatFailure, FiatGrant, FiatRequest, FiatRole, FiatServiceAccount, FiatUser,
    RoleSource,
};
pub use permissions::{FiatPermissions, UNRESTRICTED_USER};
pub use seed::SAMPLE_APPLICATION;
pub use state::FiatState;

use crate::http_server::{self, RunningServer};

#[derive(Debug, Clone)]
pub struct FakeFiatConfig {
    pub bind: Option<SocketAddr>,
    /// Who Fiat knows. Default: the seed users listed in the module documentation.
    pub users: Vec<FiatUser>,
    /// `fiat.allowAccessToUnknownApplications` (default false).
    pub allow_access_to_unknown_applications: bool,
}

impl Default for FakeFiatConfig {
    fn default() -> Self {
        Self {
            bind: None,
            users: seed::seed_users(),
            allow_access_to_unknown_applications: false,
        }
    }
}

/// A running fake Fiat. Dropping it stops the server (a shared [`FiatPermissions`] lives on).
pub struct FakeFiat {
    state: Arc<FiatState>,
    server: RunningServer,
}

/// Starts a fake Fiat on `cfg.bind` (default `127.0.0.1:0`). Needs a tokio runtime.
pub async fn start_fake_fiat(cfg: FakeFiatConfig) -> io::Result<FakeFiat> {
    let runtime = http_server::current_runtime()?;
    let listener = http_server::bind(cfg.bind)?;
    let base_url = http_server::base_url(listener.local_addr()?);
    let permissions =
        FiatPermissions::with_settings(cfg.users, cfg.allow_access_to_unknown_applications);
    let state = Arc::new(FiatState::new(base_url, permissions));
    let server = RunningServer::spawn(listener, &runtime, routes::configure(state.clone()))?;
    tracing::info!(url = %state.base_url(), "fake Fiat listening");
    Ok(FakeFiat { state, server })
}

impl FakeFiat {
    /// `http://127.0.0.1:<port>` (Reverb's `services.fiat.baseUrl`).
    pub fn base_url(&self) -> String {
        self.state.base_url().to_owned()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn state(&self) -> &Arc<FiatState> {
        &self.state
    }

    /// The permission store, shared: give it to [`crate::FakeOrcaConfig::fiat`].
    pub fn permissions(&self) -> FiatPermissions {
        self.state.permissions().clone()
    }

    pub fn users(&self) -> Vec<FiatUser> {
        self.state.permissions().users()
    }

    /// The user Fiat answers for `user_id` (case-insensitive).
    pub fn user(&self, user_id: &str) -> Option<FiatUser> {
        self.state.permissions().user(user_id)
    }

    /// Adds or replaces a user (matched by lower-cased name).
    pub fn put_user(&self, user: FiatUser) {
        self.state.permissions().put_user(user);
    }

    /// Forgets a user, so Fiat answers 404 for them; false when there was none.
    pub fn remove_user(&self, user_id: &str) -> bool {
        self.state.permissions().remove_user(user_id)
    }

    pub fn set_allow_access_to_unknown_applications(&self, allow: bool) {
        self.state
            .permissions()
            .set_allow_access_to_unknown_applications(allow);
    }

    /// What `GET /authorize/{user_id}` answers, as JSON; `None` where it answers 404.
    pub fn view(&self, user_id: &str) -> Option<Value> {
        self.state.permissions().view(user_id)
    }

    /// Every request to Fiat's endpoints, in arrival order (`/health` and controls excluded).
    pub fn requests(&self) -> Vec<FiatRequest> {
        self.state.requests()
    }

    /// The requests about one user (case-insensitive).
    pub fn requests_for(&self, user_id: &str) -> Vec<FiatRequest> {
        self.state
            .requests()
            .into_iter()
            .filter(|request| request.is_for(user_id))
            .collect()
    }

    pub fn request_count(&self, user_id: &str) -> usize {
        self.requests_for(user_id).len()
    }

    /// Requests per lower-cased user id.
    pub fn request_counts(&self) -> BTreeMap<String, usize> {
        routes::counts(&self.state.requests())
    }

    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// The next `times` requests fail this way (one fault per request, in order).
    pub fn fail_next(&self, times: usize, failure: FiatFailure) {
        self.state.fail_next(times, failure);
    }

    /// While down, Fiat's endpoints answer 503 (requests are still recorded; `/health` and the
    /// controls keep answering).
    pub fn set_down(&self, down: bool) {
        self.state.set_down(down);
    }

    /// Back to the configured users and settings; requests, faults and the down switch cleared.
    pub fn reset(&self) {
        self.state.reset();
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}
