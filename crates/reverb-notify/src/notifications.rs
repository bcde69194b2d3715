//! `POST /notifications` with `notificationType: SLACK`: Echo's `SlackNotificationService` and
//! `SlackInteractiveNotificationService`, plus Reverb's buttons on Orca manual judgments.

use reverb_model::outbound::Update;
use reverb_model::{
    ButtonFields, Execution, InteractiveAction, MessageKind, Notification, OutboundMessage,
    SlackClientKind,
};
use reverb_templates::{
    Decision, JudgmentGroup, JudgmentLinks, LayoutOptions, LegacyActions, LegacyButton,
    ManualJudgmentView, MessageContent, NotificationView, TemplateEngine, html_to_text,
    markdown_to_html,
};
use serde::Deserialize;
use serde_json::Value;

use crate::events::{judgment_client, now_epoch_secs};
use crate::json::{self, path, truthy_str};
use crate::judgment::{
    JudgmentStage, ResolvedJudgment, judgment_buttons, render_judgment_resolution,
};
use crate::links::{execution_link, judgment_ref_key};
use crate::{NotificationPlan, NotifyContext, NotifyError};

/// Echo's default attachment colour.
const DEFAULT_COLOR: &str = "#cccccc";

pub fn plan_notification(
    n: &Notification,
    ctx: &NotifyContext,
    templates: &TemplateEngine,
) -> Result<NotificationPlan, NotifyError> {
    let notification_type = n.type_upper().ok_or(NotifyError::MissingNotificationType)?;
    if let Some(service) = n
        .interactive_actions
        .as_ref()
        .and_then(|a| a.callback_service_id.as_deref())
        .filter(|s| reverb_model::judgment::is_reserved_service_id(s))
    {
        return Err(NotifyError::ReservedCallbackService(service.to_string()));
    }
    if notification_type != "SLACK" {
        return Ok(NotificationPlan::NotHandled);
    }
    let delivery = Delivery::for_notification(n, ctx);
    let messages = match n.template_group.as_deref().filter(|g| !g.is_empty()) {
        None => plain_messages(n, &delivery, templates)?,
        Some(group) => {
            let group = JudgmentGroup::parse(group)
                .ok_or_else(|| NotifyError::UnknownTemplateGroup(group.to_string()))?;
            judgment_messages(n, group, &delivery, ctx, templates)?
        }
    };
    Ok(NotificationPlan::Slack(messages))
}

/// Echo sends interactive notifications with the Slack app and its settings, the others with
/// the legacy bot.
struct Delivery {
    client: SlackClientKind,
    compact: bool,
    link_names: bool,
}

impl Delivery {
    fn for_notification(n: &Notification, ctx: &NotifyContext) -> Self {
        if n.is_interactive() {
            Self {
                client: SlackClientKind::App,
                compact: ctx.app_compact,
                link_names: ctx.app_link_names,
            }
        } else {
            Self {
                client: SlackClientKind::Legacy,
                compact: ctx.legacy_compact,
                link_names: ctx.legacy_link_names,
            }
        }
    }

    /// Echo's attachment: `interactiveActions` (when given) set the colour, `callback_id` and
    /// buttons; compact messages drop all of that and use the default colour.
    fn layout(&self, n: &Notification) -> Result<LayoutOptions, NotifyError> {
        let legacy_actions = match (&n.interactive_actions, self.compact) {
            (Some(actions), false) => Some(legacy_actions(actions)?),
            _ => None,
        };
        let color = match (&n.interactive_actions, self.compact) {
            (Some(actions), false) => actions.color.clone(),
            _ => DEFAULT_COLOR.to_string(),
        };
        Ok(LayoutOptions {
            color,
            compact: self.compact,
            link_names: self.link_names,
            legacy_actions,
            judgment: None,
        })
    }
}

fn legacy_actions(
    actions: &reverb_model::InteractiveActions,
) -> Result<LegacyActions, NotifyError> {
    let buttons = actions
        .actions
        .iter()
        .enumerate()
        .map(|(index, InteractiveAction::Button(fields))| legacy_button(index, fields))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LegacyActions {
        // Groovy string concatenation prints a missing id as "null"; keep that.
        callback_id: format!(
            "{}:{}",
            actions.callback_service_id.as_deref().unwrap_or("null"),
            actions.callback_message_id.as_deref().unwrap_or("null")
        ),
        actions: buttons,
    })
}

fn legacy_button(index: usize, fields: &ButtonFields) -> Result<LegacyButton, NotifyError> {
    match (&fields.name, &fields.label, &fields.value) {
        (Some(name), Some(label), Some(value)) => Ok(LegacyButton {
            name: name.clone(),
            text: label.clone(),
            value: value.clone(),
        }),
        _ => Err(NotifyError::InvalidButton { index }),
    }
}

fn recipients(n: &Notification) -> Result<&[String], NotifyError> {
    n.to.as_deref().ok_or(NotifyError::MissingRecipients)
}

/// Without a template group: subject and body from `additionalContext`, through the formatter.
fn plain_messages(
    n: &Notification,
    delivery: &Delivery,
    templates: &TemplateEngine,
) -> Result<Vec<OutboundMessage>, NotifyError> {
    let context = &n.additional_context;
    let formatter = context.get("formatter").and_then(Value::as_str);
    let pick = |custom: &str, plain: &str| {
        truthy_str(context.get(custom))
            .or_else(|| context.get(plain).and_then(Value::as_str))
            .map(str::to_string)
    };
    let body = pick("customBody", "body").ok_or(NotifyError::MissingBody)?;
    let subject = pick("customSubject", "subject").unwrap_or_default();
    let view = NotificationView {
        subject: format(formatter, &subject),
        body: format(formatter, &body),
        application: n.source.as_ref().and_then(|s| s.application.clone()),
        additional_context: Value::Object(context.clone()),
        source: source_json(n),
    };
    let layout = delivery.layout(n)?;
    let (content, kind) = if n.is_interactive() {
        (MessageContent::Interactive(view), MessageKind::Interactive)
    } else {
        (
            MessageContent::Notification(view),
            MessageKind::Notification,
        )
    };
    let to = recipients(n)?;
    let message = templates.render(&content, &layout);
    Ok(to
        .iter()
        .map(|address| {
            OutboundMessage::post(kind.clone(), address.as_str(), message.clone())
                .with_client(delivery.client)
                .into()
        })
        .collect())
}

/// The metrics kind of a manual-judgment template group: the group's name.
fn group_kind(group: JudgmentGroup) -> MessageKind {
    match group {
        JudgmentGroup::Awaiting => MessageKind::ManualJudgment,
        JudgmentGroup::Continue => MessageKind::ManualJudgmentContinue,
        JudgmentGroup::Stop => MessageKind::ManualJudgmentStop,
    }
}

/// Echo's formatters, chosen by exact name; anything else is the HTML default.
fn format(formatter: Option<&str>, text: &str) -> String {
    match formatter {
        Some("TEXT") => html_to_text(text),
        Some("MARKDOWN") => text.to_string(),
        _ => markdown_to_html(text),
    }
}

fn source_json(n: &Notification) -> Value {
    n.source
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null)
}

/// Orca's manual-judgment notifications.
fn judgment_messages(
    n: &Notification,
    group: JudgmentGroup,
    delivery: &Delivery,
    ctx: &NotifyContext,
    templates: &TemplateEngine,
) -> Result<Vec<OutboundMessage>, NotifyError> {
    let execution = n
        .additional_context
        .get("execution")
        .and_then(|e| Execution::deserialize(e).ok());
    let view = judgment_view(n, execution.as_ref(), ctx);
    // Execution id and stage refId identify the judgment; without them there are no buttons to
    // add and no message to edit later.
    let judgment_id = match (&view.stage_ref_id, view.execution_id.is_empty()) {
        (Some(ref_id), false) => Some((view.execution_id.clone(), ref_id.clone())),
        _ => None,
    };
    let buttons = match (&judgment_id, &ctx.judgment_buttons) {
        (Some((execution_id, ref_id)), Some(key))
            if group == JudgmentGroup::Awaiting && !n.is_interactive() =>
        {
            let stage = JudgmentStage {
                application: &view.application,
                execution_id,
                stage_ref_id: ref_id,
                stage_name: &view.stage_name,
                pipeline_name: view.pipeline_name.as_deref(),
            };
            judgment_buttons(&stage, &view.judgment_inputs, key)
        }
        _ => None,
    };
    let (layout, client) = match buttons {
        Some(buttons) => {
            let layout = LayoutOptions {
                color: DEFAULT_COLOR.to_string(),
                compact: ctx.app_compact,
                link_names: ctx.app_link_names,
                legacy_actions: None,
                judgment: Some(buttons),
            };
            (layout, SlackClientKind::App)
        }
        None => (delivery.layout(n)?, delivery.client),
    };
    let decision = match group {
        JudgmentGroup::Awaiting => None,
        JudgmentGroup::Continue => Some(Decision::Continue),
        JudgmentGroup::Stop => Some(Decision::Stop),
    };
    let resolved = decision.filter(|_| judgment_id.is_some()).map(|decision| {
        render_judgment_resolution(
            &resolution(&view, execution.as_ref(), decision, ctx),
            templates,
        )
    });
    let to = recipients(n)?;
    let message = templates.render(&MessageContent::ManualJudgment(group, view), &layout);
    let mut messages = Vec::with_capacity(to.len() * 2);
    for address in to {
        let post = OutboundMessage::post(group_kind(group), address.as_str(), message.clone())
            .with_client(client);
        match (&judgment_id, &resolved) {
            // The awaiting message is the one later updates edit.
            (Some((execution_id, ref_id)), None) => messages.push(
                post.with_ref_key(judgment_ref_key(execution_id, ref_id, address))
                    .into(),
            ),
            // Echo's "judged" message is new; the awaiting message is edited to match.
            (Some((execution_id, ref_id)), Some(resolved)) => {
                messages.push(post.into());
                messages.push(
                    Update::judgment_ended_in_orca(execution_id, ref_id, address, resolved.clone())
                        .with_client(judgment_client(ctx))
                        .into(),
                );
            }
            (None, _) => messages.push(post.into()),
        }
    }
    Ok(messages)
}

/// The variables of Echo's manual-judgment templates, read from the notification.
fn judgment_view(
    n: &Notification,
    execution: Option<&Execution>,
    ctx: &NotifyContext,
) -> ManualJudgmentView {
    let context = &n.additional_context;
    let source = n.source.as_ref();
    let application = source
        .and_then(|s| s.application.clone())
        .unwrap_or_default();
    let execution_id = source
        .and_then(|s| s.execution_id.clone())
        .unwrap_or_default();
    let execution_json = context.get("execution").cloned().unwrap_or(Value::Null);
    let stage_ref_id = json::text(context.get("stageId"));
    let execution_link = execution_link(&ctx.spinnaker_base_url, &application, &execution_id, None);
    // Echo's variables-slack.ftl: `?refId=` when stageId is set, `&step=1` when
    // restrictExecutionDuringTimeWindow is set (even to false, even without `?refId=`).
    let mut stage_link = execution_link.clone();
    if let Some(ref_id) = &stage_ref_id {
        stage_link.push_str("?refId=");
        stage_link.push_str(ref_id);
    }
    if context
        .get("restrictExecutionDuringTimeWindow")
        .is_some_and(|v| !v.is_null())
    {
        stage_link.push_str("&step=1");
    }
    let judgment_inputs = stage_ref_id
        .as_deref()
        .and_then(|ref_id| execution?.stage_by_ref_id(ref_id))
        .map(|stage| stage.judgment_inputs())
        .filter(|inputs| !inputs.is_empty())
        .unwrap_or_else(|| input_values(context.get("judgmentInputs")));
    ManualJudgmentView {
        stage_name: json::text(context.get("stageName")).unwrap_or_default(),
        pipeline_name: json::text(execution_json.get("name")),
        build_number: json::text(path(&execution_json, &["trigger", "buildInfo", "number"])),
        instructions: json::text(context.get("instructions")),
        message: json::text(context.get("message")),
        judgment_input: json::text(context.get("judgmentInput")),
        judged_by: json::text(context.get("judgedBy")),
        judgment_inputs,
        links: JudgmentLinks {
            execution: execution_link,
            stage: stage_link,
        },
        // The execution is `execution` already; not copied twice.
        additional_context: Value::Object(
            context
                .iter()
                .filter(|(key, _)| key.as_str() != "execution")
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        source: source_json(n),
        execution: execution_json,
        application,
        execution_id,
        stage_ref_id,
    }
}

/// `[{"value": "ship"}, ...]` → `["ship", ...]`.
fn input_values(inputs: Option<&Value>) -> Vec<String> {
    inputs
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("value").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// The resolved view after Orca reported a judgment through a notification.
fn resolution(
    view: &ManualJudgmentView,
    execution: Option<&Execution>,
    decision: Decision,
    ctx: &NotifyContext,
) -> ResolvedJudgment {
    let stage_ref_id = view.stage_ref_id.clone().unwrap_or_default();
    // The judging user's edit time, when Orca recorded it on the stage.
    let decided_at = execution
        .and_then(|e| e.stage_by_ref_id(&stage_ref_id))
        .and_then(|stage| {
            json::millis_to_secs(stage.last_modified.as_ref()?.get("lastModifiedTime"))
        })
        .unwrap_or_else(now_epoch_secs);
    ResolvedJudgment {
        application: view.application.clone(),
        execution_id: view.execution_id.clone(),
        link: execution_link(
            &ctx.spinnaker_base_url,
            &view.application,
            &view.execution_id,
            Some(&stage_ref_id),
        ),
        stage_ref_id,
        stage_name: view.stage_name.clone(),
        pipeline_name: view.pipeline_name.clone(),
        decision: Some(decision),
        judged_by: view.judged_by.clone(),
        slack_user_id: None,
        judgment_input: view.judgment_input.clone(),
        decided_at,
        note: None,
    }
}
