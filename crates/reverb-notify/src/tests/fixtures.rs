//! The shared Orca event fixtures (copied into `testdata/`): what Echo would send for each.

use reverb_model::{DeliveryMethod, SlackClientKind};
use reverb_templates::MessageStyle;
use serde_json::{Value, json};

use super::{attachment, ctx, event, templates, text_of};
use crate::{NotifyContext, plan_event};

const LINK: &str =
    "http://spinnaker/#/applications/myapp/executions/details/01HTZ8Q5M3K7V2N9P4R6S8T0WX";

fn fixture(name: &str) -> Value {
    let text = match name {
        "event-pipeline-canceled" => {
            include_str!("../../testdata/orca/event-pipeline-canceled.json")
        }
        "event-pipeline-complete" => {
            include_str!("../../testdata/orca/event-pipeline-complete.json")
        }
        "event-pipeline-failed-with-build" => {
            include_str!("../../testdata/orca/event-pipeline-failed-with-build.json")
        }
        "event-pipeline-starting" => {
            include_str!("../../testdata/orca/event-pipeline-starting.json")
        }
        "event-stage-complete-deploy" => {
            include_str!("../../testdata/orca/event-stage-complete-deploy.json")
        }
        "event-stage-starting-manual-judgment" => {
            include_str!("../../testdata/orca/event-stage-starting-manual-judgment.json")
        }
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn plan(name: &str) -> Vec<reverb_model::OutboundMessage> {
    plan_event(
        &event(fixture(name)),
        &ctx(),
        &templates(MessageStyle::Attachments),
    )
}

#[test]
fn canceled_pipeline_sends_nothing() {
    assert!(plan("event-pipeline-canceled").is_empty());
}

#[test]
fn starting_pipeline_without_a_starting_entry_sends_nothing() {
    assert!(plan("event-pipeline-starting").is_empty());
}

#[test]
fn completed_pipeline() {
    let planned = plan("event-pipeline-complete");
    assert_eq!(planned.len(), 1);
    let message = &planned[0];
    assert_eq!(message.destination(), "deploys");
    assert_eq!(message.kind().as_str(), "pipeline");
    assert_eq!(message.method(), DeliveryMethod::Post);
    assert_eq!(message.client(), SlackClientKind::Legacy);
    assert_eq!(
        super::ref_key(message),
        Some("execution:01HTZ8Q5M3K7V2N9P4R6S8T0WX@deploys")
    );
    assert_eq!(attachment(message)["title"], "Pipeline complete for MYAPP");
    assert_eq!(
        text_of(message),
        format!("Myapp's <{LINK}|deploy-prod> pipeline has completed successfully")
    );
    assert_eq!(attachment(message)["color"], "#769D3E");
}

#[test]
fn failed_pipeline_with_a_build() {
    let planned = plan("event-pipeline-failed-with-build");
    assert_eq!(planned.len(), 1);
    assert_eq!(
        attachment(&planned[0])["title"],
        "Pipeline failed for MYAPP"
    );
    assert_eq!(
        text_of(&planned[0]),
        format!(
            "Myapp's <{LINK}|deploy-prod> build <http://jenkins.example.com/job/myapp/42/|42> pipeline has failed"
        )
    );
    assert_eq!(attachment(&planned[0])["color"], "#B82525");
}

#[test]
fn completed_deploy_stage() {
    let planned = plan("event-stage-complete-deploy");
    assert_eq!(planned.len(), 1);
    let message = &planned[0];
    assert_eq!(message.destination(), "#deploys");
    assert_eq!(message.kind().as_str(), "stage");
    assert_eq!(super::ref_key(message), None);
    assert_eq!(super::thread_key(message), None);
    assert_eq!(attachment(message)["title"], "Stage complete for MYAPP");
    assert_eq!(
        text_of(message),
        format!(
            "Stage Deploy to prod for Myapp's <{LINK}|deploy-prod> pipeline has completed successfully\n\nDeploy finished :rocket:"
        )
    );
}

#[test]
fn manual_judgment_stage_start_sends_nothing_from_events() {
    assert!(plan("event-stage-starting-manual-judgment").is_empty());
}

/// The manual-judgment stage event turned into its end: judged, or cancelled.
fn judgment_stage_end(status: &str, judged: bool, canceled: bool) -> Value {
    let mut event_json = fixture("event-stage-starting-manual-judgment");
    event_json["details"]["type"] = json!(format!("orca:stage:{status}"));
    event_json["content"]["endTime"] = json!(1_712_570_715_000_i64);
    event_json["content"]["canceled"] = json!(canceled);
    if judged {
        let context = &mut event_json["content"]["context"];
        context["judgmentStatus"] = json!(if status == "complete" {
            "continue"
        } else {
            "stop"
        });
        context["judgmentInput"] = json!("ship");
        context["lastModifiedBy"] = json!("jane@example.com");
    }
    event_json
}

#[test]
fn judged_stage_end_updates_the_judgment_message() {
    let context = NotifyContext {
        judgment_buttons: Some(reverb_model::judgment::ButtonKey::from_bytes(&[9; 32])),
        ..ctx()
    };
    let planned = plan_event(
        &event(judgment_stage_end("complete", true, false)),
        &context,
        &templates(MessageStyle::Blocks),
    );
    assert_eq!(planned.len(), 1);
    let update = &planned[0];
    assert_eq!(update.kind().as_str(), "judgment_resolved");
    assert_eq!(update.method(), DeliveryMethod::Update);
    assert_eq!(update.destination(), "deploy-approvals");
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
    let text = attachment(update)["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("*Approved*: judged to *continue* by jane@example.com"),
        "{text}"
    );
    assert!(text.contains("Option: *ship*"), "{text}");
    assert!(text.contains("<!date^1712570715^"), "{text}");

    let stopped = plan_event(
        &event(judgment_stage_end("failed", true, false)),
        &ctx(),
        &templates(MessageStyle::Blocks),
    );
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].client(), SlackClientKind::Legacy);
    assert_eq!(attachment(&stopped[0])["color"], "#B82525");
}

#[test]
fn canceled_judgment_stage_says_so() {
    let planned = plan_event(
        &event(judgment_stage_end("failed", false, true)),
        &ctx(),
        &templates(MessageStyle::Attachments),
    );
    assert_eq!(planned.len(), 1);
    let text = text_of(&planned[0]);
    assert!(text.contains("*No judgment was made*"), "{text}");
    assert!(text.contains("canceled"), "{text}");
    assert!(
        attachment(&planned[0])["actions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
