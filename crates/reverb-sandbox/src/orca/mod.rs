//! A fake Orca: `GET /pipelines/{id}`, `PATCH /pipelines/{id}/stages/{stageId}` with Orca's exact
//! semantics (including the empty 200 for an unknown stage and the silent revert of an
//! unauthorised judgment), and a sample pipeline that posts Orca's events and manual-judgment
//! notifications to Reverb.
//!
//! Authorization: with [`FakeOrcaConfig::fiat`] set, Orca consults the fake Fiat's permissions
//! as Orca does with Fiat enabled: the PATCH needs EXECUTE on the execution's application
//! (`@PreAuthorize`, else 403 and nothing changes), and the judgment task reverts a judgment by
//! a user without one of the stage's roles (admins pass). Without it, `role_members` stands in
//! for the role check and every PATCH is allowed (Fiat disabled).

mod execution;
mod judgment;
mod messages;
mod model;
mod pipeline;
mod routes;
mod sample;
mod state;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use model::{DeliveryKind, Judgment, OrcaDelivery, OrcaPatch, OrcaRequest};
pub use sample::SamplePipeline;
pub use state::OrcaState;

use crate::error::SandboxError;
use crate::fiat::FiatPermissions;
use crate::http_server::{self, RunningServer};

#[derive(Debug, Clone)]
pub struct FakeOrcaConfig {
    /// Reverb's base URL: events go to `POST {url}/`, notifications to `POST {url}/notifications`.
    pub reverb_url: Option<String>,
    pub bind: Option<SocketAddr>,
    /// Fiat, reduced to role → users, used when `fiat` is `None`. Default: `release-managers` =
    /// jane@example.com, john@doe.com.
    pub role_members: HashMap<String, Vec<String>>,
    /// Fiat's permissions (e.g. [`crate::FakeFiat::permissions`]): when set, they decide the
    /// PATCH's application check and the judgment's role check, and `role_members` is unused.
    pub fiat: Option<FiatPermissions>,
    /// Every Orca endpoint answers this much later.
    pub response_delay: Duration,
}

impl Default for FakeOrcaConfig {
    fn default() -> Self {
        Self {
            reverb_url: None,
            bind: None,
            role_members: HashMap::from([(
                "release-managers".to_owned(),
                vec!["jane@example.com".to_owned(), "john@doe.com".to_owned()],
            )]),
            response_delay: Duration::ZERO,
            fiat: None,
        }
    }
}

/// A running fake Orca. Dropping it stops the server.
pub struct FakeOrca {
    state: Arc<OrcaState>,
    server: RunningServer,
}

/// Starts a fake Orca on `cfg.bind` (default `127.0.0.1:0`). Needs a tokio runtime.
pub async fn start_fake_orca(cfg: FakeOrcaConfig) -> io::Result<FakeOrca> {
    let runtime = http_server::current_runtime()?;
    let listener = http_server::bind(cfg.bind)?;
    let base_url = http_server::base_url(listener.local_addr()?);
    let http = crate::http_client::build()?;
    let state = Arc::new(OrcaState::new(
        base_url,
        cfg.role_members,
        cfg.fiat,
        cfg.reverb_url,
        cfg.response_delay,
        http,
        runtime.clone(),
    ));
    let server = RunningServer::spawn(listener, &runtime, routes::configure(state.clone()))?;
    tracing::info!(url = %state.base_url(), "fake Orca listening");
    Ok(FakeOrca { state, server })
}

impl FakeOrca {
    /// `http://127.0.0.1:<port>` (Reverb's `orca.baseUrl`).
    pub fn base_url(&self) -> String {
        self.state.base_url().to_owned()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn state(&self) -> &Arc<OrcaState> {
        &self.state
    }

    /// Stores (or replaces, by `id`) an execution in Orca's JSON.
    pub fn put_execution(&self, execution: Value) {
        self.state.put_execution(execution);
    }

    pub fn execution(&self, id: &str) -> Option<Value> {
        self.state.execution(id)
    }

    /// A stage of an execution, by ULID `id` or by `refId`.
    pub fn stage(&self, execution_id: &str, id_or_ref: &str) -> Option<Value> {
        let execution = self.state.execution(execution_id)?;
        execution::stage_by_id_or_ref(&execution, id_or_ref).cloned()
    }

    /// Every PATCH received, in order.
    pub fn patches(&self) -> Vec<OrcaPatch> {
        self.state.patches()
    }

    /// Every request to Orca's own endpoints, in arrival order (also those answered 503; the
    /// `/_sandbox/` controls are not recorded).
    pub fn requests(&self) -> Vec<OrcaRequest> {
        self.state.requests()
    }

    /// The next `times` requests to Orca's endpoints answer 503, as while [`Self::set_down`]:
    /// an Orca that comes back after a few failed calls.
    pub fn fail_next(&self, times: usize) {
        self.state.fail_next(times);
    }

    /// While set, every PATCH answers 200 with an empty body and changes nothing: Orca's
    /// failure that it catches and answers as a success.
    pub fn set_lose_patches(&self, lose: bool) {
        self.state.set_lose_patches(lose);
    }

    /// Everything posted to Reverb, in order.
    pub fn deliveries(&self) -> Vec<OrcaDelivery> {
        self.state.deliveries()
    }

    /// While down, every Orca endpoint answers 503 (the `/_sandbox/` controls keep working).
    pub fn set_down(&self, down: bool) {
        self.state.set_down(down);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.set_delay(delay);
    }

    pub fn set_reverb_url(&self, url: Option<&str>) {
        self.state.set_reverb_url(url.map(str::to_owned));
    }

    /// Starts the default sample pipeline (no judgment inputs) and returns its execution id once
    /// Reverb has received its events and the `manualJudgment` notification.
    pub async fn start_sample_pipeline(&self) -> String {
        self.start_sample_pipeline_with(SamplePipeline::default())
            .await
    }

    /// Starts a sample pipeline with other options, e.g. `SamplePipeline::with_inputs(&["ship", "hold"])`.
    pub async fn start_sample_pipeline_with(&self, options: SamplePipeline) -> String {
        pipeline::start_sample(&self.state, &options).await
    }

    /// A judgment made in Deck (the PATCH Deck sends) on the running judgment stage; returns the
    /// execution as the PATCH answered it. The task runs a few ms later, as after any PATCH.
    pub fn judge(
        &self,
        execution_id: &str,
        judgment: Judgment,
        user: &str,
        input: Option<&str>,
    ) -> Result<Value, SandboxError> {
        pipeline::judge_in_deck(&self.state, execution_id, judgment, user, input, None)
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}
