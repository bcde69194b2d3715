//! `POST /notifications` end to end (docs/echo-contract.md, "The manual-judgment notification";
//! docs/compatibility.md, "Endpoints"): Orca's manual-judgment notifications with and without
//! Reverb's buttons, Keel's interactive notification, Echo's formatters, routing and
//! validation.

use reverb_e2e::eventually;
use reverb_sandbox::SlackCall;
use serde_json::{Value, json};

use crate::slackops::{
    self, Harness, LINK, Setup, TOKEN, WAIT, attachment, block_buttons, call_attachment, echo_text,
    fixture, labels,
};

/// Deck's link to the manual-judgment stage of the fixtures.
fn stage_link() -> String {
    format!("{LINK}?refId=1")
}

fn awaiting() -> Value {
    fixture("orca/notification-manual-judgment")
}

fn continued() -> Value {
    fixture("orca/notification-manual-judgment-continue")
}

const AWAITING_SUBJECT: &str =
    "Stage Approve production for myapp's deploy-prod pipeline is awaiting manual judgment\n";

fn awaiting_body() -> String {
    format!(
        "Stage <{}|Approve production> for *myapp*'s *deploy-prod* pipeline is awaiting manual judgment.\n\n*Instructions:*\nCheck the canary dashboard before approving.\n",
        stage_link()
    )
}

/// POST a notification expecting Echo's `{"value":null}`.
async fn accepted(h: &Harness, notification: &Value) {
    let (status, body) = h.notify(notification).await;
    assert_eq!(status, 200, "{body}\n{}", h.reverb.logs());
    let body: Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(body, json!({"value": null}));
}

/// POST a notification and return the `chat.postMessage` calls it caused.
async fn posted_for(h: &Harness, notification: &Value) -> Vec<SlackCall> {
    let before = h.posts().len();
    accepted(h, notification).await;
    h.settle().await;
    h.posts().split_off(before)
}

/// Echo's title of a message in either style (blocks: the top-level text, trimmed and escaped).
fn title_of(call: &SlackCall) -> String {
    match call_attachment(call).get("title").and_then(Value::as_str) {
        Some(title) => title.to_owned(),
        None => call.arg_str("text").unwrap_or_default().to_owned(),
    }
}

async fn manual_judgment_as_echo_sends_it(style: &'static str) {
    let h = Harness::start(Setup::style(style)).await;
    let calls = posted_for(&h, &awaiting()).await;
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let call = &calls[0];
    assert_eq!(call.arg_str("channel"), Some("deploy-approvals"));
    assert_eq!(call.auth.as_ref().map(|a| a.token()), Some(TOKEN));
    let attachment = call_attachment(call);
    assert_eq!(echo_text(attachment), awaiting_body());
    assert_eq!(attachment["color"], "#cccccc");
    match style {
        "attachments" => {
            assert_eq!(attachment["title"], AWAITING_SUBJECT);
            assert_eq!(attachment["actions"], json!([]), "no buttons");
            assert_eq!(attachment["callback_id"], Value::Null);
            assert_eq!(attachment["footer"], "Spinnaker");
        }
        _ => {
            assert_eq!(title_of(call), AWAITING_SUBJECT.trim_end());
            let message = h.wait_posted("#deploy-approvals", 1).await.remove(0);
            assert!(
                block_buttons(&message).is_empty(),
                "no buttons: {message:#?}"
            );
        }
    }

    // ManualJudgmentTemplateTest on the fixture: a build number, Echo's `&step=1` and the
    // instructions as plain text.
    let mut n = awaiting();
    let context = &mut n["additionalContext"];
    context["execution"]["trigger"]["buildInfo"] =
        json!({"number": 12345, "url": "http://jenkins/job/myapp/12345/"});
    context["restrictExecutionDuringTimeWindow"] = json!(true);
    context["instructions"] = json!("Do the <a href=\"http://foo\">thing</a>");
    let calls = posted_for(&h, &n).await;
    assert_eq!(
        echo_text(call_attachment(&calls[0])),
        format!(
            "Stage <{}&step=1|Approve production> for *myapp*'s *deploy-prod* pipeline build #*12345* is awaiting manual judgment.\n\n*Instructions:*\nDo the thing <http://foo>\n",
            stage_link()
        )
    );
    // The subject formats the number with grouping, as FreeMarker does without `?c`.
    assert_eq!(
        title_of(&calls[0]).trim_end(),
        "Stage Approve production for myapp's deploy-prod pipeline build 12,345 is awaiting manual judgment"
    );

    // Orca's default instructions are "": the body ends with an empty line.
    let mut n = awaiting();
    n["additionalContext"]["instructions"] = json!("");
    let calls = posted_for(&h, &n).await;
    assert!(
        echo_text(call_attachment(&calls[0]))
            .ends_with("is awaiting manual judgment.\n\n*Instructions:*\n\n"),
        "{:?}",
        echo_text(call_attachment(&calls[0]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_judgment_without_interactivity_is_echos_message_in_attachments_style() {
    manual_judgment_as_echo_sends_it("attachments").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_judgment_without_interactivity_is_echos_message_in_blocks_style() {
    manual_judgment_as_echo_sends_it("blocks").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_judgment_with_interactivity_gets_approve_per_input_and_reject() {
    let h = Harness::start(Setup::interactive()).await;
    let calls = posted_for(&h, &awaiting()).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].auth.as_ref().map(|a| a.token()), Some(TOKEN));
    let message = h.wait_posted("#deploy-approvals", 1).await.remove(0);
    assert_eq!(echo_text(attachment(&message)), awaiting_body());
    let buttons = block_buttons(&message);
    assert_eq!(
        labels(&buttons),
        ["Approve: ship", "Approve: hold", "Reject"]
    );
    assert_eq!(buttons[2]["action_id"], "reverb.judgment.stop");
    assert_eq!(buttons[0]["style"], "primary");
    assert_eq!(buttons[2]["style"], "danger");
    let confirm = &buttons[2]["confirm"];
    assert_eq!(confirm["title"]["text"], "Reject?");
    assert_eq!(confirm["confirm"]["text"], "Reject");
    assert_eq!(confirm["deny"]["text"], "Cancel");
    assert!(
        confirm["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Approve production"),
        "{confirm}"
    );
    assert!(
        buttons[0].get("confirm").is_none(),
        "Approve needs no confirm"
    );
    // Values are short references Reverb minted (docs/security.md): they name the execution
    // and stage, and carry no input text.
    for button in &buttons {
        let value = button["value"].as_str().expect("value");
        assert!(value.starts_with("rj1:"), "{value}");
        assert!(
            value.contains(&format!(":{}:1:", slackops::EXECUTION_ID)),
            "{value}"
        );
        assert!(value.len() < 200, "{value}");
    }
}

async fn continue_edits_the_awaiting_message(setup: Setup) {
    let h = Harness::start(setup).await;
    accepted(&h, &awaiting()).await;
    let original = h.wait_posted("#deploy-approvals", 1).await.remove(0);

    let calls = posted_for(&h, &continued()).await;
    assert_eq!(calls.len(), 1, "Echo's continue message: {calls:#?}");
    assert_eq!(calls[0].arg_str("channel"), Some("deploy-approvals"));
    assert_eq!(
        echo_text(call_attachment(&calls[0])),
        format!(
            "Stage <{}|Approve production> for *myapp*'s *deploy-prod* pipeline _was judged to *continue*_ by jane@example.com.\n\n\nJudgment '*ship*' was selected.\n",
            stage_link()
        )
    );
    assert_eq!(
        title_of(&calls[0]).trim_end(),
        "Stage Approve production for myapp's deploy-prod pipeline was judged to continue by jane@example.com"
    );

    let updates = h.slack.calls_to("chat.update");
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(updates[0].arg_str("channel"), Some("C0DEPLOY01"));
    assert_eq!(updates[0].arg_str("ts"), Some(original.ts.as_str()));
    let edited = h
        .slack
        .posted("#deploy-approvals")
        .into_iter()
        .find(|m| m.ts == original.ts)
        .expect("the awaiting message");
    assert_eq!(edited.edit_count, 1);
    let text = edited.all_text();
    assert!(
        text.contains("*Approved*: judged to *continue* by jane@example.com"),
        "{text}"
    );
    assert!(text.contains("Option: *ship*"), "{text}");
    assert!(
        block_buttons(&edited).is_empty(),
        "buttons gone: {edited:#?}"
    );
    assert_eq!(h.slack.posted("#deploy-approvals").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn judged_to_continue_posts_echos_message_and_edits_the_awaiting_one() {
    continue_edits_the_awaiting_message(Setup::interactive()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn judged_to_continue_edits_the_awaiting_message_without_interactivity_too() {
    continue_edits_the_awaiting_message(Setup::style("attachments")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn judged_to_continue_without_an_earlier_message_only_posts() {
    let h = Harness::start(Setup::interactive()).await;
    let calls = posted_for(&h, &continued()).await;
    assert_eq!(calls.len(), 1);
    assert!(h.slack.calls_to("chat.update").is_empty());
    assert_eq!(h.slack.posted("#deploy-approvals").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn other_types_and_disabled_slack_answer_an_empty_200() {
    let h = Harness::start(Setup::default()).await;
    for kind in ["EMAIL", "JIRA", "email", "PAGER_DUTY", "HIPCHAT"] {
        let mut n = awaiting();
        n["notificationType"] = json!(kind);
        let (status, body) = h.notify(&n).await;
        assert_eq!((status, body.as_str()), (200, ""), "{kind}");
    }
    h.settle().await;
    assert!(h.slack.calls().is_empty(), "{:#?}", h.slack.calls());

    let off = Harness::start(Setup {
        slack_enabled: false,
        ..Setup::default()
    })
    .await;
    let (status, body) = off.notify(&awaiting()).await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, body) = off.notify(&fixture("keel/notification-interactive")).await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(off.slack.calls().is_empty());
}

async fn assert_bad_request(h: &Harness, body: &str, needle: &str) {
    let response = h.reverb.post_json("/notifications", body).await;
    assert_eq!(response.status(), 400, "{body}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let answer: Value = response.json().await.expect("JSON error");
    assert_eq!(answer["status"], 400);
    assert_eq!(answer["error"], "Bad Request");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "{message:?} should mention {needle:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_notifications_are_400_json_and_send_nothing() {
    let h = Harness::start(Setup::default()).await;
    assert_bad_request(
        &h,
        r##"{"notificationType": "SLACK", "to": ["#x"]"##,
        "JSON",
    )
    .await;
    let mut n = awaiting();
    n["severity"] = json!("LOW");
    assert_bad_request(&h, &n.to_string(), "LOW").await;
    let mut n = fixture("keel/notification-interactive");
    n["interactiveActions"]["actions"][0] =
        json!({"type": "select", "name": "pick", "value": "a", "label": "Pick"});
    assert_bad_request(&h, &n.to_string(), "select").await;
    let mut n = fixture("keel/notification-interactive");
    n["interactiveActions"]["actions"][1]["label"] = Value::Null;
    assert_bad_request(&h, &n.to_string(), "label").await;
    let mut n = awaiting();
    n["notificationType"] = Value::Null;
    assert_bad_request(&h, &n.to_string(), "notificationType").await;
    let mut n = awaiting();
    n.as_object_mut().expect("object").remove("to");
    assert_bad_request(&h, &n.to_string(), "to").await;
    h.settle().await;
    assert!(h.slack.calls().is_empty(), "{:#?}", h.slack.calls());
}

#[tokio::test(flavor = "multi_thread")]
async fn keel_notification_is_echos_legacy_attachment_with_buttons() {
    for style in ["blocks", "attachments"] {
        let h = Harness::start(Setup {
            interactive: true,
            ..Setup::style(style)
        })
        .await;
        let calls = posted_for(&h, &fixture("keel/notification-interactive")).await;
        assert_eq!(calls.len(), 1, "{style}");
        let call = &calls[0];
        assert_eq!(call.arg_str("channel"), Some("#my-team"));
        assert_eq!(call.auth.as_ref().map(|a| a.token()), Some(TOKEN));
        let attachment = call_attachment(call);
        assert_eq!(attachment["callback_id"], "keel:01DYNYK94DE4901K9P802DB4ZT");
        assert_eq!(attachment["color"], "#fcba03");
        assert_eq!(attachment["title"], "Manual artifact promotion approval");
        assert_eq!(
            attachment["text"],
            ":warning: Manual approval required to deploy artifact *myapp* version `1.2.3` to *prod*"
        );
        assert_eq!(attachment["footer"], "Spinnaker");
        assert_eq!(attachment["mrkdwn_in"], json!(["text"]));
        assert_eq!(
            attachment["actions"],
            json!([
                {"type": "button", "name": "manual-judgement", "text": "Approve", "value": "OVERRIDE_PASS"},
                {"type": "button", "name": "manual-judgement", "text": "Reject", "value": "OVERRIDE_FAIL"}
            ]),
            "{style}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn formatters_without_a_template_group() {
    let h = Harness::start(Setup::style("attachments")).await;
    let plain = |context: Value| {
        json!({"notificationType": "SLACK", "to": ["#general"], "severity": "NORMAL",
               "source": {"application": "myapp"}, "additionalContext": context})
    };

    // NotificationTemplateEngineSpec: MARKDOWN untouched.
    let calls = posted_for(
        &h,
        &plain(json!({"formatter": "MARKDOWN", "subject": "This is *markdown*! :yay:", "body": "This is *markdown*! :yay:"})),
    )
    .await;
    let attachment = call_attachment(&calls[0]);
    assert_eq!(attachment["text"], "This is *markdown*! :yay:");
    assert_eq!(attachment["title"], "This is *markdown*! :yay:");

    // TEXT: HTML to plain text (links as ` <href>`), customBody first.
    let calls = posted_for(
        &h,
        &plain(
            json!({"formatter": "TEXT", "subject": "s", "body": "ignored",
                      "customBody": "Do the <a href=\"http://foo\">thing</a>"}),
        ),
    )
    .await;
    assert_eq!(
        call_attachment(&calls[0])["text"],
        "Do the thing <http://foo>"
    );

    // Default HTML: Markdown to HTML, `test` → `<p>test</p>\n`.
    let calls = posted_for(&h, &plain(json!({"subject": "test", "body": "test"}))).await;
    assert_eq!(call_attachment(&calls[0])["text"], "<p>test</p>\n");
    assert_eq!(calls[0].arg_str("channel"), Some("#general"));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_message_per_address_addresses_unchanged() {
    // SlackNotificationServiceSpec.
    let h = Harness::start(Setup::default()).await;
    accepted(
        &h,
        &json!({"notificationType": "SLACK", "to": ["channel1", "#channel2", "C12345678"],
                "additionalContext": {"formatter": "MARKDOWN", "subject": "s", "body": "hello"}}),
    )
    .await;
    let slack = &h.slack;
    let mut channels: Vec<String> = eventually(WAIT, "a post per address", || async {
        let channels: Vec<String> = slack
            .calls_to("chat.postMessage")
            .iter()
            .filter_map(|c| c.arg_str("channel").map(str::to_owned))
            .collect();
        (channels.len() >= 3).then_some(channels)
    })
    .await;
    channels.sort();
    channels.dedup();
    assert_eq!(channels, ["#channel2", "C12345678", "channel1"]);
    for name in ["#channel1", "#channel2"] {
        let messages = h.wait_posted(name, 1).await;
        assert_eq!(messages.len(), 1, "{name}");
        assert_eq!(echo_text(attachment(&messages[0])), "hello");
    }
}
