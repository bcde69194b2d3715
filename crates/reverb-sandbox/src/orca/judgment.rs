//! Orca's manual judgment semantics: the PATCH that records a decision
//! (`CompoundExecutionOperator.updateStage`) and the next run of `WaitForManualJudgmentTask`
//! (role check with silent revert, notifications, stage completion): docs/echo-contract.md.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::execution::{self, context_mut, finish_stage, stage_by_id, stage_by_id_mut, str_of};
use super::messages;
use super::model::Judgment;
use super::state::OrcaData;
use crate::fiat::{FiatAuthorization, FiatPermissions};

/// The notification states of a manual judgment (also its `templateGroup`s).
pub(crate) const AWAITING: &str = "manualJudgment";
const CONTINUED: &str = "manualJudgmentContinue";
const STOPPED: &str = "manualJudgmentStop";

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PatchResult {
    UnknownExecution,
    /// Not a JSON object: Jackson cannot bind it to a map (400).
    BadBody,
    /// Orca swallows the error and answers 200 with an empty body.
    UnknownStage,
    /// `@PreAuthorize` refused the user (Fiat enabled): 403, nothing changed. The message is
    /// the one `FiatAccessDeniedExceptionHandler` sends.
    Forbidden(String),
    Updated(Value),
}

/// `TaskController.updatePipelineStage`'s
/// `@PreAuthorize("hasPermission(this.getPipeline(#id)?.application, 'APPLICATION', 'EXECUTE')")`:
/// `Some(message)` when `user` (`anonymous` without `X-SPINNAKER-USER`) may not execute the
/// execution's application. An unknown execution is not refused here (Orca answers 404 first).
pub(crate) fn refuse_patch(
    data: &OrcaData,
    fiat: &FiatPermissions,
    execution_id: &str,
    user: Option<&str>,
) -> Option<String> {
    let execution = data.execution(execution_id)?;
    let user = user.filter(|user| !user.is_empty()).unwrap_or("anonymous");
    match str_of(execution, "application").filter(|app| !app.is_empty()) {
        Some(application) => {
            (!fiat.can_on_application(user, application, FiatAuthorization::Execute)).then(|| {
                format!(
                    "Access denied to application {application} - required authorization: EXECUTE"
                )
            })
        }
        // `hasPermission(null, …)` is false before any failure is recorded.
        None => Some("Access is denied".to_owned()),
    }
}

/// `AuthenticatedRequest.getSpinnakerAccounts().orElse(null)?.split(",") ?: []`: Java's split,
/// so items keep their spaces and trailing empty items are dropped.
fn allowed_accounts(header: Option<&str>) -> Vec<String> {
    let Some(header) = header else {
        return Vec::new();
    };
    let mut items: Vec<String> = header.split(',').map(str::to_owned).collect();
    if items.len() > 1 {
        while items.last().is_some_and(String::is_empty) {
            items.pop();
        }
    }
    items
}

/// `context.putAll(body)`, `lastModified`, `context.lastModifiedBy`. Nothing else is checked:
/// not the stage type, not that it still runs, not that it was already judged (like Orca).
pub(crate) fn apply_patch(
    data: &mut OrcaData,
    execution_id: &str,
    stage_id: &str,
    body: &serde_json::Map<String, Value>,
    user: Option<&str>,
    accounts: Option<&str>,
    now: i64,
) -> PatchResult {
    let Some(execution) = data.execution_mut(execution_id) else {
        return PatchResult::UnknownExecution;
    };
    let Some(stage) = stage_by_id_mut(execution, stage_id) else {
        return PatchResult::UnknownStage;
    };
    let user = user
        .filter(|user| !user.is_empty())
        .unwrap_or("anonymous")
        .to_owned();
    let allowed_accounts = allowed_accounts(accounts);
    if let Some(context) = context_mut(stage) {
        context.extend(body.iter().map(|(key, value)| (key.clone(), value.clone())));
        context.insert("lastModifiedBy".into(), json!(user));
    }
    execution::set(
        stage,
        "lastModified",
        json!({"user": user, "allowedAccounts": allowed_accounts, "lastModifiedTime": now}),
    );
    PatchResult::Updated(execution.clone())
}

/// `requiredJudgmentRoles` if non-empty, else `selectedStageRoles`.
fn required_roles(stage: &Value) -> Vec<String> {
    let roles = |key: &str| -> Vec<String> {
        stage
            .get("context")
            .and_then(|context| context.get(key))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let required = roles("requiredJudgmentRoles");
    if required.is_empty() {
        roles("selectedStageRoles")
    } else {
        required
    }
}

/// Who may judge: Fiat's permissions, or (Fiat off) a role → members table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Judges<'a> {
    Members(&'a HashMap<String, Vec<String>>),
    Fiat(&'a FiatPermissions),
}

impl Judges<'_> {
    /// `ManualJudgmentAuthorization.isAuthorized(required, user)`; `required` is not empty.
    fn may_judge(self, required: &[String], user: &str) -> bool {
        match self {
            Self::Fiat(fiat) => fiat.may_judge(user, required),
            Self::Members(role_members) => {
                !user.is_empty()
                    && required.iter().any(|role| {
                        role_members.get(role).is_some_and(|members| {
                            members
                                .iter()
                                .any(|member| member.eq_ignore_ascii_case(user))
                        })
                    })
            }
        }
    }
}

/// `ManualJudgmentStage.Notification.shouldNotify`.
fn should_notify(notification: &Value, state: &str, now: i64) -> bool {
    let when: Vec<&str> = notification
        .get("when")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !when.is_empty() && !when.contains(&state) {
        return false;
    }
    let last = notification
        .get("lastNotifiedByNotificationState")
        .and_then(|map| map.get(state))
        .and_then(Value::as_i64);
    let Some(last) = last else {
        return true;
    };
    let every = notification
        .get("notifyEveryMs")
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    every > 0 && last + every <= now
}

/// The judgment notifications due in `state`, built from the execution as it is now; marks them
/// sent (`lastNotifiedByNotificationState[state] = now`) afterwards, as Orca's task output does.
pub(crate) fn due_notifications(
    execution: &mut Value,
    stage_id: &str,
    state: &str,
    now: i64,
) -> Vec<Value> {
    let snapshot = execution.clone();
    let Some(stage) = stage_by_id(&snapshot, stage_id) else {
        return Vec::new();
    };
    let send_notifications = stage
        .get("context")
        .and_then(|c| c.get("sendNotifications"))
        .and_then(Value::as_bool);
    if state != AWAITING && send_notifications != Some(true) {
        return Vec::new();
    }
    let entries: Vec<Value> = stage
        .get("context")
        .and_then(|context| context.get("notifications"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut bodies = Vec::new();
    let mut sent = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        if !should_notify(entry, state, now) {
            continue;
        }
        if let Some(body) = messages::judgment_notification(state, &snapshot, stage, entry) {
            bodies.push(body);
            sent.push(index);
        }
    }
    let notifications = stage_by_id_mut(execution, stage_id)
        .and_then(context_mut)
        .and_then(|context| context.get_mut("notifications"))
        .and_then(Value::as_array_mut);
    for entry in notifications
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(index, _)| sent.contains(index))
        .map(|(_, e)| e)
    {
        if let Some(map) = entry.as_object_mut() {
            let states = map
                .entry("lastNotifiedByNotificationState")
                .or_insert_with(|| json!({}));
            execution::set(states, state, json!(now));
        }
    }
    bodies
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TaskOutcome {
    /// Not a running manual judgment stage (or gone): the task does not run.
    Idle,
    /// No decision yet.
    Waiting,
    /// The judge lacks the required role: `judgmentStatus` cleared, stage keeps RUNNING.
    Reverted,
    /// Stage finished; `notifications` are the judgment notifications due (only for driven
    /// executions), `stage_event` its `orca:stage:complete|failed` event.
    Decided {
        judgment: Judgment,
        notifications: Vec<Value>,
        stage_event: Value,
    },
}

/// One run of `WaitForManualJudgmentTask` for `stage_id`.
pub(crate) fn run_wait_for_judgment(
    data: &mut OrcaData,
    judges: Judges<'_>,
    execution_id: &str,
    stage_id: &str,
    now: i64,
) -> TaskOutcome {
    let driven = data.driven.contains(execution_id);
    let Some(execution) = data.execution_mut(execution_id) else {
        return TaskOutcome::Idle;
    };
    let Some(stage) = stage_by_id(execution, stage_id) else {
        return TaskOutcome::Idle;
    };
    if str_of(stage, "type") != Some("manualJudgment") || str_of(stage, "status") != Some("RUNNING")
    {
        return TaskOutcome::Idle;
    }
    let status = stage
        .get("context")
        .and_then(|context| str_of(context, "judgmentStatus"))
        .unwrap_or_default();
    let Some(judgment) = Judgment::parse(status) else {
        return TaskOutcome::Waiting;
    };
    let required = required_roles(stage);
    let judge = stage
        .get("lastModified")
        .and_then(|modified| str_of(modified, "user"))
        .unwrap_or_default();
    if !required.is_empty() && !judges.may_judge(&required, judge) {
        if let Some(context) = stage_by_id_mut(execution, stage_id).and_then(context_mut) {
            context.insert("judgmentStatus".into(), json!(""));
        }
        return TaskOutcome::Reverted;
    }
    let (state, final_status, phase) = match judgment {
        Judgment::Continue => (CONTINUED, "SUCCEEDED", "complete"),
        Judgment::Stop => (STOPPED, "TERMINAL", "failed"),
    };
    let notifications = if driven {
        due_notifications(execution, stage_id, state, now)
    } else {
        Vec::new()
    };
    let Some(stage) = stage_by_id_mut(execution, stage_id) else {
        return TaskOutcome::Idle;
    };
    finish_stage(stage, final_status, now);
    let stage_snapshot = stage.clone();
    let stage_event = messages::stage_event(phase, execution, &stage_snapshot);
    TaskOutcome::Decided {
        judgment,
        notifications,
        stage_event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orca::sample::{JUDGMENT_REF, SamplePipeline, build_execution};

    fn judgment_stage_id(data: &OrcaData) -> String {
        let execution = data.execution("E1").expect("execution");
        execution::stage_by_id_or_ref(execution, JUDGMENT_REF)
            .and_then(|s| str_of(s, "id"))
            .expect("id")
            .to_owned()
    }

    fn running_sample() -> OrcaData {
        let mut data = OrcaData::default();
        data.put_execution(build_execution("E1", &SamplePipeline::default(), 1));
        let id = judgment_stage_id(&data);
        let execution = data.execution_mut("E1").expect("execution");
        execution::start_stage(stage_by_id_mut(execution, &id).expect("stage"), 2);
        data
    }

    fn members() -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "release-managers".to_owned(),
            vec!["jane@example.com".to_owned()],
        )])
    }

    fn table(members: &HashMap<String, Vec<String>>) -> Judges<'_> {
        Judges::Members(members)
    }

    fn body(status: &str) -> serde_json::Map<String, Value> {
        json!({"judgmentStatus": status, "judgmentInput": null})
            .as_object()
            .cloned()
            .expect("object")
    }

    #[test]
    fn patch_merges_context_and_records_the_user() {
        let mut data = running_sample();
        let id = judgment_stage_id(&data);
        let result = apply_patch(
            &mut data,
            "E1",
            &id,
            &body("continue"),
            Some("jane@example.com"),
            Some("a, b,,"),
            42,
        );
        let PatchResult::Updated(execution) = result else {
            panic!("updated expected")
        };
        let stage = stage_by_id(&execution, &id).expect("stage");
        assert_eq!(stage["context"]["judgmentStatus"], "continue");
        assert_eq!(stage["context"]["lastModifiedBy"], "jane@example.com");
        assert_eq!(
            stage["context"]["instructions"],
            "Check the canary dashboard before approving."
        );
        assert_eq!(
            stage["lastModified"],
            json!({"user": "jane@example.com", "allowedAccounts": ["a", " b"], "lastModifiedTime": 42})
        );
        assert_eq!(
            apply_patch(&mut data, "E1", "nope", &body("stop"), None, None, 1),
            PatchResult::UnknownStage
        );
        assert_eq!(
            apply_patch(&mut data, "E2", &id, &body("stop"), None, None, 1),
            PatchResult::UnknownExecution
        );
    }

    #[test]
    fn unauthorised_judgment_is_silently_reverted() {
        let mut data = running_sample();
        let id = judgment_stage_id(&data);
        apply_patch(
            &mut data,
            "E1",
            &id,
            &body("continue"),
            Some("mallory@example.com"),
            None,
            5,
        );
        assert_eq!(
            run_wait_for_judgment(&mut data, table(&members()), "E1", &id, 6),
            TaskOutcome::Reverted
        );
        let stage = stage_by_id(data.execution("E1").expect("e"), &id)
            .expect("stage")
            .clone();
        assert_eq!(stage["status"], "RUNNING");
        assert_eq!(stage["context"]["judgmentStatus"], "");
        assert_eq!(stage["context"]["lastModifiedBy"], "mallory@example.com");
        assert_eq!(
            run_wait_for_judgment(&mut data, table(&members()), "E1", &id, 7),
            TaskOutcome::Waiting
        );
    }

    #[test]
    fn authorised_stop_terminates_and_notifies_once() {
        let mut data = running_sample();
        data.driven.insert("E1".to_owned());
        let id = judgment_stage_id(&data);
        apply_patch(
            &mut data,
            "E1",
            &id,
            &body("STOP"),
            Some("Jane@Example.com"),
            None,
            5,
        );
        let TaskOutcome::Decided {
            judgment,
            notifications,
            stage_event,
        } = run_wait_for_judgment(&mut data, table(&members()), "E1", &id, 6)
        else {
            panic!("decided expected")
        };
        assert_eq!(judgment, Judgment::Stop);
        assert_eq!(notifications.len(), 1);
        assert_eq!(notifications[0]["templateGroup"], "manualJudgmentStop");
        assert_eq!(
            notifications[0]["additionalContext"]["judgedBy"],
            "Jane@Example.com"
        );
        assert_eq!(stage_event["details"]["type"], "orca:stage:failed");
        assert_eq!(stage_event["content"]["context"]["judgmentStatus"], "STOP");
        let stage = stage_by_id(data.execution("E1").expect("e"), &id)
            .expect("stage")
            .clone();
        assert_eq!(stage["status"], "TERMINAL");
        assert_eq!(
            stage["context"]["notifications"][0]["lastNotifiedByNotificationState"]["manualJudgmentStop"],
            6
        );
        // The task does not run again on a finished stage.
        assert_eq!(
            run_wait_for_judgment(&mut data, table(&members()), "E1", &id, 7),
            TaskOutcome::Idle
        );
    }

    #[test]
    fn awaiting_notification_is_sent_once_without_reminders() {
        let mut data = running_sample();
        let id = judgment_stage_id(&data);
        let execution = data.execution_mut("E1").expect("e");
        let first = due_notifications(execution, &id, AWAITING, 10);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["to"], json!(["#deploy-approvals"]));
        assert_eq!(first[0]["additionalContext"]["stageId"], JUDGMENT_REF);
        assert_eq!(
            first[0]["additionalContext"]["message"],
            "myapp prod deploy needs approval"
        );
        assert_eq!(first[0]["additionalContext"]["judgmentInputs"], json!([]));
        assert!(due_notifications(execution, &id, AWAITING, 20).is_empty());
    }

    #[test]
    fn accounts_header_is_split_like_java() {
        assert_eq!(allowed_accounts(None), Vec::<String>::new());
        assert_eq!(
            allowed_accounts(Some("prod-aws,staging-aws")),
            ["prod-aws", "staging-aws"]
        );
        assert_eq!(allowed_accounts(Some(",a,,")), ["", "a"]);
        assert_eq!(allowed_accounts(Some("")), [""]);
    }

    #[test]
    fn with_fiat_the_patch_needs_execute_and_the_task_needs_a_role() {
        let fiat = FiatPermissions::default();
        let mut data = running_sample();
        let id = judgment_stage_id(&data);
        assert_eq!(
            refuse_patch(&data, &fiat, "E1", Some("Jane@Example.com")),
            None
        );
        assert_eq!(
            refuse_patch(&data, &fiat, "E1", Some("mallory@example.com")),
            None
        );
        assert_eq!(
            refuse_patch(&data, &fiat, "E1", Some("admin@example.com")),
            None
        );
        assert_eq!(
            refuse_patch(&data, &fiat, "E1", Some("viewer@example.com")).as_deref(),
            Some("Access denied to application myapp - required authorization: EXECUTE")
        );
        assert!(
            refuse_patch(&data, &fiat, "E1", None).is_some(),
            "anonymous"
        );
        assert!(refuse_patch(&data, &fiat, "E1", Some("nobody@example.com")).is_some());
        assert_eq!(
            refuse_patch(&data, &fiat, "E404", Some("viewer@example.com")),
            None
        );

        apply_patch(
            &mut data,
            "E1",
            &id,
            &body("continue"),
            Some("mallory@example.com"),
            None,
            5,
        );
        assert_eq!(
            run_wait_for_judgment(&mut data, Judges::Fiat(&fiat), "E1", &id, 6),
            TaskOutcome::Reverted
        );
        apply_patch(
            &mut data,
            "E1",
            &id,
            &body("continue"),
            Some("ADMIN@example.com"),
            None,
            7,
        );
        assert!(matches!(
            run_wait_for_judgment(&mut data, Judges::Fiat(&fiat), "E1", &id, 8),
            TaskOutcome::Decided {
                judgment: Judgment::Continue,
                ..
            }
        ));
    }
}
