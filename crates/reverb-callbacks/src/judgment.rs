//! Recording a manual judgment in Orca from a click, exactly once.
//!
//! 1. What is judged: only a button on the message Reverb posted for that judgment
//!    (docs/security.md, "Bound to Reverb's message").
//! 2. Who clicked: a verified person of the bot's workspace (see `identity`), then what Fiat
//!    lets them do (docs/security.md, "Fiat").
//! 3. Claim the judgment in the store; only the claim holder talks to Orca, so concurrent and
//!    repeated clicks produce one PATCH.
//! 4. Read the execution; judge only a RUNNING manual-judgment stage with no `judgmentStatus`
//!    (Orca checks none of this itself).
//! 5. PATCH as Deck does, then read the stage back: Orca answers an empty 200 on internal failure
//!    and silently reverts judgments by users without a required role (docs/security.md, "Orca
//!    has the last word").
//! 6. Decided: record the outcome and replace every posted copy of the message.

use reverb_model::{MessageKind, OutboundMessage, SlackClientKind, Stage};
use reverb_store::JudgmentClaim;
use reverb_support::now_ms;
use serde_json::Value;
use tokio::time::Instant;

use reverb_model::judgment::{ButtonRef, judgment_key, judgment_ref_prefix};

use crate::buttons::JudgmentClick;
use crate::fiat::{FiatFailure, Permissions, Refusal};
use crate::handler::{ClickOutcome, Inner, ReplyTo};
use crate::identity;
use crate::interaction::Interaction;
use crate::peer::{PeerFailure, retry_while_unreachable};
use crate::replies;
use crate::resolution::{Decision, ResolvedJudgment};

/// What a stage without a name is called in messages.
const DEFAULT_STAGE_NAME: &str = "Manual Judgment";

/// Stage statuses after which a stage never waits for a judgment again (short of a restart).
const FINISHED_STATUSES: &[&str] = &[
    "SUCCEEDED",
    "FAILED_CONTINUE",
    "TERMINAL",
    "CANCELED",
    "STOPPED",
    "SKIPPED",
];

/// One click's context.
#[derive(Clone)]
struct Click<'a> {
    interaction: &'a Interaction,
    decision: Decision,
    target: &'a ButtonRef,
    identity: String,
    key: String,
    execution_url: String,
    /// The judgment input's text, as Orca lists it (read once the execution is fetched).
    judgment_input: Option<String>,
    /// The clicker's permissions in Fiat, when Fiat is on.
    permissions: Option<Permissions>,
}

impl Click<'_> {
    fn reply_to(&self) -> ReplyTo<'_> {
        ReplyTo::of(self.interaction)
    }
}

pub(crate) async fn judge(
    h: &Inner,
    interaction: &Interaction,
    click: &JudgmentClick,
) -> ClickOutcome {
    let target = &click.reference;
    let execution_url = h.execution_url(
        &target.application,
        &target.execution_id,
        &target.stage_ref_id,
    );
    // What is judged: only the message Reverb posted for this judgment can judge it.
    match is_posted_message(h, click).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(
                execution = %target.execution_id,
                stage_ref = %target.stage_ref_id,
                "refused a judgment button on a message Reverb did not post for that judgment"
            );
            h.tell(&ReplyTo::of(interaction), replies::not_our_message())
                .await;
            return ClickOutcome::Forged;
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read the judgment's message references");
            h.tell(&ReplyTo::of(interaction), replies::internal_error())
                .await;
            return ClickOutcome::InternalError;
        }
    }
    // Who judges.
    let identity =
        match identity::clicker(&h.slack, &h.workspace, &h.settings.identity, interaction).await {
            Ok(clicker) => clicker.spinnaker_user,
            Err(why) => {
                tracing::warn!(reason = ?why, "no Spinnaker identity for the clicker");
                h.tell(&ReplyTo::of(interaction), replies::no_identity(&why))
                    .await;
                return ClickOutcome::NoIdentity;
            }
        };
    let mut c = Click {
        interaction,
        decision: click.decision,
        target,
        identity,
        key: judgment_key(&target.execution_id, &target.stage_ref_id),
        execution_url,
        judgment_input: None,
        permissions: None,
    };
    // Who may judge, as Fiat says, before anything touches Orca.
    c.permissions = match fiat_permissions(h, &c).await {
        Ok(permissions) => permissions,
        Err(outcome) => return outcome,
    };
    let claim = match h.claim(&c.key, &c.identity).await {
        Ok(JudgmentClaim::Decided { outcome }) => reopen_if_waiting_again(h, &c, outcome).await,
        other => other,
    };
    match claim {
        Ok(JudgmentClaim::Granted) => judge_claimed(h, &c).await,
        Ok(JudgmentClaim::InProgress { claimant }) => {
            h.tell(&c.reply_to(), replies::in_progress(&claimant, &c.identity))
                .await;
            ClickOutcome::InProgress
        }
        Ok(JudgmentClaim::Decided { outcome }) => {
            let resolved = recorded_resolution(&outcome, &c);
            publish(h, &c, &resolved).await;
            h.tell(&c.reply_to(), replies::already_judged(&resolved))
                .await;
            ClickOutcome::AlreadyJudged
        }
        Err(e) => {
            tracing::error!(error = %e, "judgment claim failed");
            h.tell(&c.reply_to(), replies::internal_error()).await;
            ClickOutcome::InternalError
        }
    }
}

/// A decided judgment whose stage waits for a judgment again (the stage was restarted, or Orca
/// reverted a judgment made elsewhere) is re-opened, so the new click can judge it.
async fn reopen_if_waiting_again(
    h: &Inner,
    c: &Click<'_>,
    seen_outcome: String,
) -> Result<JudgmentClaim, crate::handler::StoreCallError> {
    let waiting = match h.orca.execution(&c.target.execution_id).await {
        Ok(execution) => execution
            .stage_by_ref_id(&c.target.stage_ref_id)
            .is_some_and(|s| {
                s.is_manual_judgment() && s.is_running() && s.judgment_status().is_none()
            }),
        Err(_) => false,
    };
    if !waiting {
        return Ok(JudgmentClaim::Decided {
            outcome: seen_outcome,
        });
    }
    // Under the lock, release only the very record this click saw, so two clicks cannot both
    // re-open (the second one finds the first one's claim).
    let _guard = h.reopen_lock.lock().await;
    match h.claim(&c.key, &c.identity).await? {
        JudgmentClaim::Decided { outcome } if outcome == seen_outcome => {
            tracing::info!("a decided judgment's stage is waiting again; re-opening it");
            h.release(&c.key).await;
            h.claim(&c.key, &c.identity).await
        }
        other => Ok(other),
    }
}

/// The flow while holding the claim: every path finishes (decided) or releases it.
async fn judge_claimed(h: &Inner, c: &Click<'_>) -> ClickOutcome {
    let fetched = retry_while_unreachable("orca", h.settings.orca_retry_for, || {
        h.orca.execution(&c.target.execution_id)
    })
    .await;
    let execution = match fetched {
        Ok(execution) => execution,
        Err(failure) => {
            tracing::warn!(error = %failure, "could not read the execution from Orca");
            h.release(&c.key).await;
            let text = match failure {
                PeerFailure::Unreachable(_) => replies::orca_unreachable(),
                other => replies::orca_refused(&other, &c.execution_url),
            };
            h.tell(&c.reply_to(), text).await;
            return ClickOutcome::OrcaError;
        }
    };
    let Some(stage) = execution.stage_by_ref_id(&c.target.stage_ref_id) else {
        h.release(&c.key).await;
        h.tell(
            &c.reply_to(),
            replies::stage_not_found(&c.target.stage_ref_id, &c.execution_url),
        )
        .await;
        return ClickOutcome::OrcaError;
    };
    let application = execution
        .application
        .clone()
        .unwrap_or_else(|| c.target.application.clone());
    if !c.target.application.is_empty() && !application.eq_ignore_ascii_case(&c.target.application)
    {
        tracing::warn!(button = %c.target.application, orca = %application, "judgment button names another application than Orca's execution");
        h.release(&c.key).await;
        h.tell(&c.reply_to(), replies::not_this_execution(&c.execution_url))
            .await;
        return ClickOutcome::Forged;
    }
    let judgment_input = match &c.target.input {
        None => None,
        Some(choice) => {
            let listed = stage.judgment_inputs();
            match choice.index.checked_sub(1).and_then(|i| listed.get(i)) {
                Some(text) if choice.matches(text) => Some(text.clone()),
                _ => {
                    h.release(&c.key).await;
                    h.tell(&c.reply_to(), replies::options_changed(&c.execution_url))
                        .await;
                    return ClickOutcome::NotRunning;
                }
            }
        }
    };
    let c = &Click {
        judgment_input,
        ..c.clone()
    };
    let base = ResolvedJudgment {
        application: application.clone(),
        execution_id: c.target.execution_id.clone(),
        stage_ref_id: c.target.stage_ref_id.clone(),
        stage_name: stage
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_STAGE_NAME.to_string()),
        pipeline_name: execution.name.clone(),
        decision: None,
        judged_by: None,
        slack_user_id: None,
        judgment_input: None,
        decided_at: now_ms() / 1000,
        note: None,
        link: c.execution_url.clone(),
    };

    if !stage.is_manual_judgment() {
        let resolved = ResolvedJudgment {
            note: Some("not a manual judgment stage".into()),
            ..base
        };
        settle(h, c, &resolved).await;
        h.tell(&c.reply_to(), replies::not_a_judgment(&c.execution_url))
            .await;
        return ClickOutcome::NotRunning;
    }
    if stage.judgment_status().is_some() {
        let resolved = judged_elsewhere(base, stage);
        settle(h, c, &resolved).await;
        h.tell(&c.reply_to(), replies::already_judged(&resolved))
            .await;
        return ClickOutcome::AlreadyJudged;
    }
    if !stage.is_running() {
        let status = stage.status.clone().unwrap_or_else(|| "UNKNOWN".into());
        let resolved = ResolvedJudgment {
            note: Some(format!("no longer running ({status})")),
            ..base
        };
        if FINISHED_STATUSES.contains(&status.as_str()) {
            settle(h, c, &resolved).await;
        } else {
            // Not started yet, or paused: it may still come to wait for this judgment.
            h.release(&c.key).await;
        }
        h.tell(
            &c.reply_to(),
            replies::no_longer_waiting(&resolved, &status),
        )
        .await;
        return ClickOutcome::NotRunning;
    }
    let Some(stage_id) = stage.id.clone() else {
        h.release(&c.key).await;
        h.tell(
            &c.reply_to(),
            replies::stage_not_found(&c.target.stage_ref_id, &c.execution_url),
        )
        .await;
        return ClickOutcome::OrcaError;
    };
    let required_roles = required_roles(stage);
    // Orca's own rules on Orca's own execution: EXECUTE on its application and the stage's
    // roles; the PATCH then carries the accounts Gate would send for the judge.
    let accounts = match &c.permissions {
        None => None,
        Some(permissions) => {
            if let Err(outcome) =
                refuse_unless(h, c, permissions.may_judge(&application, &required_roles)).await
            {
                h.release(&c.key).await;
                return outcome;
            }
            Some(permissions.allowed_accounts()).filter(|a| !a.is_empty())
        }
    };

    let patched = h
        .orca
        .judge(
            &c.target.execution_id,
            &stage_id,
            c.decision,
            c.judgment_input.as_deref(),
            &c.identity,
            accounts.as_deref(),
        )
        .await;
    match patched {
        Ok(()) => {}
        // It may or may not have been applied: the read-back tells.
        Err(PeerFailure::Unreachable(why)) => {
            tracing::warn!(reason = %why, "PATCH to Orca failed in transit")
        }
        Err(failure) => {
            tracing::warn!(error = %failure, "Orca refused the judgment");
            h.release(&c.key).await;
            h.tell(
                &c.reply_to(),
                replies::orca_refused(&failure, &c.execution_url),
            )
            .await;
            return ClickOutcome::OrcaError;
        }
    }

    match read_back(h, c, &stage_id).await {
        ReadBack::Recorded => {
            settle(h, c, &recorded_by_click(base, c)).await;
            ClickOutcome::Recorded
        }
        ReadBack::StillPending if required_roles.is_empty() => {
            // Without required roles Orca cannot revert it; it is only slow to move on.
            settle(h, c, &recorded_by_click(base, c)).await;
            ClickOutcome::Recorded
        }
        ReadBack::StillPending | ReadBack::Unknown => {
            h.release(&c.key).await;
            h.tell(&c.reply_to(), replies::unconfirmed(&c.execution_url))
                .await;
            ClickOutcome::OrcaError
        }
        ReadBack::Reverted => {
            tracing::warn!(user = %c.identity, "Orca reverted the judgment: the user lacks a required role");
            h.release(&c.key).await;
            h.tell(
                &c.reply_to(),
                replies::reverted(&required_roles, &c.execution_url),
            )
            .await;
            ClickOutcome::Reverted
        }
        ReadBack::NotApplied => {
            h.release(&c.key).await;
            h.tell(&c.reply_to(), replies::not_applied(&c.execution_url))
                .await;
            ClickOutcome::OrcaError
        }
        ReadBack::JudgedElsewhere(stage) => {
            let resolved = judged_elsewhere(base, &stage);
            settle(h, c, &resolved).await;
            h.tell(&c.reply_to(), replies::already_judged(&resolved))
                .await;
            ClickOutcome::AlreadyJudged
        }
        ReadBack::EndedWithout(status) => {
            let resolved = ResolvedJudgment {
                note: Some(format!("no longer running ({status})")),
                ..base
            };
            settle(h, c, &resolved).await;
            h.tell(
                &c.reply_to(),
                replies::no_longer_waiting(&resolved, &status),
            )
            .await;
            ClickOutcome::NotRunning
        }
    }
}

/// Whether the click's channel and message `ts` are a message Reverb posted for this judgment.
async fn is_posted_message(
    h: &Inner,
    click: &JudgmentClick,
) -> Result<bool, crate::handler::StoreCallError> {
    let Some(clicked) = click.message.clone() else {
        return Ok(false);
    };
    let prefix = judgment_ref_prefix(&click.reference.execution_id, &click.reference.stage_ref_id);
    let refs = h.with_store(move |s| s.refs_with_prefix(&prefix)).await?;
    Ok(refs
        .iter()
        .any(|(_, r)| r.channel_id == clicked.channel_id && r.ts == clicked.ts))
}

/// With Fiat on: the clicker's permissions, read before anything touches Orca, with the
/// application check made at once on the application the (authenticated) button names.
/// `Ok(None)` without Fiat; `Err` once the clicker has been told why.
async fn fiat_permissions(h: &Inner, c: &Click<'_>) -> Result<Option<Permissions>, ClickOutcome> {
    let Some(fiat) = &h.fiat else {
        return Ok(None);
    };
    let asked = retry_while_unreachable("fiat", h.settings.orca_retry_for, || {
        fiat.permissions(&c.identity)
    })
    .await;
    let permissions = match asked {
        Ok(p) => p,
        Err(failure) => {
            let failure = FiatFailure::from(failure);
            tracing::warn!(user = %c.identity, error = ?failure, "Fiat did not answer with the clicker's permissions");
            h.tell(&c.reply_to(), replies::fiat_refused(&failure, &c.identity))
                .await;
            return Err(match failure {
                FiatFailure::UnknownUser => ClickOutcome::NotAuthorized,
                FiatFailure::Unavailable(_) => ClickOutcome::FiatError,
            });
        }
    };
    if !c.target.application.is_empty() {
        refuse_unless(h, c, permissions.may_judge(&c.target.application, &[])).await?;
    }
    Ok(Some(permissions))
}

/// Tell the clicker why Fiat's answer forbids the judgment.
async fn refuse_unless(
    h: &Inner,
    c: &Click<'_>,
    verdict: Result<(), Refusal>,
) -> Result<(), ClickOutcome> {
    let Err(refusal) = verdict else {
        return Ok(());
    };
    tracing::info!(user = %c.identity, refusal = ?refusal, "Fiat does not allow the clicker to judge");
    h.tell(
        &c.reply_to(),
        replies::not_authorized(&refusal, &c.identity, &c.execution_url),
    )
    .await;
    Err(ClickOutcome::NotAuthorized)
}

/// What reading the stage back after the PATCH showed.
#[derive(Debug)]
enum ReadBack {
    /// The stage moved on with our decision.
    Recorded,
    /// Our decision is set, Orca has not acted on it yet (at the deadline).
    StillPending,
    /// The stage was never read back.
    Unknown,
    /// Orca cleared `judgmentStatus` after our PATCH: role check failed.
    Reverted,
    /// The stage shows no trace of our PATCH (Orca's empty-200 failure).
    NotApplied,
    /// Someone else's decision is on the stage.
    JudgedElsewhere(Box<Stage>),
    /// The stage left RUNNING without a decision (e.g. the pipeline was cancelled).
    EndedWithout(String),
}

/// One look at the stage: final, or worth looking again.
#[derive(Debug)]
enum Observation {
    Final(ReadBack),
    Pending,
    NoTrace,
}

fn observe(stage: &Stage, decision: Decision, identity: &str) -> Observation {
    let current = stage.judgment_status();
    let current_decision = current.as_deref().and_then(Decision::from_orca_status);
    if !stage.is_running() {
        return Observation::Final(match current_decision {
            Some(d) if d == decision => ReadBack::Recorded,
            Some(_) => ReadBack::JudgedElsewhere(Box::new(stage.clone())),
            None => {
                ReadBack::EndedWithout(stage.status.clone().unwrap_or_else(|| "UNKNOWN".into()))
            }
        });
    }
    match (current, current_decision) {
        (Some(_), Some(d)) if d == decision => Observation::Pending,
        (Some(_), _) => Observation::Final(ReadBack::JudgedElsewhere(Box::new(stage.clone()))),
        (None, _)
            if last_modified_by(stage).is_some_and(|who| who.eq_ignore_ascii_case(identity)) =>
        {
            Observation::Final(ReadBack::Reverted)
        }
        (None, _) => Observation::NoTrace,
    }
}

/// Poll the stage until Orca has acted on the judgment or the read-back deadline passes.
async fn read_back(h: &Inner, c: &Click<'_>, stage_id: &str) -> ReadBack {
    let deadline = Instant::now() + h.settings.readback_timeout;
    let mut last = None;
    loop {
        match h.orca.execution(&c.target.execution_id).await {
            Ok(execution) => match execution.stage_by_id(stage_id) {
                Some(stage) => match observe(stage, c.decision, &c.identity) {
                    Observation::Final(result) => return result,
                    other => last = Some(other),
                },
                None => tracing::warn!("the judged stage vanished from the execution"),
            },
            Err(e) => tracing::info!(error = %e, "reading the stage back failed; trying again"),
        }
        if Instant::now() + h.settings.readback_poll_interval > deadline {
            break;
        }
        tokio::time::sleep(h.settings.readback_poll_interval).await;
    }
    match last {
        Some(Observation::Pending) => ReadBack::StillPending,
        Some(Observation::NoTrace) => ReadBack::NotApplied,
        _ => ReadBack::Unknown,
    }
}

/// The judgment this click made.
fn recorded_by_click(base: ResolvedJudgment, c: &Click<'_>) -> ResolvedJudgment {
    ResolvedJudgment {
        decision: Some(c.decision),
        judged_by: Some(c.identity.clone()),
        slack_user_id: c.interaction.user.id.clone(),
        judgment_input: c.judgment_input.clone(),
        decided_at: now_ms() / 1000,
        ..base
    }
}

/// The judgment already on a stage (made in Deck, or by an earlier click).
fn judged_elsewhere(base: ResolvedJudgment, stage: &Stage) -> ResolvedJudgment {
    let decision = stage
        .judgment_status()
        .as_deref()
        .and_then(Decision::from_orca_status);
    let judged_by = last_modified_by(stage);
    let note = match &judged_by {
        Some(who) => format!("already judged by {who}"),
        None => "already judged".to_string(),
    };
    ResolvedJudgment {
        decision,
        judged_by,
        judgment_input: stage
            .context_value("judgmentInput")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        note: Some(note),
        ..base
    }
}

/// Who last changed the stage (`context.lastModifiedBy`, else `lastModified.user`).
fn last_modified_by(stage: &Stage) -> Option<String> {
    stage
        .context_value("lastModifiedBy")
        .and_then(Value::as_str)
        .or_else(|| stage.last_modified.as_ref()?.get("user")?.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `requiredJudgmentRoles` if non-empty, else `selectedStageRoles`, as Orca reads them
/// (docs/security.md, "Fiat").
fn required_roles(stage: &Stage) -> Vec<String> {
    let read = |key: &str| -> Vec<String> {
        stage
            .context_value(key)
            .and_then(Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let required = read("requiredJudgmentRoles");
    if required.is_empty() {
        read("selectedStageRoles")
    } else {
        required
    }
}

/// The judgment the store recorded earlier; a record that cannot be read still says "decided".
fn recorded_resolution(outcome: &str, c: &Click<'_>) -> ResolvedJudgment {
    serde_json::from_str(outcome).unwrap_or_else(|_| ResolvedJudgment {
        application: c.target.application.clone(),
        execution_id: c.target.execution_id.clone(),
        stage_ref_id: c.target.stage_ref_id.clone(),
        stage_name: DEFAULT_STAGE_NAME.to_string(),
        pipeline_name: None,
        decision: Decision::from_orca_status(outcome),
        judged_by: None,
        slack_user_id: None,
        judgment_input: None,
        decided_at: now_ms() / 1000,
        note: Some("already judged".into()),
        link: c.execution_url.clone(),
    })
}

/// Record the judgment as decided and replace the messages.
async fn settle(h: &Inner, c: &Click<'_>, resolved: &ResolvedJudgment) {
    let key = c.key.clone();
    let outcome = serde_json::to_string(resolved).unwrap_or_default();
    if let Err(e) = h
        .with_store(move |s| s.finish_judgment(&key, &outcome, true, now_ms()))
        .await
    {
        tracing::error!(error = %e, "could not record the judgment's outcome");
    }
    publish(h, c, resolved).await;
}

/// Replace every posted copy of the judgment message; a message Reverb did not post (no
/// reference) is replaced through the click's `response_url`.
async fn publish(h: &Inner, c: &Click<'_>, resolved: &ResolvedJudgment) {
    let prefix = format!("{}@", c.key);
    let lookup = prefix.clone();
    let refs = match h.with_store(move |s| s.refs_with_prefix(&lookup)).await {
        Ok(refs) => refs,
        Err(e) => {
            tracing::error!(error = %e, "could not read the judgment's message references");
            Vec::new()
        }
    };
    let message = h.renderer.render(resolved);
    let outbound: Vec<OutboundMessage> = if refs.is_empty() {
        c.interaction
            .response_url
            .as_deref()
            .map(|url| replies::via_response_url(MessageKind::JudgmentResolved, url, message))
            .into_iter()
            .collect()
    } else {
        refs.into_iter()
            .map(|(key, _)| {
                let lane = key.strip_prefix(&prefix).unwrap_or(&key).to_string();
                OutboundMessage::update(MessageKind::JudgmentResolved, lane, key, message.clone())
                    .with_client(SlackClientKind::App)
                    .into()
            })
            .collect()
    };
    if outbound.is_empty() {
        tracing::warn!("no message to update for this judgment (no reference, no response_url)");
    }
    h.send(outbound).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage(value: Value) -> Stage {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn read_back_sees_a_recorded_judgment() {
        let s = stage(
            json!({"id": "S", "refId": "1", "type": "manualJudgment", "status": "SUCCEEDED",
            "context": {"judgmentStatus": "continue", "lastModifiedBy": "jane@example.com"}}),
        );
        assert!(matches!(
            observe(&s, Decision::Continue, "jane@example.com"),
            Observation::Final(ReadBack::Recorded)
        ));
        assert!(matches!(
            observe(&s, Decision::Stop, "jane@example.com"),
            Observation::Final(ReadBack::JudgedElsewhere(_))
        ));
    }

    #[test]
    fn read_back_waits_while_orca_has_not_acted() {
        let s = stage(
            json!({"id": "S", "type": "manualJudgment", "status": "RUNNING",
            "context": {"judgmentStatus": "stop", "lastModifiedBy": "jane@example.com"}}),
        );
        assert!(matches!(
            observe(&s, Decision::Stop, "jane@example.com"),
            Observation::Pending
        ));
    }

    #[test]
    fn read_back_tells_a_revert_from_a_lost_patch() {
        let reverted = stage(
            json!({"id": "S", "type": "manualJudgment", "status": "RUNNING",
            "context": {"judgmentStatus": "", "lastModifiedBy": "Jane@Example.com"}}),
        );
        assert!(matches!(
            observe(&reverted, Decision::Continue, "jane@example.com"),
            Observation::Final(ReadBack::Reverted)
        ));
        let untouched =
            stage(json!({"id": "S", "type": "manualJudgment", "status": "RUNNING", "context": {}}));
        assert!(matches!(
            observe(&untouched, Decision::Continue, "jane@example.com"),
            Observation::NoTrace
        ));
        let by_user = stage(
            json!({"id": "S", "type": "manualJudgment", "status": "RUNNING",
            "context": {}, "lastModified": {"user": "jane@example.com"}}),
        );
        assert!(matches!(
            observe(&by_user, Decision::Continue, "jane@example.com"),
            Observation::Final(ReadBack::Reverted)
        ));
    }

    #[test]
    fn read_back_sees_a_stage_that_ended_without_judgment() {
        let s = stage(
            json!({"id": "S", "type": "manualJudgment", "status": "CANCELED", "context": {}}),
        );
        assert!(matches!(
            observe(&s, Decision::Continue, "x"),
            Observation::Final(ReadBack::EndedWithout(status)) if status == "CANCELED"
        ));
    }

    #[test]
    fn required_roles_prefer_the_explicit_list() {
        let s = stage(
            json!({"context": {"requiredJudgmentRoles": ["admins"], "selectedStageRoles": ["devs"]}}),
        );
        assert_eq!(required_roles(&s), vec!["admins"]);
        let s = stage(
            json!({"context": {"requiredJudgmentRoles": [], "selectedStageRoles": ["devs"]}}),
        );
        assert_eq!(required_roles(&s), vec!["devs"]);
        assert!(required_roles(&stage(json!({}))).is_empty());
    }
}
