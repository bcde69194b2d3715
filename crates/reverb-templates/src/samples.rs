//! Built-in sample messages. Overrides are rendered against each of them at load time, so a
//! template that would break a real send fails at start instead.

use serde_json::json;

use crate::views::{
    BuildView, Decision, EventView, JudgmentButton, JudgmentButtons, JudgmentGroup, JudgmentLinks,
    LayoutOptions, LegacyActions, LegacyButton, ManualJudgmentView, MessageContent,
    NotificationView, ResolvedJudgment,
};

pub(crate) struct Sample {
    pub name: &'static str,
    pub content: MessageContent,
    pub layout: LayoutOptions,
}

const LINK: &str = "https://spinnaker.example.com/#/applications/myapp/executions/details/01HTZ8Q5M3K7V2N9P4R6S8T0WX";

fn layout(color: &str, compact: bool) -> LayoutOptions {
    LayoutOptions {
        color: color.to_string(),
        compact,
        ..LayoutOptions::default()
    }
}

fn event(kind: &str, status: &str) -> EventView {
    EventView {
        kind: kind.to_string(),
        status: status.to_string(),
        application: "myapp".to_string(),
        stage_name: (kind == "stage").then(|| "Deploy to prod".to_string()),
        execution: json!({"id": "01HTZ8Q5M3K7V2N9P4R6S8T0WX", "name": "deploy-prod", "description": null,
                          "trigger": {"type": "jenkins", "buildInfo": {"url": "http://jenkins/job/myapp/42/", "number": 42}}}),
        link: LINK.to_string(),
        build: Some(BuildView {
            url: "http://jenkins/job/myapp/42/".to_string(),
            number: "42".to_string(),
        }),
        message_text: Some("Deploy finished :rocket: & <!here>".to_string()),
        custom_message: None,
        notification: json!({"type": "slack", "address": "#deploys", "when": [format!("{kind}.{status}")]}),
        context: if kind == "stage" {
            json!({"sendNotifications": true})
        } else {
            json!(null)
        },
    }
}

fn judgment_view(judged: bool) -> ManualJudgmentView {
    ManualJudgmentView {
        application: "myapp".to_string(),
        execution_id: "01HTZ8Q5M3K7V2N9P4R6S8T0WX".to_string(),
        stage_ref_id: Some("1".to_string()),
        stage_name: "Approve production".to_string(),
        pipeline_name: Some("deploy-prod".to_string()),
        build_number: Some("12345".to_string()),
        instructions: Some(r#"Check the <a href="https://grafana.example.com/d/canary">canary dashboard</a> & approve."#.to_string()),
        message: judged.then(|| "Looks good".to_string()),
        judgment_input: judged.then(|| "ship".to_string()),
        judged_by: judged.then(|| "jane@example.com".to_string()),
        judgment_inputs: vec!["ship".to_string(), "hold".to_string()],
        links: JudgmentLinks {
            execution: LINK.to_string(),
            stage: format!("{LINK}?refId=1"),
        },
        execution: json!({"id": "01HTZ8Q5M3K7V2N9P4R6S8T0WX", "name": "deploy-prod"}),
        additional_context: json!({"stageName": "Approve production", "stageId": "1"}),
        source: json!({"application": "myapp", "executionId": "01HTZ8Q5M3K7V2N9P4R6S8T0WX", "executionType": "pipeline"}),
    }
}

fn judgment_buttons(inputs: &[&str]) -> JudgmentButtons {
    let value = |input: Option<&str>| match input {
        Some(i) => format!(r#"{{"a":"myapp","e":"01HTZ8Q5M3K7V2N9P4R6S8T0WX","s":"1","i":"{i}"}}"#),
        None => r#"{"a":"myapp","e":"01HTZ8Q5M3K7V2N9P4R6S8T0WX","s":"1"}"#.to_string(),
    };
    let mut buttons: Vec<JudgmentButton> = if inputs.is_empty() {
        vec![JudgmentButton {
            decision: Decision::Continue,
            input: None,
            action_id: "reverb.judgment.continue".to_string(),
            value: value(None),
        }]
    } else {
        inputs
            .iter()
            .enumerate()
            .map(|(i, input)| JudgmentButton {
                decision: Decision::Continue,
                input: Some(input.to_string()),
                action_id: format!("reverb.judgment.continue.{}", i + 1),
                value: value(Some(input)),
            })
            .collect()
    };
    buttons.push(JudgmentButton {
        decision: Decision::Stop,
        input: None,
        action_id: "reverb.judgment.stop".to_string(),
        value: value(None),
    });
    JudgmentButtons {
        block_id: "reverb.judgment".to_string(),
        callback_id: "reverb:judgment".to_string(),
        name: "judgment".to_string(),
        stage_name: "Approve production".to_string(),
        pipeline_name: Some("deploy-prod".to_string()),
        buttons,
    }
}

fn notification() -> NotificationView {
    NotificationView {
        subject: "Manual artifact promotion approval".to_string(),
        body: ":warning: Manual approval required to deploy artifact *myapp* version `1.2.3` to *prod*".to_string(),
        application: Some("myapp".to_string()),
        additional_context: json!({"formatter": "MARKDOWN"}),
        source: json!({"application": "myapp"}),
    }
}

fn resolved(decision: Option<Decision>) -> ResolvedJudgment {
    ResolvedJudgment {
        application: "myapp".to_string(),
        execution_id: "01HTZ8Q5M3K7V2N9P4R6S8T0WX".to_string(),
        stage_ref_id: "1".to_string(),
        stage_name: "Approve production".to_string(),
        pipeline_name: Some("deploy-prod".to_string()),
        link: format!("{LINK}?refId=1"),
        decision,
        judged_by: decision.map(|_| "jane@example.com".to_string()),
        slack_user_id: decision.map(|_| "U012AB3CD".to_string()),
        judgment_input: decision.map(|_| "ship".to_string()),
        decided_at: 1_712_570_715,
        note: decision
            .is_none()
            .then(|| "The execution was canceled.".to_string()),
    }
}

pub(crate) fn all() -> Vec<Sample> {
    let mut samples = Vec::new();
    for compact in [false, true] {
        let suffix = |name: &'static str, compact_name: &'static str| {
            if compact { compact_name } else { name }
        };
        samples.push(Sample {
            name: suffix("pipeline complete", "pipeline complete (compact)"),
            content: MessageContent::Event(event("pipeline", "complete")),
            layout: layout("#769D3E", compact),
        });
        samples.push(Sample {
            name: suffix("orchestration starting", "orchestration starting (compact)"),
            content: MessageContent::Event(event("orchestration", "starting")),
            layout: layout("#2275B8", compact),
        });
        samples.push(Sample {
            name: suffix("stage failed", "stage failed (compact)"),
            content: MessageContent::Event(event("stage", "failed")),
            layout: layout("#B82525", compact),
        });
        samples.push(Sample {
            name: suffix("manual judgment", "manual judgment (compact)"),
            content: MessageContent::ManualJudgment(JudgmentGroup::Awaiting, judgment_view(false)),
            layout: layout("#cccccc", compact),
        });
        samples.push(Sample {
            name: suffix(
                "manual judgment continue",
                "manual judgment continue (compact)",
            ),
            content: MessageContent::ManualJudgment(JudgmentGroup::Continue, judgment_view(true)),
            layout: layout("#cccccc", compact),
        });
        samples.push(Sample {
            name: suffix("manual judgment stop", "manual judgment stop (compact)"),
            content: MessageContent::ManualJudgment(JudgmentGroup::Stop, judgment_view(true)),
            layout: layout("#cccccc", compact),
        });
        samples.push(Sample {
            name: suffix("notification", "notification (compact)"),
            content: MessageContent::Notification(notification()),
            layout: layout("#cccccc", compact),
        });
        samples.push(Sample {
            name: suffix("interactive (Keel)", "interactive (Keel, compact)"),
            content: MessageContent::Interactive(notification()),
            layout: LayoutOptions {
                legacy_actions: Some(LegacyActions {
                    callback_id: "keel:01DYNYK94DE4901K9P802DB4ZT".to_string(),
                    actions: vec![
                        LegacyButton {
                            name: "manual-judgement".to_string(),
                            text: "Approve".to_string(),
                            value: "OVERRIDE_PASS".to_string(),
                        },
                        LegacyButton {
                            name: "manual-judgement".to_string(),
                            text: "Reject".to_string(),
                            value: "OVERRIDE_FAIL".to_string(),
                        },
                    ],
                }),
                ..layout("#fcba03", compact)
            },
        });
        for (name, decision) in [
            ("judgment resolved: continue", Some(Decision::Continue)),
            ("judgment resolved: stop", Some(Decision::Stop)),
            ("judgment resolved: no judgment", None),
        ] {
            if !compact {
                samples.push(Sample {
                    name,
                    content: MessageContent::JudgmentResolved(resolved(decision)),
                    layout: layout("#769D3E", false),
                });
            }
        }
    }
    samples.push(Sample {
        name: "manual judgment with buttons",
        content: MessageContent::ManualJudgment(JudgmentGroup::Awaiting, judgment_view(false)),
        layout: LayoutOptions {
            judgment: Some(judgment_buttons(&[])),
            ..layout("#cccccc", false)
        },
    });
    samples.push(Sample {
        name: "manual judgment with seven options",
        content: MessageContent::ManualJudgment(JudgmentGroup::Awaiting, judgment_view(false)),
        layout: LayoutOptions {
            judgment: Some(judgment_buttons(&[
                "ship", "hold", "canary", "rollback", "a", "b", "c",
            ])),
            ..layout("#cccccc", true)
        },
    });
    samples
}
