//! Pipeline and stage notifications from Orca events (`POST /`), end to end: the real binary,
//! the Orca fixtures, and what the fake Slack receives, compared with what Echo's
//! `SlackNotificationAgent` sends (docs/echo-contract.md, "Echo's event notifications").

use std::time::{Duration, Instant};

use reverb_sandbox::SlackCall;
use serde_json::{Value, json};

use crate::slackops::{self, Harness, LINK, Setup, TOKEN, call_attachment, echo_text, fixture};

/// Echo's attachment keys, in `attachments` style (docs/compatibility.md, "Message content").
const ECHO_ATTACHMENT_KEYS: &[&str] = &[
    "title",
    "text",
    "fallback",
    "color",
    "callback_id",
    "actions",
    "footer",
    "footer_icon",
    "mrkdwn_in",
    "ts",
];

/// What Echo sends for one event: channel (as given), title, text, colour.
struct Expected {
    channel: &'static str,
    title: &'static str,
    text: String,
    color: &'static str,
}

/// Post an event and return the `chat.postMessage` calls it caused.
async fn sent_for(h: &Harness, event: &Value) -> Vec<SlackCall> {
    let before = h.posts().len();
    h.event(event).await;
    h.settle().await;
    h.posts().split_off(before)
}

/// The single message an event caused, checked against Echo's in the harness's style.
async fn expect_one(h: &Harness, style: &str, event: &Value, expected: &Expected) -> SlackCall {
    let calls = sent_for(h, event).await;
    assert_eq!(calls.len(), 1, "one message expected, got {calls:#?}");
    let call = calls.into_iter().next().expect("one call");
    assert_eq!(call.arg_str("channel"), Some(expected.channel));
    assert_eq!(call.auth.as_ref().map(|a| a.token()), Some(TOKEN));
    assert_eq!(call.ok(), Some(true), "{:?}", call.response);
    let attachment = call_attachment(&call);
    assert_eq!(attachment["color"], expected.color);
    assert_eq!(echo_text(attachment), expected.text, "Echo's text");
    assert_eq!(attachment["fallback"], expected.text.as_str());
    match style {
        "attachments" => {
            let mut keys: Vec<&str> = attachment.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut echo = ECHO_ATTACHMENT_KEYS.to_vec();
            echo.sort_unstable();
            assert_eq!(keys, echo, "Echo's attachment keys");
            assert_eq!(attachment["title"], expected.title);
            assert_eq!(attachment["footer"], "Spinnaker");
            assert_eq!(attachment["mrkdwn_in"], json!(["text"]));
            assert_eq!(attachment["callback_id"], Value::Null);
            assert_eq!(attachment["actions"], json!([]));
        }
        _ => {
            assert_eq!(call.arg_str("text"), Some(expected.title), "title");
            let blocks = attachment["blocks"].as_array().expect("blocks");
            assert_eq!(blocks[0]["type"], "section");
            assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
            assert!(
                blocks
                    .iter()
                    .any(|b| b["type"] == "context" && b.to_string().contains("Spinnaker")),
                "footer context block: {blocks:#?}"
            );
        }
    }
    call
}

/// The fixture → message table; `None` where Echo sends nothing.
fn fixture_expectations() -> Vec<(&'static str, Option<Expected>)> {
    vec![
        // Its only Slack entry fires on complete/failed.
        ("event-pipeline-starting", None),
        (
            "event-pipeline-complete",
            Some(Expected {
                channel: "deploys",
                title: "Pipeline complete for MYAPP",
                text: format!("Myapp's <{LINK}|deploy-prod> pipeline has completed successfully"),
                color: "#769D3E",
            }),
        ),
        (
            "event-pipeline-failed-with-build",
            Some(Expected {
                channel: "deploys",
                title: "Pipeline failed for MYAPP",
                text: format!(
                    "Myapp's <{LINK}|deploy-prod> build <http://jenkins.example.com/job/myapp/42/|42> pipeline has failed"
                ),
                color: "#B82525",
            }),
        ),
        // Orca reports a cancellation as `failed` with status CANCELED: Echo stays silent.
        ("event-pipeline-canceled", None),
        // Manual-judgment entries never fire from events (Orca uses POST /notifications).
        ("event-stage-starting-manual-judgment", None),
        (
            "event-stage-complete-deploy",
            Some(Expected {
                channel: "#deploys",
                title: "Stage complete for MYAPP",
                text: format!(
                    "Stage Deploy to prod for Myapp's <{LINK}|deploy-prod> pipeline has completed successfully\n\nDeploy finished :rocket:"
                ),
                color: "#769D3E",
            }),
        ),
    ]
}

async fn fixtures_send_what_echo_sends(style: &'static str) {
    let h = Harness::start(Setup::style(style)).await;
    for (name, expected) in fixture_expectations() {
        let event = fixture(&format!("orca/{name}"));
        match expected {
            Some(expected) => {
                expect_one(&h, style, &event, &expected).await;
            }
            None => {
                let calls = sent_for(&h, &event).await;
                assert!(
                    calls.is_empty(),
                    "{name}: Echo sends nothing, got {calls:#?}"
                );
            }
        }
    }
    // The messages are in the channel, as Slack shows them.
    assert_eq!(h.slack.posted("#deploys").len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn fixtures_send_what_echo_sends_in_blocks_style() {
    fixtures_send_what_echo_sends("blocks").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fixtures_send_what_echo_sends_in_attachments_style() {
    fixtures_send_what_echo_sends("attachments").await;
}

fn complete() -> Value {
    fixture("orca/event-pipeline-complete")
}

fn stage_complete() -> Value {
    fixture("orca/event-stage-complete-deploy")
}

const COMPLETE_TEXT: &str = "pipeline has completed successfully";

#[tokio::test(flavor = "multi_thread")]
async fn message_suffix_custom_message_and_build_fragment() {
    let h = Harness::start(Setup::default()).await;
    let expected = |text: String| Expected {
        channel: "deploys",
        title: "Pipeline complete for MYAPP",
        text,
        color: "#769D3E",
    };

    // SlackNotificationAgentSpec: message["pipeline.complete"].text after a blank line.
    let mut event = complete();
    event["content"]["execution"]["notifications"][0]["message"] = json!({"pipeline.complete": {"text": "Shipped to *prod* :tada:"}, "pipeline.failed": {"text": "not this one"}});
    expect_one(
        &h,
        "blocks",
        &event,
        &expected(format!(
            "Myapp's <{LINK}|deploy-prod> {COMPLETE_TEXT}\n\nShipped to *prod* :tada:"
        )),
    )
    .await;

    // customMessage replaces the text, with {{executionId}} and {{link}}.
    let mut event = complete();
    event["content"]["execution"]["notifications"][0]["customMessage"] =
        json!("Run {{executionId}} is done: <{{link}}|details>");
    event["content"]["execution"]["notifications"][0]["message"] =
        json!({"pipeline.complete": {"text": "ignored when customMessage is set"}});
    expect_one(
        &h,
        "blocks",
        &event,
        &expected(format!(
            "Run 01HTZ8Q5M3K7V2N9P4R6S8T0WX is done: <{LINK}|details>"
        )),
    )
    .await;

    // A stage's context customMessage with a link (`b <{{link}}|link>?`, the last example of
    // docs/echo-contract.md, "The message").
    let mut event = stage_complete();
    event["content"]["context"]["customMessage"] = json!("b <{{link}}|link>?");
    expect_one(
        &h,
        "blocks",
        &event,
        &Expected {
            channel: "#deploys",
            title: "Stage complete for MYAPP",
            text: format!("b <{LINK}|link>?"),
            color: "#769D3E",
        },
    )
    .await;

    // The build fragment from trigger.buildInfo, the number as an integer.
    let mut event = complete();
    event["content"]["execution"]["trigger"]["buildInfo"] =
        json!({"url": "http://jenkins/job/x/42", "number": "42", "name": "x"});
    expect_one(
        &h,
        "blocks",
        &event,
        &expected(format!(
            "Myapp's <{LINK}|deploy-prod> build <http://jenkins/job/x/42|42> {COMPLETE_TEXT}"
        )),
    )
    .await;

    // No url, no fragment.
    let mut event = complete();
    event["content"]["execution"]["trigger"]["buildInfo"] = json!({"number": 7});
    expect_one(
        &h,
        "blocks",
        &event,
        &expected(format!("Myapp's <{LINK}|deploy-prod> {COMPLETE_TEXT}")),
    )
    .await;

    // Stage events carry the build too.
    let mut event = stage_complete();
    event["content"]["execution"]["trigger"]["buildInfo"] =
        json!({"url": "http://jenkins/job/x/43", "number": 43});
    expect_one(
        &h,
        "blocks",
        &event,
        &Expected {
            channel: "#deploys",
            title: "Stage complete for MYAPP",
            text: format!(
                "Stage Deploy to prod for Myapp's <{LINK}|deploy-prod> build <http://jenkins/job/x/43|43> {COMPLETE_TEXT}\n\nDeploy finished :rocket:"
            ),
            color: "#769D3E",
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_strings_orca_enums_nulls_and_unknown_fields() {
    let h = Harness::start(Setup::default()).await;
    let plain = Expected {
        channel: "deploys",
        title: "Pipeline complete for MYAPP",
        text: format!("Myapp's <{LINK}|deploy-prod> {COMPLETE_TEXT}"),
        color: "#769D3E",
    };

    // `when` as a string matches by substring.
    let mut event = complete();
    event["content"]["execution"]["notifications"][0]["when"] =
        json!("pipeline.starting,pipeline.complete");
    expect_one(&h, "blocks", &event, &plain).await;
    event["content"]["execution"]["notifications"][0]["when"] = json!("pipeline.failed");
    assert!(sent_for(&h, &event).await.is_empty(), "no match, nothing");

    // Echo matches the entry's type exactly: "SLACK" is not "slack".
    let mut event = complete();
    event["content"]["execution"]["notifications"][0]["type"] = json!("SLACK");
    assert!(sent_for(&h, &event).await.is_empty());

    // Orca's enums by name: an ORCHESTRATION reads "pipeline", links under `tasks`, and falls
    // back to the description; synthetic owners, odd statuses and sources decode.
    let mut event = complete();
    event["details"]["type"] = json!("orca:orchestration:complete");
    let execution = &mut event["content"]["execution"];
    execution["type"] = json!("ORCHESTRATION");
    execution["name"] = Value::Null;
    execution["description"] = json!("Resize myapp-prod");
    execution["source"] = json!({"id": "t1", "type": "TEMPLATE", "version": "v2"});
    execution["notifications"][0]["when"] = json!(["orchestration.complete"]);
    execution["stages"][1]["syntheticStageOwner"] = json!("STAGE_BEFORE");
    execution["stages"][1]["status"] = json!("FAILED_CONTINUE");
    execution["paused"] = json!({"pausedBy": "jane", "resumedBy": "jane", "pauseTime": 1, "resumeTime": 2, "paused": false, "pausedMs": 1});
    expect_one(
        &h,
        "blocks",
        &event,
        &Expected {
            channel: "deploys",
            title: "Orchestration complete for MYAPP",
            text: "Myapp's <http://spinnaker/#/applications/myapp/tasks/01HTZ8Q5M3K7V2N9P4R6S8T0WX|Resize myapp-prod> pipeline has completed successfully".into(),
            color: "#769D3E",
        },
    )
    .await;

    // Nulls everywhere Orca's plain Jackson mapper writes them, and more.
    let mut event = complete();
    let execution = &mut event["content"]["execution"];
    for key in [
        "trigger",
        "description",
        "authentication",
        "paused",
        "source",
        "buildTime",
        "initialConfig",
        "systemNotifications",
        "spelEvaluator",
        "templateVariables",
        "partition",
        "canceledBy",
        "cancellationReason",
    ] {
        execution[key] = Value::Null;
    }
    execution["stages"][0]["context"] = Value::Null;
    execution["stages"][1]["tasks"] = Value::Null;
    for key in ["message", "customMessage", "cc", "level", "publisherName"] {
        execution["notifications"][0][key] = Value::Null;
    }
    event["content"]["executionId"] = Value::Null;
    event["details"]["created"] = Value::Null;
    event["details"]["organization"] = Value::Null;
    expect_one(&h, "blocks", &event, &plain).await;

    // Fields Reverb has never heard of are ignored, at every level.
    let mut event = complete();
    event["eventId"] = json!("3f1c2a");
    event["rawContent"] = json!("{}");
    event["payload"] = json!({"anything": [1, 2, 3]});
    event["futureTopLevel"] = json!({"nested": true});
    event["details"]["attributes"] = json!({"k": "v"});
    event["details"]["requestHeaders"] = json!({"X-Foo": ["bar"]});
    event["details"]["_content_id"] = json!("c1");
    event["content"]["expressionEvaluationSummary"] = json!({"x": [{"description": "failed"}]});
    event["content"]["execution"]["brandNewField"] = json!(42);
    event["content"]["execution"]["notifications"][0]["futureKey"] = json!({"a": null});
    expect_one(&h, "blocks", &event, &plain).await;

    // Odd but valid shapes are accepted and send nothing.
    for nothing in [
        json!({"details": {"type": "orca:pipeline:complete", "source": "orca"}, "content": null}),
        json!({"details": {"type": "orca:stage:complete"}, "content": {"context": null}}),
        json!({"details": {"type": null, "source": null, "application": null}}),
        json!({}),
    ] {
        assert!(sent_for(&h, &nothing).await.is_empty(), "{nothing}");
    }
}

/// Jackson binds `"details": null` to a null `Metadata`; Echo answers 200 before processing
/// (and its agents then skip the event).
#[tokio::test(flavor = "multi_thread")]
async fn null_details_are_accepted_like_echo() {
    let h = Harness::start(Setup::default()).await;
    assert!(
        sent_for(&h, &json!({"details": null, "content": {}}))
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn compact_messages_are_echos_compact_attachment() {
    let h = Harness::start(Setup {
        compact: true,
        ..Setup::default()
    })
    .await;
    let calls = sent_for(&h, &complete()).await;
    assert_eq!(calls.len(), 1);
    let text = format!("Myapp's <{LINK}|deploy-prod> {COMPLETE_TEXT}");
    assert_eq!(
        calls[0].args["attachments"],
        json!([{"fallback": text, "text": text, "color": "#769D3E", "mrkdwn_in": ["text"]}]),
        "CompactSlackMessage: no title, no buttons"
    );
    assert_eq!(calls[0].arg_str("channel"), Some("deploys"));
}

#[tokio::test(flavor = "multi_thread")]
async fn other_sources_and_task_events_are_accepted_and_send_nothing() {
    let h = Harness::start(Setup::default()).await;
    let mut task = stage_complete();
    task["details"]["type"] = json!("orca:task:complete");
    task["content"]["standalone"] = json!(true);
    task["content"]["taskName"] = json!("deploy.createServerGroup");
    let mut igor = complete();
    igor["details"] = json!({"type": "build", "source": "jenkins", "application": "myapp"});
    let gate = json!({"content": {"application": "myapp", "pipelineNameOrId": "deploy-prod",
        "trigger": {"type": "manual", "user": "jane@example.com", "eventId": "e1"}, "user": "jane@example.com"},
        "details": {"type": "manual"}, "eventId": "e1"});
    let mut unknown_kind = complete();
    unknown_kind["details"]["type"] = json!("orca:deployment:complete");
    for event in [task, igor, gate, unknown_kind] {
        assert!(
            sent_for(&h, &event).await.is_empty(),
            "{}",
            event["details"]
        );
    }
}

/// About 8 MB of extra stages, as a big execution (with a parent execution) can be.
fn huge_execution_event() -> Value {
    let mut event = complete();
    let filler = "x".repeat(4_000);
    let stages = event["content"]["execution"]["stages"]
        .as_array_mut()
        .expect("stages");
    for i in 0..2_000 {
        stages.push(json!({
            "id": format!("01HUGE{i:020}"), "refId": format!("x{i}"), "type": "wait", "name": format!("Wait {i}"),
            "status": "SUCCEEDED", "context": {"waitTime": 1, "blob": filler}, "outputs": {}, "tasks": [],
            "syntheticStageOwner": null, "parentStageId": null, "requisiteStageRefIds": [],
            "lastModified": null,
        }));
    }
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_megabyte_execution_is_accepted_quickly() {
    let h = Harness::start(Setup::default()).await;
    let event = huge_execution_event();
    let body = event.to_string();
    assert!(body.len() > 8_000_000, "{} bytes", body.len());
    let started = Instant::now();
    let response = h.reverb.post_json("/", &body).await;
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let message = h.wait_posted("#deploys", 1).await;
    assert!(
        slackops::attachment(&message[0])["fallback"]
            .as_str()
            .unwrap()
            .ends_with(COMPLETE_TEXT)
    );
}

async fn assert_json_error(response: reqwest::Response, status: u16, needle: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["status"], status);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "message {message:?} should mention {needle:?}"
    );
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_clear_json_errors_and_send_nothing() {
    let h = Harness::start(Setup {
        max_body: Some("1MB"),
        ..Setup::default()
    })
    .await;
    let reverb = &h.reverb;

    // Over reverb.server.maxRequestBodySize.
    let mut big = complete();
    big["content"]["execution"]["description"] = json!("y".repeat(1_100_000));
    let response = reverb.post_json("/", &big.to_string()).await;
    let body = assert_json_error(response, 413, "maxRequestBodySize").await;
    assert_eq!(body["error"], "Payload Too Large");

    // Malformed JSON: a 400 that says where.
    let response = reverb
        .post_json("/", r#"{"details": {"type": "orca:pipeline:complete"},"#)
        .await;
    assert_json_error(response, 400, "malformed").await;
    let response = reverb.post_json("/", r#"{"details": "#).await;
    let body = assert_json_error(response, 400, "line 1").await;
    assert_eq!(body["error"], "Bad Request");

    // Empty body.
    let response = reverb.post_json("/", "").await;
    assert_json_error(response, 400, "body").await;

    // Wrong content type.
    let response = reverb
        .http
        .post(reverb.url("/"))
        .header("content-type", "text/plain")
        .body(complete().to_string())
        .send()
        .await
        .unwrap();
    assert_json_error(response, 415, "text/plain").await;

    h.settle().await;
    assert!(h.posts().is_empty(), "{:#?}", h.posts());

    // The same event, well formed, goes through.
    h.event(&complete()).await;
    h.wait_posted("#deploys", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn threads_parent_replies_and_final_edit_survive_a_restart() {
    let mut h = Harness::start(Setup {
        threads: true,
        ..Setup::default()
    })
    .await;
    let mut starting = fixture("orca/event-pipeline-starting");
    starting["content"]["execution"]["notifications"][0]["when"] =
        json!(["pipeline.starting", "pipeline.complete", "pipeline.failed"]);
    h.event(&starting).await;
    let parent = h.wait_posted("#deploys", 1).await.remove(0);
    assert_eq!(parent.text, "Pipeline starting for MYAPP");
    assert_eq!(parent.thread_ts, None);
    assert_eq!(
        echo_text(slackops::attachment(&parent)),
        format!("Myapp's <{LINK}|deploy-prod> pipeline is starting")
    );
    assert_eq!(slackops::attachment(&parent)["color"], "#2275B8");

    h.restart().await;

    // A stage message replies in the parent's thread (the address `#deploys` and the pipeline's
    // `deploys` are the same channel).
    h.event(&stage_complete()).await;
    let messages = h.wait_posted("#deploys", 2).await;
    let reply = messages
        .iter()
        .find(|m| m.ts != parent.ts)
        .expect("the stage reply");
    assert_eq!(reply.thread_ts.as_deref(), Some(parent.ts.as_str()));
    assert_eq!(reply.text, "Stage complete for MYAPP");

    // The final status edits the parent instead of posting again.
    h.event(&complete()).await;
    let edited = h
        .wait_message("#deploys", "the parent edited to complete", |m| {
            m.ts == parent.ts && m.edit_count > 0
        })
        .await;
    assert_eq!(edited.text, "Pipeline complete for MYAPP");
    assert_eq!(
        echo_text(slackops::attachment(&edited)),
        format!("Myapp's <{LINK}|deploy-prod> {COMPLETE_TEXT}")
    );
    assert_eq!(slackops::attachment(&edited)["color"], "#769D3E");
    h.settle().await;
    assert_eq!(h.slack.posted("#deploys").len(), 2, "parent + one reply");
    let updates = h.slack.calls_to("chat.update");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].arg_str("channel"), Some("C0DEPLOYS01"));
    assert_eq!(updates[0].arg_str("ts"), Some(parent.ts.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn events_received_are_counted_by_type() {
    let h = Harness::start(Setup::default()).await;
    h.event(&complete()).await;
    h.event(&fixture("orca/event-pipeline-canceled")).await;
    h.event(&stage_complete()).await;
    h.event(&json!({"details": {"type": "build"}, "content": {}}))
        .await;
    let count = async |kind: &str| {
        h.reverb
            .metric("reverb_events_received_total", &[("type", kind)])
            .await
    };
    assert_eq!(count("pipeline").await, 2.0);
    assert_eq!(count("stage").await, 1.0);
    assert_eq!(count("other").await, 1.0);
    assert_eq!(count("task").await, 0.0);
}
