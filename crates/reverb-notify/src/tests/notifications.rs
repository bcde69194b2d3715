//! `POST /notifications`: Echo's Slack services, template groups, Keel, and Reverb's buttons.

use reverb_model::{DeliveryMethod, OutboundMessage, SlackClientKind};
use reverb_templates::MessageStyle;
use serde_json::{Value, json};

use super::{attachment, ctx, notification, templates, text_of};
use reverb_model::judgment::{ButtonKey, ButtonRef, Decision, InputChoice};

use crate::{NotificationPlan, NotifyContext, NotifyError, plan_notification};

const MJ_LINK: &str =
    "http://spinnaker/#/applications/myapp/executions/details/01HTZ8Q5M3K7V2N9P4R6S8T0WX?refId=1";

fn planned(n: Value, context: &NotifyContext, style: MessageStyle) -> Vec<OutboundMessage> {
    match plan_notification(&notification(n), context, &templates(style)).unwrap() {
        NotificationPlan::Slack(messages) => messages,
        NotificationPlan::NotHandled => panic!("not handled"),
    }
}

fn error(n: Value) -> NotifyError {
    plan_notification(&notification(n), &ctx(), &templates(MessageStyle::Blocks)).unwrap_err()
}

fn keel() -> Value {
    serde_json::from_str(include_str!(
        "../../testdata/keel/notification-interactive.json"
    ))
    .unwrap()
}

fn manual_judgment() -> Value {
    serde_json::from_str(include_str!(
        "../../testdata/orca/notification-manual-judgment.json"
    ))
    .unwrap()
}

fn manual_judgment_continue() -> Value {
    serde_json::from_str(include_str!(
        "../../testdata/orca/notification-manual-judgment-continue.json"
    ))
    .unwrap()
}

fn buttons(message: &OutboundMessage) -> Vec<Value> {
    let blocks = attachment(message)["blocks"].as_array().unwrap();
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(actions["block_id"], "reverb.judgment");
    actions["elements"].as_array().unwrap().clone()
}

#[test]
fn one_message_per_recipient_addresses_unchanged() {
    // SlackNotificationServiceSpec.
    let messages = planned(
        json!({"notificationType": "SLACK", "to": ["channel1", "#channel2", "C12345678"],
               "additionalContext": {"subject": "s", "body": "b"}}),
        &ctx(),
        MessageStyle::Attachments,
    );
    let addresses: Vec<&str> = messages.iter().map(|m| m.destination()).collect();
    assert_eq!(addresses, ["channel1", "#channel2", "C12345678"]);
    for message in &messages {
        assert_eq!(message.kind().as_str(), "notification");
        assert_eq!(message.client(), SlackClientKind::Legacy);
        assert_eq!(message.method(), DeliveryMethod::Post);
    }
}

#[test]
fn formatter_rules_without_template_group() {
    // NotificationTemplateEngineSpec: HTML (Markdown → HTML) by default.
    let messages = planned(
        json!({"notificationType": "slack", "to": ["c"], "additionalContext": {"subject": "test", "body": "test"}}),
        &ctx(),
        MessageStyle::Attachments,
    );
    assert_eq!(text_of(&messages[0]), "<p>test</p>\n");
    // Echo sends "<p>test</p>\n" as the title; Reverb escapes it for Slack.
    assert_eq!(
        attachment(&messages[0])["title"],
        "&lt;p&gt;test&lt;/p&gt;\n"
    );

    let markdown = planned(
        json!({"notificationType": "SLACK", "to": ["c"], "additionalContext": {
            "formatter": "MARKDOWN", "subject": "This is *markdown*! :yay:", "body": "This is *markdown*! :yay:"}}),
        &ctx(),
        MessageStyle::Attachments,
    );
    assert_eq!(text_of(&markdown[0]), "This is *markdown*! :yay:");
    assert_eq!(
        attachment(&markdown[0])["title"],
        "This is *markdown*! :yay:"
    );

    let text = planned(
        json!({"notificationType": "SLACK", "to": ["c"], "additionalContext": {
            "formatter": "TEXT", "subject": "s", "body": "Do the <a href=\"http://foo\">thing</a>",
            "customBody": "<p>Custom <b>body</b></p>"}}),
        &ctx(),
        MessageStyle::Attachments,
    );
    assert_eq!(text_of(&text[0]), "\nCustom body\n");
}

#[test]
fn routing_and_errors() {
    let templates = templates(MessageStyle::Blocks);
    let email = notification(json!({"notificationType": "EMAIL", "to": ["a@b.c"]}));
    assert_eq!(
        plan_notification(&email, &ctx(), &templates).unwrap(),
        NotificationPlan::NotHandled
    );
    assert_eq!(
        error(json!({"to": ["c"]})),
        NotifyError::MissingNotificationType
    );
    assert_eq!(
        error(json!({"notificationType": "SLACK", "additionalContext": {"body": "b"}})),
        NotifyError::MissingRecipients
    );
    assert_eq!(
        error(
            json!({"notificationType": "SLACK", "to": ["c"], "additionalContext": {"subject": "s"}})
        ),
        NotifyError::MissingBody
    );
    let unknown =
        error(json!({"notificationType": "SLACK", "to": ["c"], "templateGroup": "keelIntent"}));
    assert_eq!(
        unknown,
        NotifyError::UnknownTemplateGroup("keelIntent".into())
    );
    assert!(unknown.to_string().contains("'keelIntent'"));
    let mut bad_button = keel();
    bad_button["interactiveActions"]["actions"][1]["label"] = Value::Null;
    assert_eq!(error(bad_button), NotifyError::InvalidButton { index: 1 });
    // Buttons a caller makes can never be Reverb's own judgment buttons.
    for reserved in ["reverb", "Reverb", "reverb:judgment"] {
        let mut forged = keel();
        forged["interactiveActions"]["callbackServiceId"] = json!(reserved);
        let refused = error(forged);
        assert_eq!(
            refused,
            NotifyError::ReservedCallbackService(reserved.into())
        );
        assert!(refused.to_string().contains("callbackServiceId"));
    }
    // An empty list of recipients sends nothing, as in Echo.
    let none = planned(
        json!({"notificationType": "SLACK", "to": [], "additionalContext": {"body": "b"}}),
        &ctx(),
        MessageStyle::Blocks,
    );
    assert!(none.is_empty());
}

#[test]
fn keel_interactive_notification_keeps_echos_legacy_buttons() {
    for style in [MessageStyle::Blocks, MessageStyle::Attachments] {
        let messages = planned(keel(), &ctx(), style);
        assert_eq!(messages.len(), 1);
        let message = &messages[0];
        assert_eq!(message.destination(), "#my-team");
        assert_eq!(message.client(), SlackClientKind::App);
        assert_eq!(message.kind().as_str(), "interactive");
        let attachment = attachment(message);
        assert_eq!(attachment["callback_id"], "keel:01DYNYK94DE4901K9P802DB4ZT");
        assert_eq!(attachment["color"], "#fcba03");
        assert_eq!(attachment["title"], "Manual artifact promotion approval");
        assert_eq!(
            attachment["text"],
            ":warning: Manual approval required to deploy artifact *myapp* version `1.2.3` to *prod*"
        );
        assert_eq!(
            attachment["actions"],
            json!([
                {"type": "button", "name": "manual-judgement", "text": "Approve", "value": "OVERRIDE_PASS"},
                {"type": "button", "name": "manual-judgement", "text": "Reject", "value": "OVERRIDE_FAIL"}
            ])
        );
    }
}

#[test]
fn keel_in_app_compact_mode_drops_buttons_like_echo() {
    let context = NotifyContext {
        app_compact: true,
        app_link_names: true,
        ..ctx()
    };
    let messages = planned(keel(), &context, MessageStyle::Blocks);
    let body =
        ":warning: Manual approval required to deploy artifact *myapp* version `1.2.3` to *prod*";
    assert_eq!(
        messages[0].message().attachments,
        Some(vec![
            json!({"fallback": body, "text": body, "color": "#cccccc", "mrkdwn_in": ["text"]})
        ])
    );
    assert!(messages[0].message().link_names);
    assert_eq!(messages[0].client(), SlackClientKind::App);
}

#[test]
fn interactive_bot_without_actions_uses_the_app_and_the_normal_layout() {
    let messages = planned(
        json!({"notificationType": "SLACK", "to": ["c"], "useInteractiveBot": true,
               "additionalContext": {"formatter": "MARKDOWN", "subject": "s", "body": "hello"}}),
        &ctx(),
        MessageStyle::Blocks,
    );
    assert_eq!(messages[0].client(), SlackClientKind::App);
    assert_eq!(
        attachment(&messages[0])["blocks"][0]["text"]["text"],
        "hello"
    );
}

#[test]
fn manual_judgment_as_echo_sends_it() {
    let messages = planned(manual_judgment(), &ctx(), MessageStyle::Attachments);
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.kind().as_str(), "manualJudgment");
    assert_eq!(message.client(), SlackClientKind::Legacy);
    assert_eq!(message.destination(), "deploy-approvals");
    assert_eq!(
        super::ref_key(message),
        Some("judgment:01HTZ8Q5M3K7V2N9P4R6S8T0WX:1@deploy-approvals")
    );
    assert_eq!(
        text_of(message),
        format!(
            "Stage <{MJ_LINK}|Approve production> for *myapp*'s *deploy-prod* pipeline is awaiting manual judgment.\n\n*Instructions:*\nCheck the canary dashboard before approving.\n"
        )
    );
    assert_eq!(
        attachment(message)["title"],
        "Stage Approve production for myapp's deploy-prod pipeline is awaiting manual judgment\n"
    );
    assert_eq!(attachment(message)["color"], "#cccccc");
    assert_eq!(attachment(message)["actions"], json!([]));
    assert_eq!(attachment(message)["callback_id"], Value::Null);
}

#[test]
fn manual_judgment_step_link_follows_echo() {
    let mut n = manual_judgment();
    n["additionalContext"]["restrictExecutionDuringTimeWindow"] = json!(false);
    let messages = planned(n, &ctx(), MessageStyle::Attachments);
    assert!(
        text_of(&messages[0]).starts_with(&format!("Stage <{MJ_LINK}&step=1|Approve production>"))
    );
}

fn test_key() -> ButtonKey {
    ButtonKey::from_bytes(&[9; ButtonKey::LEN])
}

/// The value Reverb mints for a button of the sample judgment.
fn minted(decision: Decision, input: Option<(usize, &str)>) -> String {
    ButtonRef {
        decision,
        application: "myapp".into(),
        execution_id: "01HTZ8Q5M3K7V2N9P4R6S8T0WX".into(),
        stage_ref_id: "1".into(),
        input: input.map(|(index, text)| InputChoice::new(index, text)),
    }
    .mint(&test_key())
}

fn interactive_ctx() -> NotifyContext {
    NotifyContext {
        judgment_buttons: Some(test_key()),
        ..ctx()
    }
}

#[test]
fn manual_judgment_with_inputs_gets_one_approve_per_input_and_reject() {
    let messages = planned(manual_judgment(), &interactive_ctx(), MessageStyle::Blocks);
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.client(), SlackClientKind::App);
    assert_eq!(message.kind().as_str(), "manualJudgment");
    assert_eq!(
        super::ref_key(message),
        Some("judgment:01HTZ8Q5M3K7V2N9P4R6S8T0WX:1@deploy-approvals")
    );
    assert_eq!(
        attachment(message)["blocks"][0]["text"]["text"],
        format!(
            "Stage <{MJ_LINK}|Approve production> for *myapp*'s *deploy-prod* pipeline is awaiting manual judgment.\n\n*Instructions:*\nCheck the canary dashboard before approving.\n"
        )
    );
    let buttons = buttons(message);
    let labels: Vec<&str> = buttons
        .iter()
        .map(|b| b["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Approve: ship", "Approve: hold", "Reject"]);
    assert_eq!(buttons[0]["action_id"], "reverb.judgment.continue.1");
    assert_eq!(buttons[1]["action_id"], "reverb.judgment.continue.2");
    assert_eq!(buttons[2]["action_id"], "reverb.judgment.stop");
    assert_eq!(buttons[0]["style"], "primary");
    assert_eq!(buttons[2]["style"], "danger");
    assert_eq!(
        buttons[0]["value"],
        minted(Decision::Continue, Some((1, "ship")))
    );
    assert_eq!(buttons[2]["value"], minted(Decision::Stop, None));
    let confirm = &buttons[2]["confirm"];
    assert_eq!(confirm["title"]["text"], "Reject?");
    assert_eq!(confirm["confirm"]["text"], "Reject");
    assert_eq!(confirm["deny"]["text"], "Cancel");
    assert!(
        confirm["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Approve production")
    );
    assert!(buttons[0].get("confirm").is_none());
}

#[test]
fn manual_judgment_without_inputs_gets_approve_and_reject() {
    let mut n = manual_judgment();
    n["additionalContext"]["judgmentInputs"] = json!([]);
    n["additionalContext"]["execution"]["stages"][0]["context"]["judgmentInputs"] = json!([]);
    let messages = planned(n, &interactive_ctx(), MessageStyle::Blocks);
    let buttons = buttons(&messages[0]);
    assert_eq!(buttons.len(), 2);
    assert_eq!(buttons[0]["text"]["text"], "Approve");
    assert_eq!(buttons[0]["action_id"], "reverb.judgment.continue");
    let value = ButtonRef::verify(buttons[0]["value"].as_str().unwrap(), &test_key()).unwrap();
    assert_eq!(value.input, None);
    assert_eq!(value.stage_ref_id, "1");
    assert_eq!(buttons[1]["text"]["text"], "Reject");
}

#[test]
fn judgment_inputs_fall_back_to_additional_context_and_long_labels_are_cut() {
    let mut n = manual_judgment();
    n["additionalContext"]["execution"]["stages"] = json!([]);
    let long = "x".repeat(100);
    n["additionalContext"]["judgmentInputs"] = json!([{"value": long}]);
    let messages = planned(n, &interactive_ctx(), MessageStyle::Blocks);
    let buttons = buttons(&messages[0]);
    let label = buttons[0]["text"]["text"].as_str().unwrap();
    assert_eq!(label.chars().count(), 75);
    assert!(label.starts_with("Approve: xxx") && label.ends_with('…'));
    // The value names the whole input by position and digest, and stays short.
    let raw = buttons[0]["value"].as_str().unwrap();
    assert!(raw.len() < 120, "{raw}");
    let value = ButtonRef::verify(raw, &test_key()).unwrap();
    let input = value.input.unwrap();
    assert_eq!(input.index, 1);
    assert!(input.matches(&long));
}

#[test]
fn manual_judgment_buttons_in_attachments_style() {
    let messages = planned(
        manual_judgment(),
        &interactive_ctx(),
        MessageStyle::Attachments,
    );
    let attachment = attachment(&messages[0]);
    assert_eq!(attachment["callback_id"], "reverb:judgment");
    let actions = attachment["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 3);
    assert_eq!(
        actions[0],
        json!({"type": "button", "name": "judgment.continue", "text": "Approve: ship", "style": "primary",
               "value": minted(Decision::Continue, Some((1, "ship")))})
    );
    assert_eq!(actions[2]["text"], "Reject");
    assert_eq!(
        actions[2]["name"], "judgment.stop",
        "the click handler reads the decision here"
    );
    assert_eq!(actions[2]["confirm"]["title"], "Reject?");
}

#[test]
fn already_interactive_judgment_keeps_its_own_actions() {
    let mut n = manual_judgment();
    n["useInteractiveBot"] = json!(true);
    n["interactiveActions"] = json!({"callbackServiceId": "orca", "callbackMessageId": "pipeline-E-S", "color": "#fcba03",
        "actions": [{"type": "button", "name": "manual-judgement", "label": "Approve", "value": "CONTINUE"}]});
    let messages = planned(n, &interactive_ctx(), MessageStyle::Blocks);
    let attachment = attachment(&messages[0]);
    assert_eq!(attachment["callback_id"], "orca:pipeline-E-S");
    assert_eq!(attachment["actions"][0]["value"], "CONTINUE");
    assert_eq!(messages[0].client(), SlackClientKind::App);
}

#[test]
fn judged_to_continue_sends_echos_message_and_updates_the_buttons() {
    let messages = planned(
        manual_judgment_continue(),
        &interactive_ctx(),
        MessageStyle::Attachments,
    );
    assert_eq!(messages.len(), 2);
    let echo = &messages[0];
    assert_eq!(echo.method(), DeliveryMethod::Post);
    assert_eq!(echo.kind().as_str(), "manualJudgmentContinue");
    assert_eq!(echo.client(), SlackClientKind::Legacy);
    assert_eq!(super::ref_key(echo), None);
    assert_eq!(
        text_of(echo),
        format!(
            "Stage <{MJ_LINK}|Approve production> for *myapp*'s *deploy-prod* pipeline _was judged to *continue*_ by jane@example.com.\n\n\nJudgment '*ship*' was selected.\n"
        )
    );
    assert_eq!(
        attachment(echo)["title"],
        "Stage Approve production for myapp's deploy-prod pipeline was judged to continue by jane@example.com\n"
    );

    let update = &messages[1];
    assert_eq!(update.method(), DeliveryMethod::Update);
    assert_eq!(update.kind().as_str(), "judgment_resolved");
    assert_eq!(
        super::ref_key(update),
        Some("judgment:01HTZ8Q5M3K7V2N9P4R6S8T0WX:1@deploy-approvals")
    );
    assert!(!super::post_if_missing(update));
    assert_eq!(
        update.unless_judgment_decided(),
        Some("judgment:01HTZ8Q5M3K7V2N9P4R6S8T0WX:1"),
        "Orca's word yields to a decision made in Slack"
    );
    assert_eq!(update.client(), SlackClientKind::App);
    let text = text_of(update);
    assert!(
        text.contains(":white_check_mark: *Approved*: judged to *continue* by jane@example.com"),
        "{text}"
    );
    assert!(text.contains("Option: *ship*"), "{text}");
    assert!(text.contains("<!date^"), "{text}");
    assert_eq!(attachment(update)["actions"], json!([]));
}

#[test]
fn judged_to_stop_also_updates() {
    let mut n = manual_judgment_continue();
    n["templateGroup"] = json!("manualJudgmentStop");
    n["additionalContext"]["message"] = json!("<p>Not today</p>");
    let messages = planned(n, &ctx(), MessageStyle::Attachments);
    assert_eq!(messages.len(), 2);
    assert_eq!(
        text_of(&messages[0]),
        format!(
            "Stage <{MJ_LINK}|Approve production> for *myapp*'s *deploy-prod* pipeline _was judged to *stop*_ by jane@example.com.\n\n\nNot today\n\n"
        )
    );
    assert_eq!(
        attachment(&messages[0])["title"],
        "  Stage Approve production for myapp's deploy-prod pipeline was judged to stop\n"
    );
    assert_eq!(messages[1].client(), SlackClientKind::Legacy);
    assert!(text_of(&messages[1]).contains("*Rejected*: judged to *stop*"));
}

/// `ManualJudgmentTemplateTest.buildFullNotification()` as a request.
fn echo_template_test_notification(trigger: Value) -> Value {
    json!({"notificationType": "SLACK", "to": ["#channelname"], "cc": [], "templateGroup": "manualJudgment",
        "severity": "NORMAL",
        "source": {"application": "testapp", "executionId": "exec-id", "executionType": "pipeline", "user": "testuser"},
        "additionalContext": {
            "execution": {"name": "exe-name", "trigger": trigger},
            "stageId": "stage-id", "stageName": "stage-name",
            "instructions": "Do the <a href=\"http://foo\">thing</a>",
            "restrictExecutionDuringTimeWindow": true}})
}

#[test]
fn manual_judgment_template_test_end_to_end() {
    let context = NotifyContext {
        spinnaker_base_url: "SPINNAKER_URL".into(),
        ..NotifyContext::default()
    };
    let link =
        "SPINNAKER_URL/#/applications/testapp/executions/details/exec-id?refId=stage-id&step=1";
    let messages = planned(
        echo_template_test_notification(json!({"buildInfo": {"number": 12345}})),
        &context,
        MessageStyle::Attachments,
    );
    assert_eq!(
        text_of(&messages[0]),
        format!(
            "Stage <{link}|stage-name> for *testapp*'s *exe-name* pipeline build #*12345* is awaiting manual judgment.\n\n*Instructions:*\nDo the thing <http://foo>\n"
        )
    );
    for trigger in [
        Value::Null,
        json!({}),
        json!({"buildInfo": null}),
        json!({"buildInfo": {}}),
    ] {
        let messages = planned(
            echo_template_test_notification(trigger.clone()),
            &context,
            MessageStyle::Attachments,
        );
        assert_eq!(
            text_of(&messages[0]),
            format!(
                "Stage <{link}|stage-name> for *testapp*'s *exe-name* pipeline is awaiting manual judgment.\n\n*Instructions:*\nDo the thing <http://foo>\n"
            ),
            "trigger {trigger}"
        );
    }
}
