//! Reverb's Approve/Reject buttons on Orca manual judgments, and the view that replaces them once
//! the judgment is over. The ids here are the contract with the click handler.

use reverb_model::SlackMessage;
use reverb_templates::{
    Decision, JudgmentButton, JudgmentButtons, LayoutOptions, MessageContent, TemplateEngine,
};

use reverb_model::judgment::{
    ACTION_CONTINUE, ACTION_STOP, BLOCK_ID, ButtonKey, ButtonRef, InputChoice, LEGACY_ACTION_NAME,
    LEGACY_CALLBACK_ID,
};

/// An actions block holds at most 25 elements; one is Reject.
const MAX_APPROVE_BUTTONS: usize = 24;

/// Attachment colours of the resolved view (Echo's complete / failed / other colours).
const CONTINUED_COLOR: &str = "#769D3E";
const STOPPED_COLOR: &str = "#B82525";
const UNJUDGED_COLOR: &str = "#CCCCCC";

/// The identity of a manual-judgment stage.
pub(crate) struct JudgmentStage<'a> {
    pub application: &'a str,
    pub execution_id: &'a str,
    pub stage_ref_id: &'a str,
    pub stage_name: &'a str,
    pub pipeline_name: Option<&'a str>,
}

/// Approve (one per judgment input when there are inputs) and Reject, each carrying a value
/// minted with `key`; `None` when the ids are too long to put on a button.
pub(crate) fn judgment_buttons(
    stage: &JudgmentStage<'_>,
    inputs: &[String],
    key: &ButtonKey,
) -> Option<JudgmentButtons> {
    if !ButtonRef::fits(stage.application, stage.execution_id, stage.stage_ref_id) {
        tracing::warn!(
            execution_id = stage.execution_id,
            stage = stage.stage_ref_id,
            "execution id or stage refId too long for a judgment button; posting without buttons"
        );
        return None;
    }
    let value = |decision: Decision, input: Option<InputChoice>| {
        ButtonRef {
            decision,
            application: stage.application.to_string(),
            execution_id: stage.execution_id.to_string(),
            stage_ref_id: stage.stage_ref_id.to_string(),
            input,
        }
        .mint(key)
    };
    if inputs.len() > MAX_APPROVE_BUTTONS {
        tracing::warn!(
            inputs = inputs.len(),
            execution_id = stage.execution_id,
            stage = stage.stage_ref_id,
            "more judgment inputs than Slack can show as buttons; the rest are left out"
        );
    }
    let mut buttons: Vec<JudgmentButton> = if inputs.is_empty() {
        vec![JudgmentButton {
            decision: Decision::Continue,
            input: None,
            action_id: ACTION_CONTINUE.to_string(),
            value: value(Decision::Continue, None),
        }]
    } else {
        inputs
            .iter()
            .take(MAX_APPROVE_BUTTONS)
            .enumerate()
            .map(|(index, input)| JudgmentButton {
                decision: Decision::Continue,
                input: Some(input.clone()),
                action_id: format!("{ACTION_CONTINUE}.{}", index + 1),
                value: value(Decision::Continue, Some(InputChoice::new(index + 1, input))),
            })
            .collect()
    };
    buttons.push(JudgmentButton {
        decision: Decision::Stop,
        input: None,
        action_id: ACTION_STOP.to_string(),
        value: value(Decision::Stop, None),
    });
    Some(JudgmentButtons {
        block_id: BLOCK_ID.to_string(),
        callback_id: LEGACY_CALLBACK_ID.to_string(),
        name: LEGACY_ACTION_NAME.to_string(),
        stage_name: stage.stage_name.to_string(),
        pipeline_name: stage.pipeline_name.map(str::to_string),
        buttons,
    })
}

/// What a resolved judgment carries: the judgment contract's type.
pub use reverb_templates::ResolvedJudgment;

/// The message that replaces a manual-judgment message once it is decided: no buttons; the
/// decision, who (Slack mention and Spinnaker identity), the chosen option and the time.
pub fn render_judgment_resolution(
    r: &ResolvedJudgment,
    templates: &TemplateEngine,
) -> SlackMessage {
    let color = match r.decision {
        Some(Decision::Continue) => CONTINUED_COLOR,
        Some(Decision::Stop) => STOPPED_COLOR,
        None => UNJUDGED_COLOR,
    };
    templates.render(
        &MessageContent::JudgmentResolved(r.clone()),
        &LayoutOptions {
            color: color.to_string(),
            ..LayoutOptions::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reverb_templates::{MessageStyle, TemplateOptions};

    #[test]
    fn many_inputs_fit_one_actions_block() {
        let stage = JudgmentStage {
            application: "a",
            execution_id: "e",
            stage_ref_id: "1",
            stage_name: "MJ",
            pipeline_name: None,
        };
        let inputs: Vec<String> = (0..30).map(|i| format!("option {i}")).collect();
        let key = ButtonKey::from_bytes(&[7; ButtonKey::LEN]);
        let buttons = judgment_buttons(&stage, &inputs, &key).unwrap();
        assert_eq!(buttons.buttons.len(), 25);
        let second = ButtonRef::verify(&buttons.buttons[1].value, &key).unwrap();
        assert_eq!(second.input.as_ref().map(|i| i.index), Some(2));
        assert!(second.input.unwrap().matches("option 1"));
        assert!(buttons.buttons.iter().all(|b| b.value.len() < 120));
        assert_eq!(buttons.buttons[23].action_id, "reverb.judgment.continue.24");
        assert_eq!(buttons.buttons[24].decision, Decision::Stop);
    }

    #[test]
    fn resolution_view_after_a_click() {
        let templates = TemplateEngine::load(TemplateOptions {
            override_dir: None,
            style: MessageStyle::Blocks,
        })
        .unwrap();
        let message = render_judgment_resolution(
            &ResolvedJudgment {
                application: "myapp".into(),
                execution_id: "01H".into(),
                stage_ref_id: "1".into(),
                stage_name: "Approve production".into(),
                pipeline_name: Some("deploy-prod".into()),
                link: "http://deck/#/applications/myapp/executions/details/01H?refId=1".into(),
                decision: Some(Decision::Stop),
                judged_by: Some("jane@example.com".into()),
                slack_user_id: Some("U012AB3CD".into()),
                judgment_input: None,
                decided_at: 1_712_570_715,
                note: None,
            },
            &templates,
        );
        let attachment = &message.attachments.as_ref().unwrap()[0];
        assert_eq!(attachment["color"], STOPPED_COLOR);
        let text = attachment["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            text.contains(
                ":no_entry: *Rejected*: judged to *stop* by <@U012AB3CD> (jane@example.com)"
            ),
            "{text}"
        );
        assert!(
            text.contains("<!date^1712570715^{date_short_pretty} {time}|2024-04-08 10:05 UTC>"),
            "{text}"
        );
        assert!(
            !attachment["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["type"] == "actions")
        );
        assert_eq!(
            message.text,
            "Stage Approve production for myapp's deploy-prod pipeline was judged to stop by jane@example.com"
        );
    }
}
