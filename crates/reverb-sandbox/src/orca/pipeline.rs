//! Driving executions forward and telling Reverb about it, as Orca's queue handlers and
//! `EchoNotifyingExecutionListener`/`EchoNotifyingStageListener` would.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::execution::{self, execution_user, stage_by_id_or_ref, stage_by_ref_mut, str_of};
use super::judgment::{self, AWAITING, PatchResult, TaskOutcome};
use super::messages::{pipeline_event, stage_event};
use super::model::{DeliveryKind, Judgment, OrcaDelivery, OrcaPatch};
use super::sample::{self, BUILD_REF, DEPLOY_REF, JUDGMENT_REF, SamplePipeline};
use super::state::OrcaState;
use crate::error::SandboxError;
use crate::ids::{new_ulid, now_ms};

/// Orca reschedules the execution right after a PATCH; its task runs a moment later.
const TASK_RUN_DELAY: Duration = Duration::from_millis(5);

/// A body for Reverb, with the headers Orca's client adds.
struct Outgoing {
    kind: DeliveryKind,
    body: Value,
    execution_id: String,
    user: Option<String>,
}

impl Outgoing {
    fn event(body: Value, execution: &Value, with_user: bool) -> Self {
        Self {
            kind: DeliveryKind::Event,
            body,
            execution_id: str_of(execution, "id").unwrap_or_default().to_owned(),
            user: with_user.then(|| execution_user(execution)),
        }
    }

    fn notification(body: Value, execution_id: &str) -> Self {
        Self {
            kind: DeliveryKind::Notification,
            body,
            execution_id: execution_id.to_owned(),
            user: None,
        }
    }
}

/// Sends one body to Reverb (if a Reverb URL is set) and records the outcome. Like Orca's event
/// listener, a failure is recorded and dropped, never retried.
async fn deliver(state: &OrcaState, outgoing: Outgoing) {
    let Some(base) = state.reverb_url() else {
        return;
    };
    let base = base.trim_end_matches('/');
    let (url, content_type, label) = match outgoing.kind {
        DeliveryKind::Event => (
            format!("{base}/"),
            "application/json; charset=UTF-8",
            outgoing
                .body
                .get("details")
                .and_then(|details| str_of(details, "type"))
                .unwrap_or_default()
                .to_owned(),
        ),
        DeliveryKind::Notification => (
            format!("{base}/notifications"),
            "application/json",
            str_of(&outgoing.body, "templateGroup")
                .unwrap_or_default()
                .to_owned(),
        ),
    };
    let mut request = state
        .http
        .post(&url)
        .header(CONTENT_TYPE, content_type)
        .header("X-SPINNAKER-EXECUTION-ID", outgoing.execution_id.as_str());
    if outgoing.kind == DeliveryKind::Event {
        request = request.header("X-SPINNAKER-ANONYMOUS", "anonymous");
    }
    if let Some(user) = &outgoing.user {
        request = request.header("X-SPINNAKER-USER", user.as_str());
    }
    let result = request.body(outgoing.body.to_string()).send().await;
    let (status, error) = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            // Drain the body so the connection can be reused; its content is ignored like Orca does.
            let _ = response.bytes().await;
            (Some(status), None)
        }
        Err(err) => {
            tracing::warn!(%url, %label, error = %err, "fake Orca could not reach Reverb");
            (None, Some(err.to_string()))
        }
    };
    state.data().deliveries.push(OrcaDelivery {
        kind: outgoing.kind,
        url,
        label,
        body: outgoing.body,
        status,
        error,
        sent_at: SystemTime::now(),
    });
}

/// Applies `change` to stage `ref_id` and returns the stage event `phase` for it.
fn stage_step(
    state: &OrcaState,
    execution_id: &str,
    ref_id: &str,
    phase: &str,
    change: impl FnOnce(&mut Value),
) -> Option<Outgoing> {
    let mut data = state.data();
    let execution = data.execution_mut(execution_id)?;
    change(stage_by_ref_mut(execution, ref_id)?);
    let stage = stage_by_id_or_ref(execution, ref_id)?.clone();
    Some(Outgoing::event(
        stage_event(phase, execution, &stage),
        execution,
        true,
    ))
}

async fn deliver_step(state: &OrcaState, step: Option<Outgoing>) {
    if let Some(outgoing) = step {
        deliver(state, outgoing).await;
    }
}

/// Creates a sample execution and runs it up to the waiting manual judgment, posting Orca's
/// events and the `manualJudgment` notification to Reverb on the way.
pub(crate) async fn start_sample(state: &OrcaState, options: &SamplePipeline) -> String {
    let id = new_ulid();
    let execution = sample::build_execution(&id, options, now_ms());
    {
        let mut data = state.data();
        data.put_execution(execution.clone());
        data.driven.insert(id.clone());
    }
    deliver(
        state,
        Outgoing::event(pipeline_event("starting", &execution), &execution, false),
    )
    .await;
    let step = stage_step(state, &id, BUILD_REF, "starting", |stage| {
        execution::start_stage(stage, now_ms())
    });
    deliver_step(state, step).await;
    let step = stage_step(state, &id, BUILD_REF, "complete", |stage| {
        execution::finish_stage(stage, "SUCCEEDED", now_ms())
    });
    deliver_step(state, step).await;
    let step = stage_step(state, &id, JUDGMENT_REF, "starting", |stage| {
        execution::start_stage(stage, now_ms())
    });
    deliver_step(state, step).await;
    let notifications = {
        let mut data = state.data();
        data.execution_mut(&id)
            .and_then(|execution| {
                let stage_id =
                    str_of(stage_by_id_or_ref(execution, JUDGMENT_REF)?, "id")?.to_owned();
                let now = now_ms();
                execution::run_tasks(stage_by_ref_mut(execution, JUDGMENT_REF)?, now);
                Some(judgment::due_notifications(
                    execution, &stage_id, AWAITING, now,
                ))
            })
            .unwrap_or_default()
    };
    for body in notifications {
        deliver(state, Outgoing::notification(body, &id)).await;
    }
    id
}

/// What happens after a PATCH: the judgment task runs, and a driven execution continues.
pub(crate) async fn after_patch(state: Arc<OrcaState>, execution_id: String, stage_id: String) {
    tokio::time::sleep(TASK_RUN_DELAY).await;
    let (outcome, driven) = {
        let mut data = state.data();
        let outcome = judgment::run_wait_for_judgment(
            &mut data,
            state.judges(),
            &execution_id,
            &stage_id,
            now_ms(),
        );
        (outcome, data.driven.contains(&execution_id))
    };
    let TaskOutcome::Decided {
        judgment,
        notifications,
        stage_event,
    } = outcome
    else {
        return;
    };
    if !driven {
        return;
    }
    for body in notifications {
        deliver(&state, Outgoing::notification(body, &execution_id)).await;
    }
    let snapshot = state.execution(&execution_id).unwrap_or(Value::Null);
    deliver(&state, Outgoing::event(stage_event, &snapshot, true)).await;
    let final_status = match judgment {
        Judgment::Continue => {
            let step = stage_step(&state, &execution_id, DEPLOY_REF, "starting", |stage| {
                let now = now_ms();
                execution::start_stage(stage, now);
                execution::run_tasks(stage, now);
            });
            deliver_step(&state, step).await;
            let step = stage_step(&state, &execution_id, DEPLOY_REF, "complete", |stage| {
                execution::finish_stage(stage, "SUCCEEDED", now_ms());
            });
            deliver_step(&state, step).await;
            "SUCCEEDED"
        }
        Judgment::Stop => "TERMINAL",
    };
    let finished = {
        let mut data = state.data();
        data.execution_mut(&execution_id).map(|execution| {
            execution::finish_execution(execution, final_status, now_ms());
            execution.clone()
        })
    };
    if let Some(execution) = finished {
        let phase = if final_status == "SUCCEEDED" {
            "complete"
        } else {
            "failed"
        };
        deliver(
            &state,
            Outgoing::event(pipeline_event(phase, &execution), &execution, false),
        )
        .await;
    }
}

/// Records a PATCH (HTTP or "Deck") and applies it; schedules the task run when it took effect.
/// Spring's order: the body is bound first (400), then `@PreAuthorize` looks the execution up
/// (404) and, with Fiat, refuses a user without EXECUTE on its application (403) before
/// anything changes.
pub(crate) fn patch(state: &Arc<OrcaState>, request: PatchRequest) -> PatchResult {
    let now = now_ms();
    let result = {
        let mut data = state.data();
        let result = match request.body.as_object() {
            None => PatchResult::BadBody,
            Some(body) => {
                let refusal = state.fiat().and_then(|fiat| {
                    judgment::refuse_patch(
                        &data,
                        fiat,
                        &request.execution_id,
                        request.user.as_deref(),
                    )
                });
                match refusal {
                    Some(message) => PatchResult::Forbidden(message),
                    // Orca's swallowed failure: 200 with no body, and nothing stored.
                    None if data.lose_patches => PatchResult::UnknownStage,
                    None => judgment::apply_patch(
                        &mut data,
                        &request.execution_id,
                        &request.stage_id,
                        body,
                        request.user.as_deref(),
                        request.accounts.as_deref(),
                        now,
                    ),
                }
            }
        };
        let status = match result {
            PatchResult::UnknownExecution => 404,
            PatchResult::BadBody => 400,
            PatchResult::Forbidden(_) => 403,
            PatchResult::UnknownStage | PatchResult::Updated(_) => 200,
        };
        data.patches.push(OrcaPatch {
            execution_id: request.execution_id.clone(),
            stage_id: request.stage_id.clone(),
            body: request.body,
            user: request.user,
            accounts: request.accounts,
            headers: request.headers,
            status,
            via_deck: request.via_deck,
            received_at: SystemTime::now(),
        });
        result
    };
    if matches!(result, PatchResult::Updated(_)) {
        state.runtime.spawn(after_patch(
            state.clone(),
            request.execution_id,
            request.stage_id,
        ));
    }
    result
}

pub(crate) struct PatchRequest {
    pub(crate) execution_id: String,
    pub(crate) stage_id: String,
    pub(crate) body: Value,
    pub(crate) user: Option<String>,
    pub(crate) accounts: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) via_deck: bool,
}

/// A judgment made in Deck: the same PATCH Deck sends through Gate, on the running judgment
/// stage (or `stage_id`).
pub(crate) fn judge_in_deck(
    state: &Arc<OrcaState>,
    execution_id: &str,
    judgment: Judgment,
    user: &str,
    input: Option<&str>,
    stage_id: Option<&str>,
) -> Result<Value, SandboxError> {
    let execution = state
        .execution(execution_id)
        .ok_or_else(|| SandboxError::ExecutionNotFound(execution_id.to_owned()))?;
    let stage_id = match stage_id {
        Some(id) => id.to_owned(),
        None => execution::stages(&execution)
            .find(|stage| {
                str_of(stage, "type") == Some("manualJudgment")
                    && str_of(stage, "status") == Some("RUNNING")
            })
            .and_then(|stage| str_of(stage, "id"))
            .ok_or_else(|| SandboxError::NoRunningJudgment(execution_id.to_owned()))?
            .to_owned(),
    };
    let request = PatchRequest {
        execution_id: execution_id.to_owned(),
        stage_id,
        body: json!({"judgmentStatus": judgment.as_str(), "judgmentInput": input}),
        user: Some(user.to_owned()),
        accounts: None,
        headers: vec![("x-spinnaker-user".to_owned(), user.to_owned())],
        via_deck: true,
    };
    match patch(state, request) {
        PatchResult::Updated(execution) => Ok(execution),
        PatchResult::UnknownExecution => {
            Err(SandboxError::ExecutionNotFound(execution_id.to_owned()))
        }
        PatchResult::Forbidden(message) => Err(SandboxError::AccessDenied(message)),
        PatchResult::UnknownStage | PatchResult::BadBody => {
            Err(SandboxError::NoRunningJudgment(execution_id.to_owned()))
        }
    }
}
