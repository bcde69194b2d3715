//! The bodies Orca sends to Echo, in Orca's shapes (docs/echo-contract.md, "What Orca sends").

use serde_json::{Map, Value, json};

use super::execution::str_of;

/// Orca's `EchoService.Notification.Type` values; any other `type` is never sent.
const NOTIFICATION_TYPES: &[&str] = &[
    "BEARYCHAT",
    "EMAIL",
    "GOOGLECHAT",
    "HIPCHAT",
    "JIRA",
    "MICROSOFTTEAMS",
    "PAGER_DUTY",
    "PUBSUB",
    "SLACK",
    "SMS",
    "CDEVENTS",
];

/// `orca:pipeline:<phase>`: `content` holds exactly `execution` and `executionId`.
pub(crate) fn pipeline_event(phase: &str, execution: &Value) -> Value {
    json!({
        "details": {
            "source": "orca",
            "type": format!("orca:pipeline:{phase}"),
            "application": execution.get("application"),
        },
        "content": {
            "execution": execution,
            "executionId": execution.get("id"),
        },
    })
}

/// `orca:stage:<phase>` for one stage of the execution.
pub(crate) fn stage_event(phase: &str, execution: &Value, stage: &Value) -> Value {
    let canceled = execution
        .get("canceled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    json!({
        "details": {
            "source": "orca",
            "type": format!("orca:stage:{phase}"),
            "application": execution.get("application"),
        },
        "content": {
            "standalone": str_of(execution, "type") == Some("ORCHESTRATION"),
            "canceled": canceled,
            "context": stage.get("context").cloned().unwrap_or_else(|| json!({})),
            "startTime": stage.get("startTime").cloned().unwrap_or(Value::Null),
            "endTime": stage.get("endTime").cloned().unwrap_or(Value::Null),
            "executionId": execution.get("id"),
            "stageId": stage.get("id"),
            "isSynthetic": stage.get("syntheticStageOwner").is_some_and(|owner| !owner.is_null()),
            "name": stage.get("name"),
            "execution": execution,
        },
    })
}

/// The `POST /notifications` body `ManualJudgmentStage` sends for one notification entry in
/// state `manualJudgment`, `manualJudgmentContinue` or `manualJudgmentStop`; `None` for types
/// Orca cannot map (it logs and skips those).
pub(crate) fn judgment_notification(
    state: &str,
    execution: &Value,
    stage: &Value,
    notification: &Value,
) -> Option<Value> {
    let kind = str_of(notification, "type")?.to_ascii_uppercase();
    if !NOTIFICATION_TYPES.contains(&kind.as_str()) {
        return None;
    }
    let context = stage.get("context").cloned().unwrap_or_else(|| json!({}));
    let context_value = |key: &str| context.get(key).cloned().unwrap_or(Value::Null);
    let mut body = Map::new();
    body.insert("notificationType".into(), json!(kind));
    let address = str_of(notification, "address").filter(|address| !address.is_empty());
    let publisher = str_of(notification, "publisherName").filter(|name| !name.is_empty());
    if let Some(to) = address.or(publisher) {
        body.insert("to".into(), json!([to]));
    }
    if let Some(cc) = str_of(notification, "cc").filter(|cc| !cc.is_empty()) {
        body.insert("cc".into(), json!([cc]));
    }
    body.insert("templateGroup".into(), json!(state));
    body.insert("severity".into(), json!("HIGH"));
    body.insert(
        "source".into(),
        json!({
            "executionType": str_of(execution, "type").unwrap_or("PIPELINE").to_ascii_lowercase(),
            "executionId": execution.get("id"),
            "application": execution.get("application"),
            "user": null,
        }),
    );
    let message = notification
        .get("message")
        .and_then(|message| message.get(state))
        .and_then(|entry| entry.get("text"));
    body.insert(
        "additionalContext".into(),
        json!({
            "stageName": stage.get("name"),
            "stageId": stage.get("refId"),
            "restrictExecutionDuringTimeWindow": context_value("restrictExecutionDuringTimeWindow"),
            "execution": execution,
            "instructions": context.get("instructions").cloned().unwrap_or_else(|| json!("")),
            "message": message.cloned().unwrap_or(Value::Null),
            "judgmentInputs": context_value("judgmentInputs"),
            "judgmentInput": context_value("judgmentInput"),
            "judgedBy": context_value("lastModifiedBy"),
        }),
    );
    Some(Value::Object(body))
}
