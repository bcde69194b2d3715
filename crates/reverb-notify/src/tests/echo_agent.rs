//! Echo's `AbstractEventNotificationAgentSpec` and `SlackNotificationAgentSpec`, and the examples
//! in docs/echo-contract.md, "Echo's event notifications".

use reverb_model::{DeliveryMethod, SlackClientKind};
use reverb_templates::MessageStyle;
use serde_json::{Value, json};

use super::{attachment, ctx, event, templates, text_of};
use crate::plan_event;

fn count(event_json: Value) -> usize {
    plan_event(
        &event(event_json),
        &ctx(),
        &templates(MessageStyle::Attachments),
    )
    .len()
}

/// `fakePipelineEvent` (with a Slack entry and an address).
fn fake_pipeline_event(kind: &str, status: &str, when: Option<&str>, extra: Value) -> Value {
    let mut execution = json!({"id": "1", "name": "foo-pipeline", "status": status});
    if let Some(when) = when {
        execution["notifications"] =
            json!([{"type": "slack", "address": "bluespar", "when": [when]}]);
    }
    if let (Value::Object(e), Value::Object(extra)) = (&mut execution, extra) {
        e.extend(extra);
    }
    json!({"details": {"type": kind}, "content": {"execution": execution}})
}

fn fake_orchestration_event(kind: &str, status: &str, when: &str) -> Value {
    json!({"details": {"type": kind}, "content": {"execution": {
        "id": "1", "name": "foo-orchestration", "status": status,
        "notifications": [{"type": "slack", "address": "bluespar", "when": when}]}}})
}

/// `fakeStageEvent`: `when` as a string, as the spec writes it.
fn fake_stage_event(kind: &str, when: Option<&str>, canceled: bool, synthetic: bool) -> Value {
    let mut context = json!({"stageDetails": {"isSynthetic": synthetic}});
    if let Some(when) = when {
        context["sendNotifications"] = json!(true);
        context["notifications"] = json!([{"type": "slack", "address": "bluespar", "when": when}]);
    }
    json!({"details": {"type": kind}, "content": {"canceled": canceled, "context": context}})
}

#[test]
fn sends_notifications_based_on_status_and_configuration() {
    let cases: Vec<(Value, usize)> = vec![
        (
            fake_pipeline_event(
                "whatever:pipeline:complete",
                "SUCCEEDED",
                Some("pipeline.complete"),
                json!({}),
            ),
            0,
        ),
        (
            fake_pipeline_event(
                "orca:whatever:whatever",
                "SUCCEEDED",
                Some("pipeline.complete"),
                json!({}),
            ),
            0,
        ),
        (
            fake_pipeline_event("orca:pipeline:complete", "SUCCEEDED", None, json!({})),
            0,
        ),
        (
            fake_pipeline_event("orca:pipeline:failed", "TERMINAL", None, json!({})),
            0,
        ),
        (
            fake_pipeline_event(
                "orca:pipeline:complete",
                "SUCCEEDED",
                Some("pipeline.complete"),
                json!({}),
            ),
            1,
        ),
        (
            fake_pipeline_event(
                "orca:pipeline:complete",
                "SUCCEEDED",
                Some("pipeline.failed"),
                json!({}),
            ),
            0,
        ),
        (
            fake_pipeline_event(
                "orca:pipeline:failed",
                "TERMINAL",
                Some("pipeline.failed"),
                json!({}),
            ),
            1,
        ),
        (
            fake_pipeline_event(
                "orca:pipeline:failed",
                "TERMINAL",
                Some("pipeline.complete"),
                json!({}),
            ),
            0,
        ),
        (
            fake_pipeline_event(
                "orca:pipeline:failed",
                "CANCELED",
                Some("pipeline.failed"),
                json!({}),
            ),
            0,
        ),
        (
            fake_pipeline_event(
                "orca:pipeline:failed",
                "WHATEVER",
                Some("pipeline.failed"),
                json!({"canceled": true}),
            ),
            0,
        ),
        (
            fake_orchestration_event(
                "orca:orchestration:complete",
                "SUCCEEDED",
                "orchestration.complete",
            ),
            1,
        ),
        (
            fake_orchestration_event(
                "orca:orchestration:failed",
                "TERMINAL",
                "orchestration.failed",
            ),
            1,
        ),
        (
            fake_stage_event("orca:stage:complete", None, false, false),
            0,
        ),
        (fake_stage_event("orca:stage:failed", None, false, false), 0),
        (
            fake_stage_event("orca:stage:complete", Some("stage.complete"), false, false),
            1,
        ),
        (
            fake_stage_event("orca:stage:complete", Some("stage.failed"), false, false),
            0,
        ),
        (
            fake_stage_event("orca:stage:failed", Some("stage.failed"), false, false),
            1,
        ),
        (
            fake_stage_event("orca:stage:failed", Some("stage.complete"), false, false),
            0,
        ),
        (
            fake_stage_event("orca:stage:failed", Some("stage.failed"), true, false),
            0,
        ),
        (
            fake_stage_event("orca:stage:complete", Some("stage.complete"), false, true),
            0,
        ),
    ];
    for (index, (event_json, expected)) in cases.into_iter().enumerate() {
        assert_eq!(count(event_json), expected, "case {index}");
    }
}

#[test]
fn manual_judgment_when_values_never_fire_from_stage_events() {
    for (status, when) in [
        ("starting", "manualJudgment"),
        ("complete", "manualJudgmentContinue"),
        ("failed", "manualJudgmentStop"),
    ] {
        let event_json = json!({"details": {"type": format!("orca:stage:{status}"), "application": "testapp"},
            "content": {"context": {"type": "manualJudgment", "sendNotifications": true,
                "notifications": [{"type": "slack", "address": "c", "when": [when]}]}}});
        assert_eq!(count(event_json), 0, "{status}");
        // The string form of `when` (fakeStageEvent) does not fire either.
        assert_eq!(
            count(fake_stage_event(
                &format!("orca:stage:{status}"),
                Some(when),
                false,
                false
            )),
            0
        );
    }
}

#[test]
fn regular_stage_notifications_still_fire() {
    for status in ["starting", "complete", "failed"] {
        let event_json = json!({"details": {"type": format!("orca:stage:{status}"), "application": "testapp"},
            "content": {"context": {"type": "regularStage", "sendNotifications": true,
                "notifications": [{"type": "slack", "address": "c", "when": [format!("stage.{status}")]}]}}});
        assert_eq!(count(event_json), 1, "{status}");
    }
    // A manual-judgment entry that also lists the plain stage status fires.
    let both = json!({"details": {"type": "orca:stage:complete", "application": "testapp"},
        "content": {"context": {"sendNotifications": true,
            "notifications": [{"type": "slack", "address": "c", "when": ["manualJudgmentContinue", "stage.complete"]}]}}});
    assert_eq!(count(both), 1);
}

#[test]
fn other_echo_rules() {
    // Task events never notify, even standalone ones.
    let task = json!({"details": {"type": "orca:task:complete"}, "content": {"standalone": true,
        "context": {"sendNotifications": true, "notifications": [{"type": "slack", "address": "c", "when": ["task.complete"]}]}}});
    assert_eq!(count(task), 0);
    // The type must be exactly "slack".
    let mut wrong_type = fake_pipeline_event(
        "orca:pipeline:complete",
        "SUCCEEDED",
        Some("pipeline.complete"),
        json!({}),
    );
    wrong_type["content"]["execution"]["notifications"][0]["type"] = json!("Slack");
    assert_eq!(count(wrong_type), 0);
    // A stage event carrying `content.when` is dropped.
    let mut with_when =
        fake_stage_event("orca:stage:complete", Some("stage.complete"), false, false);
    with_when["content"]["when"] = json!(["stage.complete"]);
    assert_eq!(count(with_when), 0);
    // sendNotifications as the string "true", and isSynthetic read from content first.
    let mut string_flag =
        fake_stage_event("orca:stage:complete", Some("stage.complete"), false, true);
    string_flag["content"]["context"]["sendNotifications"] = json!("true");
    string_flag["content"]["isSynthetic"] = json!(false);
    assert_eq!(count(string_flag), 1);
    // `when` as a string matches by substring.
    let substring = fake_orchestration_event(
        "orca:orchestration:starting",
        "RUNNING",
        "orchestration.starting,orchestration.complete",
    );
    assert_eq!(count(substring), 1);
}

fn agent_event(kind: &str, status: &str, entry: Value, extra_content: Value) -> Value {
    let mut content = json!({"execution": {"id": "1", "name": "foo-pipeline",
        "notifications": [entry.clone()]}});
    if kind == "stage" {
        content["context"] = json!({"sendNotifications": true, "notifications": [entry]});
    }
    if let (Value::Object(c), Value::Object(extra)) = (&mut content, extra_content) {
        for (k, v) in extra {
            if k == "context" {
                if let (Some(Value::Object(ctx)), Value::Object(more)) = (c.get_mut("context"), v) {
                    ctx.extend(more);
                }
            } else {
                c.insert(k, v);
            }
        }
    }
    json!({"details": {"type": format!("orca:{kind}:{status}"), "application": "whatever"}, "content": content})
}

fn plan_one(event_json: Value, style: MessageStyle) -> reverb_model::OutboundMessage {
    let mut planned = plan_event(&event(event_json), &ctx(), &templates(style));
    assert_eq!(planned.len(), 1);
    planned.remove(0)
}

#[test]
fn sends_correct_message_for_each_status() {
    for (status, expected_end) in [
        ("completed", "pipeline has completed"),
        ("starting", "pipeline is starting"),
        ("failed", "pipeline has failed"),
    ] {
        let entry =
            json!({"type": "slack", "address": "bluespar", "when": [format!("pipeline.{status}")]});
        let message = plan_one(
            agent_event("pipeline", status, entry, json!({})),
            MessageStyle::Attachments,
        );
        let text = text_of(&message);
        assert!(text.starts_with("Whatever's "), "{text}");
        assert!(text.ends_with(expected_end), "{text}");
    }
}

#[test]
fn appends_the_configured_message_text() {
    for (status, expected_end) in [
        (
            "completed",
            "pipeline has completed\n\nCustom completed message",
        ),
        (
            "starting",
            "pipeline is starting\n\nCustom starting message",
        ),
        ("failed", "pipeline has failed\n\nCustom failed message"),
    ] {
        let message_map: serde_json::Map<String, Value> = ["completed", "starting", "failed"]
            .iter()
            .map(|s| {
                (
                    format!("pipeline.{s}"),
                    json!({"text": format!("Custom {s} message")}),
                )
            })
            .collect();
        let entry = json!({"type": "slack", "address": "bluespar", "when": [format!("pipeline.{status}")], "message": message_map});
        let message = plan_one(
            agent_event("pipeline", status, entry, json!({})),
            MessageStyle::Attachments,
        );
        assert!(
            text_of(&message).ends_with(expected_end),
            "{}",
            text_of(&message)
        );
    }
}

#[test]
fn custom_message_replaces_the_text_with_placeholders() {
    for (custom, expected) in [
        ("a b c", "a b c"),
        ("a {{executionId}}!", "a 1!"),
        (
            "b <{{link}}|link>?",
            "b <http://spinnaker/#/applications/whatever/executions/details/1|link>?",
        ),
    ] {
        let entry = json!({"type": "slack", "address": "bluespar", "when": ["stage.etc"]});
        let event_json = agent_event(
            "stage",
            "etc",
            entry,
            json!({"context": {"customMessage": custom}, "name": "a stage"}),
        );
        let message = plan_one(event_json, MessageStyle::Attachments);
        assert_eq!(text_of(&message), expected);
        assert_eq!(attachment(&message)["color"], "#CCCCCC");
        assert_eq!(attachment(&message)["title"], "Stage etc for WHATEVER");
    }
    // The entry's own customMessage wins over the stage's.
    let entry = json!({"type": "slack", "address": "bluespar", "when": ["stage.failed"], "customMessage": "mine {{executionId}}"});
    let event_json = agent_event(
        "stage",
        "failed",
        entry,
        json!({"context": {"customMessage": "stage's"}}),
    );
    assert_eq!(
        text_of(&plan_one(event_json, MessageStyle::Attachments)),
        "mine 1"
    );
}

#[test]
fn echo_md_examples_exact() {
    let link = "http://spinnaker/#/applications/whatever/executions/details/1";
    for (status, title, text, color) in [
        (
            "complete",
            "Pipeline complete for WHATEVER",
            format!("Whatever's <{link}|foo-pipeline> pipeline has completed successfully"),
            "#769D3E",
        ),
        (
            "starting",
            "Pipeline starting for WHATEVER",
            format!("Whatever's <{link}|foo-pipeline> pipeline is starting"),
            "#2275B8",
        ),
        (
            "failed",
            "Pipeline failed for WHATEVER",
            format!("Whatever's <{link}|foo-pipeline> pipeline has failed"),
            "#B82525",
        ),
    ] {
        let entry =
            json!({"type": "slack", "address": "bluespar", "when": [format!("pipeline.{status}")]});
        let message = plan_one(
            agent_event("pipeline", status, entry, json!({})),
            MessageStyle::Attachments,
        );
        assert_eq!(attachment(&message)["title"], title);
        assert_eq!(text_of(&message), text);
        assert_eq!(attachment(&message)["color"], color);
        assert_eq!(message.destination(), "bluespar");
        assert_eq!(message.kind().as_str(), "pipeline");
        assert_eq!(message.client(), SlackClientKind::Legacy);
        assert_eq!(message.method(), DeliveryMethod::Post);
    }

    let entry = json!({"type": "slack", "address": "bluespar", "when": ["stage.failed"]});
    let message = plan_one(
        agent_event("stage", "failed", entry, json!({"name": "Deploy"})),
        MessageStyle::Attachments,
    );
    assert_eq!(
        text_of(&message),
        format!("Stage Deploy for Whatever's <{link}|foo-pipeline> pipeline has failed")
    );
    assert_eq!(attachment(&message)["title"], "Stage failed for WHATEVER");

    // Build fragment: number coerced to an integer.
    let entry = json!({"type": "slack", "address": "bluespar", "when": ["pipeline.complete"]});
    let mut with_build = agent_event("pipeline", "complete", entry, json!({}));
    with_build["content"]["execution"]["trigger"] =
        json!({"buildInfo": {"url": "http://jenkins/job/x/42", "number": "42"}});
    assert_eq!(
        text_of(&plan_one(with_build, MessageStyle::Attachments)),
        format!(
            "Whatever's <{link}|foo-pipeline> build <http://jenkins/job/x/42|42> pipeline has completed successfully"
        )
    );

    // Orchestrations link to tasks, read "pipeline", and get no build fragment.
    let entry = json!({"type": "slack", "address": "bluespar", "when": ["orchestration.complete"]});
    let mut orchestration = agent_event("orchestration", "complete", entry, json!({}));
    orchestration["content"]["execution"]["trigger"] =
        json!({"buildInfo": {"url": "http://jenkins/job/x/42", "number": 42.0}});
    let message = plan_one(orchestration, MessageStyle::Attachments);
    assert_eq!(
        text_of(&message),
        "Whatever's <http://spinnaker/#/applications/whatever/tasks/1|foo-pipeline> pipeline has completed successfully"
    );
    assert_eq!(
        attachment(&message)["title"],
        "Orchestration complete for WHATEVER"
    );
}

#[test]
fn application_words_are_capitalised_and_description_replaces_a_missing_name() {
    let entry = json!({"type": "slack", "address": "bluespar", "when": ["pipeline.complete"]});
    let mut event_json = agent_event("pipeline", "complete", entry, json!({}));
    event_json["details"]["application"] = json!("my app");
    event_json["content"]["execution"]["name"] = json!("");
    event_json["content"]["execution"]["description"] = json!("Deploy things");
    let message = plan_one(event_json, MessageStyle::Attachments);
    // Echo puts the space into the link as it is, which ends Slack's link early; Reverb
    // percent-encodes it (docs/compatibility.md, "Message content").
    assert_eq!(
        text_of(&message),
        "My App's <http://spinnaker/#/applications/my%20app/executions/details/1|Deploy things> pipeline has completed successfully"
    );
    assert_eq!(
        attachment(&message)["title"],
        "Pipeline complete for MY APP"
    );
}

#[test]
fn compact_mode_and_link_names() {
    let entry = json!({"type": "slack", "address": "bluespar", "when": ["pipeline.failed"]});
    let context = crate::NotifyContext {
        legacy_compact: true,
        legacy_link_names: true,
        ..ctx()
    };
    let planned = plan_event(
        &event(agent_event("pipeline", "failed", entry, json!({}))),
        &context,
        &templates(MessageStyle::Blocks),
    );
    let text = "Whatever's <http://spinnaker/#/applications/whatever/executions/details/1|foo-pipeline> pipeline has failed";
    assert_eq!(
        planned[0].message().attachments,
        Some(vec![
            json!({"fallback": text, "text": text, "color": "#B82525", "mrkdwn_in": ["text"]})
        ])
    );
    assert!(planned[0].message().link_names);
}

#[test]
fn pipeline_names_are_escaped_but_custom_messages_are_not() {
    let entry = json!({"type": "slack", "address": "bluespar", "when": ["pipeline.complete"], "message": {"pipeline.complete": {"text": "<!here> done"}}});
    let mut event_json = agent_event("pipeline", "complete", entry, json!({}));
    event_json["content"]["execution"]["name"] = json!("<script>alert('x')</script>");
    let message = plan_one(event_json, MessageStyle::Blocks);
    let section = attachment(&message)["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        section,
        "Whatever's <http://spinnaker/#/applications/whatever/executions/details/1|&lt;script&gt;alert('x')&lt;/script&gt;> pipeline has completed successfully\n\n<!here> done"
    );
}
