//! Rendering tests against the built-in templates and operator overrides.

use std::path::Path;

use serde_json::{Value, json};

use crate::*;

fn engine(style: MessageStyle) -> TemplateEngine {
    TemplateEngine::load(TemplateOptions {
        override_dir: None,
        style,
    })
    .unwrap()
}

fn engine_with(dir: &Path, style: MessageStyle) -> Result<TemplateEngine, TemplateError> {
    TemplateEngine::load(TemplateOptions {
        override_dir: Some(dir.to_path_buf()),
        style,
    })
}

const ECHO_TEST_LINK: &str =
    "SPINNAKER_URL/#/applications/testapp/executions/details/exec-id?refId=stage-id&step=1";

/// `ManualJudgmentTemplateTest.buildFullNotification()`.
fn echo_test_judgment() -> ManualJudgmentView {
    ManualJudgmentView {
        application: "testapp".into(),
        execution_id: "exec-id".into(),
        stage_ref_id: Some("stage-id".into()),
        stage_name: "stage-name".into(),
        pipeline_name: Some("exe-name".into()),
        build_number: Some("12345".into()),
        instructions: Some(r#"Do the <a href="http://foo">thing</a>"#.into()),
        message: None,
        judgment_input: None,
        judged_by: None,
        judgment_inputs: vec![],
        links: JudgmentLinks {
            execution: "SPINNAKER_URL/#/applications/testapp/executions/details/exec-id".into(),
            stage: ECHO_TEST_LINK.into(),
        },
        execution: json!({"name": "exe-name", "trigger": {"buildInfo": {"number": 12345}}}),
        additional_context: json!({}),
        source: json!({}),
    }
}

fn texts(engine: &TemplateEngine, group: JudgmentGroup, view: ManualJudgmentView) -> RenderedTexts {
    engine
        .render_texts(&MessageContent::ManualJudgment(group, view))
        .unwrap()
}

#[test]
fn manual_judgment_body_is_echos_exact_slack_text() {
    let rendered = texts(
        &engine(MessageStyle::Blocks),
        JudgmentGroup::Awaiting,
        echo_test_judgment(),
    );
    assert_eq!(
        rendered.body,
        format!(
            "Stage <{ECHO_TEST_LINK}|stage-name> for *testapp*'s *exe-name* pipeline build #*12345* is awaiting manual judgment.\n\n*Instructions:*\nDo the thing <http://foo>\n"
        )
    );
    assert_eq!(
        rendered.title,
        "Stage stage-name for testapp's exe-name pipeline build 12,345 is awaiting manual judgment\n"
    );
}

#[test]
fn manual_judgment_without_build_number_drops_the_build_fragment() {
    // ManualJudgmentTemplateTest: null trigger, empty trigger, null and empty buildInfo all give
    // no build number.
    let view = ManualJudgmentView {
        build_number: None,
        ..echo_test_judgment()
    };
    let rendered = texts(&engine(MessageStyle::Blocks), JudgmentGroup::Awaiting, view);
    assert_eq!(
        rendered.body,
        format!(
            "Stage <{ECHO_TEST_LINK}|stage-name> for *testapp*'s *exe-name* pipeline is awaiting manual judgment.\n\n*Instructions:*\nDo the thing <http://foo>\n"
        )
    );
    assert_eq!(
        rendered.title,
        "Stage stage-name for testapp's exe-name pipeline is awaiting manual judgment\n"
    );
}

#[test]
fn orcas_default_empty_instructions_keep_the_heading() {
    let view = ManualJudgmentView {
        instructions: Some(String::new()),
        ..echo_test_judgment()
    };
    let rendered = texts(&engine(MessageStyle::Blocks), JudgmentGroup::Awaiting, view);
    assert!(
        rendered
            .body
            .ends_with("is awaiting manual judgment.\n\n*Instructions:*\n\n"),
        "{:?}",
        rendered.body
    );
    let no_instructions = ManualJudgmentView {
        instructions: None,
        pipeline_name: None,
        ..echo_test_judgment()
    };
    let rendered = texts(
        &engine(MessageStyle::Blocks),
        JudgmentGroup::Awaiting,
        no_instructions,
    );
    assert_eq!(
        rendered.body,
        format!(
            "Stage <{ECHO_TEST_LINK}|stage-name> for *testapp* build #*12345* is awaiting manual judgment.\n\n"
        )
    );
    assert_eq!(
        rendered.title,
        "Stage stage-name for testapp is awaiting manual judgment\n"
    );
}

#[test]
fn long_instructions_are_not_wrapped() {
    let view = ManualJudgmentView {
        instructions: Some("This is an example message from spinnaker that's more than 80 characters to make sure that we won't wrap it. Note the extra whitespace at the end here:\n<p />\n```\nThis test was added was because code blocks in Slack would word wrap at 80 characters and inject newlines in codeblocks. Note the extra whitespaces after each original newline.\n```\n".into()),
        ..echo_test_judgment()
    };
    let rendered = texts(&engine(MessageStyle::Blocks), JudgmentGroup::Awaiting, view);
    assert_eq!(
        rendered.body,
        format!(
            "Stage <{ECHO_TEST_LINK}|stage-name> for *testapp*'s *exe-name* pipeline build #*12345* is awaiting manual judgment.\n\n*Instructions:*\nThis is an example message from spinnaker that's more than 80 characters to make sure that we won't wrap it. Note the extra whitespace at the end here: \n\n ``` This test was added was because code blocks in Slack would word wrap at 80 characters and inject newlines in codeblocks. Note the extra whitespaces after each original newline. ``` \n"
        )
    );
}

#[test]
fn continue_and_stop_texts_follow_echo() {
    let judged = ManualJudgmentView {
        message: Some("<p>Looks good</p>".into()),
        judgment_input: Some("ship".into()),
        judged_by: Some("jane@example.com".into()),
        ..echo_test_judgment()
    };
    let engine = engine(MessageStyle::Blocks);
    let desc = format!(
        "Stage <{ECHO_TEST_LINK}|stage-name> for *testapp*'s *exe-name* pipeline build #*12345*"
    );
    let cont = texts(&engine, JudgmentGroup::Continue, judged.clone());
    assert_eq!(
        cont.body,
        format!(
            "{desc} _was judged to *continue*_ by jane@example.com.\n\n\nLooks good\n\n\nJudgment '*ship*' was selected.\n"
        )
    );
    assert_eq!(
        cont.title,
        "Stage stage-name for testapp's exe-name pipeline build 12,345 was judged to continue by jane@example.com\n"
    );
    let stop = texts(&engine, JudgmentGroup::Stop, judged.clone());
    assert_eq!(
        stop.body,
        format!("{desc} _was judged to *stop*_ by jane@example.com.\n\n\nLooks good\n\n")
    );
    assert_eq!(
        stop.title,
        "  Stage stage-name for testapp's exe-name pipeline build 12,345 was judged to stop\n"
    );

    let bare = ManualJudgmentView {
        message: None,
        judgment_input: None,
        pipeline_name: None,
        ..judged
    };
    let cont = texts(&engine, JudgmentGroup::Continue, bare.clone());
    assert!(
        cont.body
            .ends_with("_was judged to *continue*_ by jane@example.com.\n\n\n"),
        "{:?}",
        cont.body
    );
    let stop = texts(&engine, JudgmentGroup::Stop, bare);
    assert!(
        stop.body
            .ends_with("_was judged to *stop*_ by jane@example.com.\n\n"),
        "{:?}",
        stop.body
    );
    assert_eq!(
        stop.title,
        "Stage stage-name for testapp was judged to stop\n"
    );
}

fn pipeline_event(name: &str) -> EventView {
    EventView {
        kind: "pipeline".into(),
        status: "complete".into(),
        application: "whatever".into(),
        stage_name: None,
        execution: json!({"id": "1", "name": name, "description": null}),
        link: "http://spinnaker/#/applications/whatever/executions/details/1".into(),
        build: None,
        message_text: None,
        custom_message: None,
        notification: json!({}),
        context: Value::Null,
    }
}

fn layout(color: &str) -> LayoutOptions {
    LayoutOptions {
        color: color.into(),
        ..LayoutOptions::default()
    }
}

fn attachment(message: &reverb_model::SlackMessage) -> &serde_json::Map<String, Value> {
    message.attachments.as_ref().unwrap()[0]
        .as_object()
        .unwrap()
}

#[test]
fn attachments_style_has_exactly_echos_keys() {
    let message = engine(MessageStyle::Attachments).render(
        &MessageContent::Event(pipeline_event("foo-pipeline")),
        &layout("#769D3E"),
    );
    let attachment = attachment(&message);
    let mut keys: Vec<&str> = attachment.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "actions",
            "callback_id",
            "color",
            "fallback",
            "footer",
            "footer_icon",
            "mrkdwn_in",
            "text",
            "title",
            "ts"
        ]
    );
    let text = "Whatever's <http://spinnaker/#/applications/whatever/executions/details/1|foo-pipeline> pipeline has completed successfully";
    assert_eq!(attachment["title"], "Pipeline complete for WHATEVER");
    assert_eq!(attachment["text"], text);
    assert_eq!(attachment["fallback"], text);
    assert_eq!(attachment["color"], "#769D3E");
    assert_eq!(attachment["footer"], "Spinnaker");
    assert_eq!(attachment["footer_icon"], FOOTER_ICON);
    assert_eq!(attachment["mrkdwn_in"], json!(["text"]));
    assert_eq!(attachment["callback_id"], Value::Null);
    assert_eq!(attachment["actions"], json!([]));
    assert!(attachment["ts"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(message.text, "Pipeline complete for WHATEVER");
}

#[test]
fn blocks_style_puts_echos_text_in_a_coloured_attachment() {
    let message = engine(MessageStyle::Blocks).render(
        &MessageContent::Event(pipeline_event("foo-pipeline")),
        &layout("#769D3E"),
    );
    assert_eq!(message.text, "Pipeline complete for WHATEVER");
    assert!(message.blocks.is_none());
    let attachment = attachment(&message);
    assert_eq!(attachment["color"], "#769D3E");
    let blocks = attachment["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(
        blocks[0]["text"]["text"],
        "Whatever's <http://spinnaker/#/applications/whatever/executions/details/1|foo-pipeline> pipeline has completed successfully"
    );
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(blocks.last().unwrap()["type"], "context");
}

#[test]
fn compact_mode_is_echos_compact_attachment() {
    for style in [MessageStyle::Blocks, MessageStyle::Attachments] {
        let message = engine(style).render(
            &MessageContent::Event(pipeline_event("foo-pipeline")),
            &LayoutOptions {
                compact: true,
                link_names: true,
                ..layout("#769D3E")
            },
        );
        let text = "Whatever's <http://spinnaker/#/applications/whatever/executions/details/1|foo-pipeline> pipeline has completed successfully";
        assert_eq!(
            message.attachments.as_ref().unwrap(),
            &vec![
                json!({"fallback": text, "text": text, "color": "#769D3E", "mrkdwn_in": ["text"]})
            ]
        );
        assert!(message.link_names);
        assert!(!message.text.is_empty());
    }
}

#[test]
fn pipeline_names_are_escaped_for_mrkdwn() {
    let message = engine(MessageStyle::Blocks).render(
        &MessageContent::Event(pipeline_event("<script>alert(1)</script> & co")),
        &layout("#769D3E"),
    );
    let text = attachment(&message)["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("|&lt;script&gt;alert(1)&lt;/script&gt; &amp; co>"),
        "{text}"
    );
    assert!(!text.contains("<script>"));
}

#[test]
fn long_instructions_are_cut_to_the_section_limit_visibly() {
    let view = ManualJudgmentView {
        instructions: Some("word ".repeat(1500)),
        ..echo_test_judgment()
    };
    let message = engine(MessageStyle::Blocks).render(
        &MessageContent::ManualJudgment(JudgmentGroup::Awaiting, view),
        &layout("#cccccc"),
    );
    let section = attachment(&message)["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(section.chars().count(), limits::SECTION_TEXT);
    assert!(section.ends_with('…'));
    assert!(section.starts_with("Stage <SPINNAKER_URL"));
}

fn judgment_buttons(inputs: &[&str]) -> JudgmentButtons {
    let mut buttons: Vec<JudgmentButton> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| JudgmentButton {
            decision: Decision::Continue,
            input: Some((*input).into()),
            action_id: format!("reverb.judgment.continue.{}", i + 1),
            value: format!(r#"{{"i":"{input}"}}"#),
        })
        .collect();
    if inputs.is_empty() {
        buttons.push(JudgmentButton {
            decision: Decision::Continue,
            input: None,
            action_id: "reverb.judgment.continue".into(),
            value: "{}".into(),
        });
    }
    buttons.push(JudgmentButton {
        decision: Decision::Stop,
        input: None,
        action_id: "reverb.judgment.stop".into(),
        value: "{}".into(),
    });
    JudgmentButtons {
        block_id: "reverb.judgment".into(),
        callback_id: "reverb:judgment".into(),
        name: "judgment".into(),
        stage_name: "stage-name".into(),
        pipeline_name: Some("exe-name".into()),
        buttons,
    }
}

#[test]
fn judgment_buttons_as_block_kit() {
    let message = engine(MessageStyle::Blocks).render(
        &MessageContent::ManualJudgment(JudgmentGroup::Awaiting, echo_test_judgment()),
        &LayoutOptions {
            judgment: Some(judgment_buttons(&["ship", "hold"])),
            compact: true,
            ..layout("#cccccc")
        },
    );
    let blocks = attachment(&message)["blocks"].as_array().unwrap().clone();
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(actions["block_id"], "reverb.judgment");
    let labels: Vec<&str> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Approve: ship", "Approve: hold", "Reject"]);
    let approve = &actions["elements"][0];
    assert_eq!(approve["style"], "primary");
    assert_eq!(approve["action_id"], "reverb.judgment.continue.1");
    assert_eq!(approve["value"], r#"{"i":"ship"}"#);
    let reject = &actions["elements"][2];
    assert_eq!(reject["style"], "danger");
    assert_eq!(reject["action_id"], "reverb.judgment.stop");
    assert_eq!(reject["confirm"]["title"]["text"], "Reject?");
    assert_eq!(reject["confirm"]["confirm"]["text"], "Reject");
    assert_eq!(reject["confirm"]["deny"]["text"], "Cancel");
    assert!(
        reject["confirm"]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("\"stage-name\"")
    );
}

#[test]
fn judgment_buttons_as_legacy_attachments_five_per_attachment() {
    let inputs = ["a", "b", "c", "d", "e", "f"];
    let message = engine(MessageStyle::Attachments).render(
        &MessageContent::ManualJudgment(JudgmentGroup::Awaiting, echo_test_judgment()),
        &LayoutOptions {
            judgment: Some(judgment_buttons(&inputs)),
            ..layout("#cccccc")
        },
    );
    let attachments = message.attachments.as_ref().unwrap();
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[0]["callback_id"], "reverb:judgment");
    assert_eq!(attachments[1]["callback_id"], "reverb:judgment");
    let first = attachments[0]["actions"].as_array().unwrap();
    assert_eq!(first.len(), 5);
    assert_eq!(
        first[0],
        json!({"type": "button", "name": "judgment.continue", "text": "Approve: a", "value": r#"{"i":"a"}"#, "style": "primary"})
    );
    let second = attachments[1]["actions"].as_array().unwrap();
    assert_eq!(second.len(), 2);
    assert_eq!(second[1]["text"], "Reject");
    assert_eq!(second[1]["confirm"]["title"], "Reject?");
    assert_eq!(second[1]["confirm"]["ok_text"], "Reject");
    assert_eq!(second[1]["confirm"]["dismiss_text"], "Cancel");
}

#[test]
fn keel_buttons_stay_legacy_attachments_in_blocks_style() {
    let view = NotificationView {
        subject: "Manual artifact promotion approval".into(),
        body: "Approve *myapp*".into(),
        application: Some("myapp".into()),
        additional_context: json!({}),
        source: json!({}),
    };
    let message = engine(MessageStyle::Blocks).render(
        &MessageContent::Interactive(view),
        &LayoutOptions {
            legacy_actions: Some(LegacyActions {
                callback_id: "keel:01DYNYK94DE4901K9P802DB4ZT".into(),
                actions: vec![LegacyButton {
                    name: "manual-judgement".into(),
                    text: "Approve".into(),
                    value: "OVERRIDE_PASS".into(),
                }],
            }),
            ..layout("#fcba03")
        },
    );
    let attachment = attachment(&message);
    assert_eq!(attachment["callback_id"], "keel:01DYNYK94DE4901K9P802DB4ZT");
    assert_eq!(attachment["color"], "#fcba03");
    assert_eq!(attachment["title"], "Manual artifact promotion approval");
    assert_eq!(
        attachment["actions"],
        json!([{"type": "button", "name": "manual-judgement", "text": "Approve", "value": "OVERRIDE_PASS"}])
    );
    assert!(attachment.get("blocks").is_none());
}

#[test]
fn resolved_view_shows_decision_people_option_and_time() {
    let view = ResolvedJudgment {
        application: "myapp".into(),
        execution_id: "e".into(),
        stage_ref_id: "1".into(),
        stage_name: "Approve production".into(),
        pipeline_name: Some("deploy-prod".into()),
        link: "http://deck/#/x?refId=1".into(),
        decision: Some(Decision::Continue),
        judged_by: Some("jane@example.com".into()),
        slack_user_id: Some("U012AB3CD".into()),
        judgment_input: Some("ship".into()),
        decided_at: 1_712_570_715,
        note: None,
    };
    let engine = engine(MessageStyle::Blocks);
    let message = engine.render(
        &MessageContent::JudgmentResolved(view.clone()),
        &layout("#769D3E"),
    );
    let text = attachment(&message)["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        "Stage <http://deck/#/x?refId=1|Approve production> for *myapp*'s *deploy-prod* pipeline\n\
         :white_check_mark: *Approved*: judged to *continue* by <@U012AB3CD> (jane@example.com)\n\
         Option: *ship*\n\
         <!date^1712570715^{date_short_pretty} {time}|2024-04-08 10:05 UTC>"
    );
    assert_eq!(
        message.text,
        "Stage Approve production for myapp's deploy-prod pipeline was judged to continue by jane@example.com"
    );
    assert!(
        !attachment(&message)["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions")
    );

    let ended = ResolvedJudgment {
        decision: None,
        judged_by: None,
        slack_user_id: None,
        judgment_input: None,
        note: Some("The execution was canceled.".into()),
        ..view
    };
    let texts = engine
        .render_texts(&MessageContent::JudgmentResolved(ended))
        .unwrap();
    assert!(
        texts
            .body
            .contains(":grey_question: *No judgment was made*\nThe execution was canceled.\n"),
        "{}",
        texts.body
    );
    assert_eq!(
        texts.title,
        "Stage Approve production for myapp's deploy-prod pipeline ended without a judgment"
    );
}

#[test]
fn every_builtin_sample_renders_within_limits_in_both_styles() {
    for style in [MessageStyle::Blocks, MessageStyle::Attachments] {
        let engine = engine(style);
        for sample in samples::all() {
            let mut message = engine.render(&sample.content, &sample.layout);
            assert!(!message.text.trim().is_empty(), "{}", sample.name);
            assert!(
                limits::structure_problems(&message).is_empty(),
                "{}",
                sample.name
            );
            assert!(
                limits::enforce(&mut message).is_empty(),
                "{} ({style})",
                sample.name
            );
            assert!(
                !message.text.contains("could not be rendered"),
                "{}",
                sample.name
            );
        }
    }
}

#[test]
fn template_names_list_every_message_kind() {
    let names = engine(MessageStyle::Blocks).template_names();
    for kind in TemplateKind::ALL {
        assert!(names.contains(&kind.body_template()), "{kind:?}");
        assert!(names.contains(&kind.subject_template()), "{kind:?}");
    }
    assert!(names.contains(&"layout.tera".to_string()));
}

#[test]
fn message_style_parses_config_values() {
    assert_eq!("Blocks".parse::<MessageStyle>(), Ok(MessageStyle::Blocks));
    assert_eq!(
        "attachments".parse::<MessageStyle>(),
        Ok(MessageStyle::Attachments)
    );
    assert!("legacy".parse::<MessageStyle>().is_err());
}

#[test]
fn override_changes_wording() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pipeline-subject.tera"),
        "{{ application | upper }}: {{ kind }} {{ status }}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "not a template").unwrap();
    let engine = engine_with(dir.path(), MessageStyle::Blocks).unwrap();
    assert_eq!(
        engine.overridden_files(),
        vec![dir.path().join("pipeline-subject.tera")]
    );
    let message = engine.render(
        &MessageContent::Event(pipeline_event("p")),
        &layout("#769D3E"),
    );
    assert_eq!(message.text, "WHATEVER: pipeline complete");
}

#[test]
fn override_that_does_not_parse_fails_load_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stage.tera"),
        "Stage {{ stage_name }}\nfor {% if %}\n",
    )
    .unwrap();
    let error = engine_with(dir.path(), MessageStyle::Blocks).err().unwrap();
    match &error {
        TemplateError::Parse { file, line, .. } => {
            assert_eq!(file, &dir.path().join("stage.tera"));
            assert_eq!(*line, Some(2));
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(error.to_string().contains("stage.tera:2: "), "{error}");
}

#[test]
fn override_rendering_invalid_json_fails_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("layout.tera"),
        "{\n  \"text\": {{ headline | json_encode }},\n  \"attachments\": [{\"text\": {{ text }}}]\n}\n",
    )
    .unwrap();
    let error = engine_with(dir.path(), MessageStyle::Blocks).err().unwrap();
    let message = error.to_string();
    assert!(matches!(error, TemplateError::Invalid { .. }), "{message}");
    assert!(message.contains("layout.tera"), "{message}");
    assert!(message.contains("invalid JSON"), "{message}");
    assert!(message.contains("output line 3"), "{message}");
}

#[test]
fn override_with_unknown_variable_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("notification.tera"),
        "{{ body }}\n\nSent by {{ sender.name }}\n",
    )
    .unwrap();
    let error = engine_with(dir.path(), MessageStyle::Blocks).err().unwrap();
    match &error {
        TemplateError::Invalid { file, line, .. } => {
            assert_eq!(file, &dir.path().join("notification.tera"));
            assert_eq!(*line, Some(3));
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn override_breaking_block_kit_limits_or_text_fails_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("layout.tera"),
        r#"{"text": "x", "blocks": [{% for i in range(end=60) %}{"type": "section", "text": {"type": "mrkdwn", "text": "b"}}{% if not loop.last %},{% endif %}{% endfor %}]}"#,
    )
    .unwrap();
    let error = engine_with(dir.path(), MessageStyle::Blocks)
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("layout.tera") && error.contains("blocks is 60 long, Slack allows 50"),
        "{error}"
    );

    std::fs::write(
        dir.path().join("layout.tera"),
        r#"{"attachments": [{"text": {{ text | json_encode }}}]}"#,
    )
    .unwrap();
    let error = engine_with(dir.path(), MessageStyle::Blocks)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("no top-level \"text\""), "{error}");
}

#[test]
fn unknown_override_file_name_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipelines.tera"), "x").unwrap();
    let error = engine_with(dir.path(), MessageStyle::Blocks).err().unwrap();
    assert!(matches!(error, TemplateError::UnknownTemplate { .. }));
    assert!(error.to_string().contains("pipeline.tera"), "{error}");
}

#[test]
fn helper_templates_can_be_added_and_included() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("_sign.tera"), "-- the release bot").unwrap();
    std::fs::write(
        dir.path().join("notification.tera"),
        "{{ body }}\n{% include \"_sign.tera\" %}\n",
    )
    .unwrap();
    let engine = engine_with(dir.path(), MessageStyle::Attachments).unwrap();
    assert!(engine.template_names().contains(&"_sign.tera".to_string()));
    let view = NotificationView {
        subject: "s".into(),
        body: "hello".into(),
        application: None,
        additional_context: json!({}),
        source: json!({}),
    };
    let message = engine.render(&MessageContent::Notification(view), &layout("#cccccc"));
    assert_eq!(attachment(&message)["text"], "hello\n-- the release bot");
}

#[test]
fn override_failing_at_send_time_falls_back_to_the_builtin() {
    let dir = tempfile::tempdir().unwrap();
    // Passes the samples, fails for a pipeline named "boom".
    std::fs::write(
        dir.path().join("pipeline.tera"),
        "{% if execution.name == \"boom\" %}{{ missing.variable }}{% endif %}custom {{ status }}\n",
    )
    .unwrap();
    let engine = engine_with(dir.path(), MessageStyle::Attachments).unwrap();
    let fine = engine.render(
        &MessageContent::Event(pipeline_event("p")),
        &layout("#769D3E"),
    );
    assert_eq!(attachment(&fine)["text"], "custom complete");
    let boom = engine.render(
        &MessageContent::Event(pipeline_event("boom")),
        &layout("#769D3E"),
    );
    assert_eq!(
        attachment(&boom)["text"],
        "Whatever's <http://spinnaker/#/applications/whatever/executions/details/1|boom> pipeline has completed successfully"
    );
}

#[test]
fn missing_override_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = engine_with(&dir.path().join("nope"), MessageStyle::Blocks)
        .err()
        .unwrap();
    assert!(matches!(error, TemplateError::ReadDir { .. }));
}
