//! `reverb.slack.threads`: the pipeline's starting message is the thread parent.

use reverb_model::DeliveryMethod;
use reverb_templates::MessageStyle;
use serde_json::json;

use super::{ctx, event, templates};
use crate::{NotifyContext, plan_event};

fn pipeline_event(status: &str) -> serde_json::Value {
    json!({"details": {"type": format!("orca:pipeline:{status}"), "application": "myapp"},
        "content": {"executionId": "E1", "execution": {"id": "E1", "name": "deploy", "status": "RUNNING",
            "notifications": [{"type": "slack", "address": "#Deploys",
                "when": ["pipeline.starting", "pipeline.complete", "pipeline.failed"]}]}}})
}

fn stage_event() -> serde_json::Value {
    json!({"details": {"type": "orca:stage:complete", "application": "myapp"},
        "content": {"executionId": "E1", "name": "Bake", "execution": {"id": "E1", "name": "deploy"},
            "context": {"sendNotifications": true,
                "notifications": [{"type": "slack", "address": "deploys", "when": ["stage.complete"]}]}}})
}

#[test]
fn threads_mode_parents_replies_and_final_update() {
    let context = NotifyContext {
        threads: true,
        ..ctx()
    };
    let templates = templates(MessageStyle::Blocks);
    let key = "execution:E1@deploys";

    let starting = plan_event(&event(pipeline_event("starting")), &context, &templates);
    assert_eq!(starting.len(), 1);
    assert_eq!(starting[0].method(), DeliveryMethod::Post);
    assert_eq!(super::ref_key(&starting[0]), Some(key));

    let stage = plan_event(&event(stage_event()), &context, &templates);
    assert_eq!(stage[0].method(), DeliveryMethod::Post);
    assert_eq!(super::thread_key(&stage[0]), Some(key));

    for status in ["complete", "failed"] {
        let done = plan_event(&event(pipeline_event(status)), &context, &templates);
        assert_eq!(done[0].method(), DeliveryMethod::Update);
        assert_eq!(super::ref_key(&done[0]), Some(key));
        assert!(super::post_if_missing(&done[0]));
        assert_eq!(done[0].kind().as_str(), "pipeline");
    }
}

#[test]
fn without_threads_every_message_is_a_post() {
    let templates = templates(MessageStyle::Blocks);
    let done = plan_event(&event(pipeline_event("complete")), &ctx(), &templates);
    assert_eq!(done[0].method(), DeliveryMethod::Post);
    assert_eq!(super::ref_key(&done[0]), Some("execution:E1@deploys"));
    assert!(!super::post_if_missing(&done[0]));
    let stage = plan_event(&event(stage_event()), &ctx(), &templates);
    assert_eq!(super::thread_key(&stage[0]), None);
}
