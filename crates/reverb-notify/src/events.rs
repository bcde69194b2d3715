//! Event-driven messages: Echo's `AbstractEventNotificationAgent` + `SlackNotificationAgent`,
//! plus the update that closes a manual-judgment message when its stage ends.

use reverb_model::outbound::Update;
use reverb_model::{Event, EventKind, OrcaEventType, OutboundMessage, SlackClientKind, Stage};
use reverb_templates::{
    BuildView, Decision, EventView, LayoutOptions, MessageContent, TemplateEngine,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::NotifyContext;
use crate::json::{self, parse_bool, path, truthy_str};
use crate::judgment::{ResolvedJudgment, render_judgment_resolution};
use crate::links::{event_link, execution_link, execution_ref_key};

/// The `when` values Orca reserves for manual-judgment notifications (sent via
/// `POST /notifications`, never from events).
const MANUAL_JUDGMENT_WHEN: &str = "manualJudgment";

/// What Echo's Slack agent would send for `event`, plus Reverb's judgment updates.
pub fn plan_event(
    event: &Event,
    ctx: &NotifyContext,
    templates: &TemplateEngine,
) -> Vec<OutboundMessage> {
    let Some(event_type) = event.details.kind.as_deref().and_then(OrcaEventType::parse) else {
        return Vec::new();
    };
    let content = &event.content;
    let mut messages = Vec::new();
    if event_type.kind == EventKind::Stage
        && matches!(event_type.status.as_str(), "complete" | "failed")
    {
        messages.extend(judgment_updates(event, &event_type.status, ctx, templates));
    }
    let kind = event_type.kind.as_str();
    let status = event_type.status.as_str();
    let candidates: &[Value] = match event_type.kind {
        // Echo builds no notification list for tasks: task events never notify.
        EventKind::Task => return messages,
        EventKind::Stage => {
            if parse_bool(content.get("canceled")) || has_when(content.get("when")) {
                return messages;
            }
            stage_notifications(content)
        }
        EventKind::Pipeline | EventKind::Orchestration => {
            let execution = content.get("execution");
            let canceled = execution.is_some_and(|e| {
                e.get("status").and_then(Value::as_str) == Some("CANCELED")
                    || parse_bool(e.get("canceled"))
            });
            if canceled {
                return messages;
            }
            execution
                .and_then(|e| e.get("notifications"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
        }
    };
    let required_when = format!("{kind}.{status}");
    for entry in candidates
        .iter()
        .filter(|e| is_slack(e) && when_matches(e.get("when"), &required_when))
    {
        let Some(address) = truthy_str(entry.get("address")) else {
            tracing::warn!(
                kind,
                status,
                "slack notification without an address; skipped"
            );
            continue;
        };
        let message = event_message(event, entry, kind, status, ctx, templates);
        messages.push(route(
            message,
            event_type.kind,
            status,
            address,
            content,
            ctx,
        ));
    }
    messages
}

/// `content.when` (string or list) marks a stage event Echo drops.
fn has_when(when: Option<&Value>) -> bool {
    matches!(when, Some(Value::String(_) | Value::Array(_)))
}

fn stage_notifications(content: &Map<String, Value>) -> &[Value] {
    let Some(context) = content.get("context").and_then(Value::as_object) else {
        return &[];
    };
    if !parse_bool(context.get("sendNotifications")) || is_synthetic(content, context) {
        return &[];
    }
    context
        .get("notifications")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `content.isSynthetic`, else `content.context.stageDetails.isSynthetic`.
fn is_synthetic(content: &Map<String, Value>, context: &Map<String, Value>) -> bool {
    match content.get("isSynthetic") {
        Some(value) if !value.is_null() => parse_bool(Some(value)),
        _ => parse_bool(
            context
                .get("stageDetails")
                .and_then(|d| d.get("isSynthetic")),
        ),
    }
}

fn is_slack(entry: &Value) -> bool {
    entry.get("type").and_then(Value::as_str) == Some("slack")
}

/// Echo's match: a list holds the value, a string contains it. Entries listing only the
/// manual-judgment values never match a stage event (`stage.<status>` must be listed itself).
/// Also how a manual-judgment entry is recognised (`manualJudgment` in its `when`).
fn when_matches(when: Option<&Value>, required: &str) -> bool {
    match when {
        Some(Value::String(s)) => s.contains(required),
        Some(Value::Array(values)) => values.iter().any(|v| v.as_str() == Some(required)),
        _ => false,
    }
}

/// The application as Echo takes it (`details.application`), else the execution's.
fn application(event: &Event) -> String {
    event
        .details
        .application
        .clone()
        .or_else(|| path_str(&event.content, &["execution", "application"]).map(str::to_string))
        .unwrap_or_default()
}

fn path_str<'a>(content: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    let (first, rest) = keys.split_first()?;
    path(content.get(*first)?, rest)?.as_str()
}

fn execution_id(content: &Map<String, Value>) -> Option<&str> {
    path_str(content, &["execution", "id"])
        .or_else(|| content.get("executionId").and_then(Value::as_str))
}

/// Echo's `SlackNotificationAgent.sendNotifications`, rendered.
fn event_message(
    event: &Event,
    entry: &Value,
    kind: &str,
    status: &str,
    ctx: &NotifyContext,
    templates: &TemplateEngine,
) -> reverb_model::SlackMessage {
    let content = &event.content;
    let application = application(event);
    let execution_id = execution_id(content).unwrap_or_default().to_string();
    let link = event_link(&ctx.spinnaker_base_url, &application, kind, &execution_id);
    let mut execution = content
        .get("execution")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    if let Value::Object(map) = &mut execution {
        for key in ["id", "name", "description"] {
            map.entry(key).or_insert(Value::Null);
        }
    }
    let context = content.get("context").cloned().unwrap_or(Value::Null);
    let stage_name = (kind == "stage").then(|| {
        truthy_str(content.get("name"))
            .or_else(|| path(&context, &["stageDetails", "name"]).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    });
    let build = if kind == "pipeline" || kind == "stage" {
        build_info(&execution)
    } else {
        None
    };
    let message_key = format!("{kind}.{status}");
    let message_text = entry
        .get("message")
        .and_then(|m| m.get(&message_key))
        .and_then(|m| truthy_str(m.get("text")))
        .map(str::to_string);
    let custom_message = truthy_str(entry.get("customMessage"))
        .or_else(|| truthy_str(context.get("customMessage")))
        .map(|custom| {
            custom
                .replace(
                    "{{executionId}}",
                    path_str(content, &["execution", "id"]).unwrap_or_default(),
                )
                .replace("{{link}}", &link)
        });
    let view = EventView {
        kind: kind.to_string(),
        status: status.to_string(),
        application,
        stage_name,
        execution,
        link,
        build,
        message_text,
        custom_message,
        notification: entry.clone(),
        context,
    };
    templates.render(
        &MessageContent::Event(view),
        &LayoutOptions {
            color: status_color(status).to_string(),
            compact: ctx.legacy_compact,
            link_names: ctx.legacy_link_names,
            ..LayoutOptions::default()
        },
    )
}

fn status_color(status: &str) -> &'static str {
    match status {
        "failed" => "#B82525",
        "starting" => "#2275B8",
        "complete" => "#769D3E",
        _ => "#CCCCCC",
    }
}

/// `trigger.buildInfo` when its `url` is set; the number as Groovy's `as Integer` prints it.
fn build_info(execution: &Value) -> Option<BuildView> {
    let build = path(execution, &["trigger", "buildInfo"])?;
    let url = truthy_str(build.get("url"))?;
    let number = match build.get("number") {
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|i| i.to_string())
            .or_else(|| n.as_f64().map(|f| (f.trunc() as i64).to_string()))
            .unwrap_or_default(),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(|i| i.to_string())
            .unwrap_or_else(|_| s.clone()),
        _ => String::new(),
    };
    Some(BuildView {
        url: url.to_string(),
        number,
    })
}

/// Keys and threading: pipeline messages are recorded per channel; in threads mode the
/// `starting` message is the parent, stage messages reply to it and the final status edits it.
fn route(
    message: reverb_model::SlackMessage,
    event_kind: EventKind,
    status: &str,
    address: &str,
    content: &Map<String, Value>,
    ctx: &NotifyContext,
) -> OutboundMessage {
    let kind = event_kind.into();
    let Some(execution_id) = execution_id(content) else {
        return OutboundMessage::post(kind, address, message).into();
    };
    let key = execution_ref_key(execution_id, address);
    match event_kind {
        EventKind::Pipeline | EventKind::Orchestration if ctx.threads && status != "starting" => {
            OutboundMessage::update(kind, address, key, message)
                .or_post_if_missing()
                .into()
        }
        EventKind::Pipeline | EventKind::Orchestration => {
            OutboundMessage::post(kind, address, message)
                .with_ref_key(key)
                .into()
        }
        _ if ctx.threads => OutboundMessage::post(kind, address, message)
            .with_thread_key(key)
            .into(),
        _ => OutboundMessage::post(kind, address, message).into(),
    }
}

/// When a manual-judgment stage ends, its "awaiting judgment" messages (one per Slack
/// notification whose `when` has `manualJudgment`) are edited to show the outcome.
fn judgment_updates(
    event: &Event,
    status: &str,
    ctx: &NotifyContext,
    templates: &TemplateEngine,
) -> Vec<OutboundMessage> {
    let content = &event.content;
    let Some(context) = content.get("context").and_then(Value::as_object) else {
        return Vec::new();
    };
    // Cheap checks first: most stage events have no manual-judgment Slack entry.
    let entries: Vec<&str> = context
        .get("notifications")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| is_slack(e) && when_matches(e.get("when"), MANUAL_JUDGMENT_WHEN))
        .filter_map(|e| truthy_str(e.get("address")))
        .collect();
    if entries.is_empty() {
        return Vec::new();
    }
    let stage = content
        .get("stageId")
        .and_then(Value::as_str)
        .and_then(|id| find_stage(content, id));
    let is_manual_judgment = stage.as_ref().is_some_and(Stage::is_manual_judgment)
        || context.get("type").and_then(Value::as_str) == Some("manualJudgment");
    let Some(stage_ref_id) = stage.as_ref().and_then(|s| s.ref_id.clone()) else {
        return Vec::new();
    };
    if !is_manual_judgment {
        return Vec::new();
    }
    let Some(execution_id) = execution_id(content) else {
        return Vec::new();
    };
    let application = application(event);
    let judgment_status = context
        .get("judgmentStatus")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_lowercase())
        .or_else(|| stage.as_ref().and_then(Stage::judgment_status));
    let decision = match judgment_status.as_deref() {
        Some("continue") => Some(Decision::Continue),
        Some("stop") => Some(Decision::Stop),
        _ => None,
    };
    let note = decision.is_none().then(|| {
        if parse_bool(content.get("canceled")) {
            "The execution was canceled before anyone judged this stage.".to_string()
        } else {
            match stage.as_ref().and_then(|s| s.status.as_deref()) {
                Some(stage_status) => {
                    format!("The stage ended ({stage_status}) without a judgment.")
                }
                None => format!("The stage {status} without a judgment."),
            }
        }
    });
    let resolution = ResolvedJudgment {
        application: application.clone(),
        execution_id: execution_id.to_string(),
        stage_ref_id: stage_ref_id.clone(),
        stage_name: truthy_str(content.get("name"))
            .map(str::to_string)
            .or_else(|| stage.as_ref().and_then(|s| s.name.clone()))
            .unwrap_or_default(),
        pipeline_name: path_str(content, &["execution", "name"]).map(str::to_string),
        link: execution_link(
            &ctx.spinnaker_base_url,
            &application,
            execution_id,
            Some(&stage_ref_id),
        ),
        decision,
        judged_by: decision
            .and(context.get("lastModifiedBy"))
            .and_then(|v| json::text(Some(v))),
        slack_user_id: None,
        judgment_input: decision
            .and(context.get("judgmentInput"))
            .and_then(|v| json::text(Some(v))),
        decided_at: json::millis_to_secs(content.get("endTime")).unwrap_or_else(now_epoch_secs),
        note,
    };
    let message = render_judgment_resolution(&resolution, templates);
    entries
        .into_iter()
        .map(|address| {
            Update::judgment_ended_in_orca(execution_id, &stage_ref_id, address, message.clone())
                .with_client(judgment_client(ctx))
                .into()
        })
        .collect()
}

/// The stage with unique id `id` in `content.execution.stages`, decoded alone.
fn find_stage(content: &Map<String, Value>, id: &str) -> Option<Stage> {
    let stages = path(content.get("execution")?, &["stages"])?.as_array()?;
    let stage = stages
        .iter()
        .find(|s| s.get("id").and_then(Value::as_str) == Some(id))?;
    Stage::deserialize(stage).ok()
}

/// `chat.update` must use the token that posted the message: the app when Reverb adds buttons.
pub(crate) fn judgment_client(ctx: &NotifyContext) -> SlackClientKind {
    if ctx.judgment_buttons.is_some() {
        SlackClientKind::App
    } else {
        SlackClientKind::Legacy
    }
}

pub(crate) fn now_epoch_secs() -> i64 {
    reverb_support::now_ms().div_euclid(1000)
}
