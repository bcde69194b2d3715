//! Reverb's Approve/Reject buttons on Orca manual judgments, and the view that replaces them once
//! the judgment is over. The ids here are the contract with the click handler.

use reverb_model::SlackMessage;
use reverb_templates::{
    Decision, JudgmentButton, JudgmentButtons, LayoutOptions, MessageContent, TemplateEngine,
};
use serde::{Deserialize, Serialize};

/// `block_id` of the Block Kit actions block.
pub const JUDGMENT_BLOCK_ID: &str = "reverb.judgment";
/// `action_id` of the Approve button; with judgment inputs each Approve button gets `.<n>`
/// appended (1-based), because Slack wants action ids unique within a block.
pub const JUDGMENT_CONTINUE_ACTION: &str = "reverb.judgment.continue";
/// `action_id` of the Reject button.
pub const JUDGMENT_STOP_ACTION: &str = "reverb.judgment.stop";
/// Legacy attachments (`attachments` style): `callback_id` of the buttons' attachment(s).
pub const JUDGMENT_CALLBACK_ID: &str = "reverb:judgment";
/// Legacy attachments: the buttons' `name`.
pub const JUDGMENT_BUTTON_NAME: &str = "judgment";
/// An actions block holds at most 25 elements; one is Reject.
const MAX_APPROVE_BUTTONS: usize = 24;

/// Attachment colours of the resolved view (Echo's complete / failed / other colours).
const CONTINUED_COLOR: &str = "#769D3E";
const STOPPED_COLOR: &str = "#B82525";
const UNJUDGED_COLOR: &str = "#CCCCCC";

/// The decision an `action_id` stands for.
pub fn judgment_action_decision(action_id: &str) -> Option<Decision> {
    if action_id == JUDGMENT_STOP_ACTION {
        return Some(Decision::Stop);
    }
    let rest = action_id.strip_prefix(JUDGMENT_CONTINUE_ACTION)?;
    (rest.is_empty()
        || rest
            .strip_prefix('.')
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
    .then_some(Decision::Continue)
}

/// What every judgment button carries in its `value` (compact JSON, keys in this order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgmentButtonValue {
    /// Application.
    pub a: String,
    /// Execution id.
    pub e: String,
    /// Stage `refId`.
    pub s: String,
    /// The judgment input an Approve button selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i: Option<String>,
}

impl JudgmentButtonValue {
    /// `{"a":"…","e":"…","s":"…"}` plus `"i":"…"` when there is an input.
    pub fn to_json(&self) -> String {
        // Serialising plain strings cannot fail; fall back to an empty object all the same.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    pub fn parse(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }
}

/// The identity of a manual-judgment stage.
pub(crate) struct JudgmentStage<'a> {
    pub application: &'a str,
    pub execution_id: &'a str,
    pub stage_ref_id: &'a str,
    pub stage_name: &'a str,
    pub pipeline_name: Option<&'a str>,
}

/// Approve (one per judgment input when there are inputs) and Reject.
pub(crate) fn judgment_buttons(stage: &JudgmentStage<'_>, inputs: &[String]) -> JudgmentButtons {
    let value = |input: Option<&str>| {
        JudgmentButtonValue {
            a: stage.application.to_string(),
            e: stage.execution_id.to_string(),
            s: stage.stage_ref_id.to_string(),
            i: input.map(str::to_string),
        }
        .to_json()
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
            action_id: JUDGMENT_CONTINUE_ACTION.to_string(),
            value: value(None),
        }]
    } else {
        inputs
            .iter()
            .take(MAX_APPROVE_BUTTONS)
            .enumerate()
            .map(|(index, input)| JudgmentButton {
                decision: Decision::Continue,
                input: Some(input.clone()),
                action_id: format!("{JUDGMENT_CONTINUE_ACTION}.{}", index + 1),
                value: value(Some(input)),
            })
            .collect()
    };
    buttons.push(JudgmentButton {
        decision: Decision::Stop,
        input: None,
        action_id: JUDGMENT_STOP_ACTION.to_string(),
        value: value(None),
    });
    JudgmentButtons {
        block_id: JUDGMENT_BLOCK_ID.to_string(),
        callback_id: JUDGMENT_CALLBACK_ID.to_string(),
        name: JUDGMENT_BUTTON_NAME.to_string(),
        stage_name: stage.stage_name.to_string(),
        pipeline_name: stage.pipeline_name.map(str::to_string),
        buttons,
    }
}

/// Everything the resolved view shows: the templates' own view type, so there is one
/// definition of what a resolved judgment carries.
pub use reverb_templates::ResolvedView as JudgmentResolution;

/// The message that replaces a manual-judgment message once it is decided: no buttons; the
/// decision, who (Slack mention and Spinnaker identity), the chosen option and the time.
pub fn render_judgment_resolution(
    r: &JudgmentResolution,
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
    fn button_values_are_compact_json_in_order() {
        let value = JudgmentButtonValue {
            a: "myapp".into(),
            e: "01H".into(),
            s: "1".into(),
            i: None,
        };
        assert_eq!(value.to_json(), r#"{"a":"myapp","e":"01H","s":"1"}"#);
        let with_input = JudgmentButtonValue {
            i: Some("ship \"it\"".into()),
            ..value
        };
        assert_eq!(
            with_input.to_json(),
            r#"{"a":"myapp","e":"01H","s":"1","i":"ship \"it\""}"#
        );
        assert_eq!(
            JudgmentButtonValue::parse(&with_input.to_json()),
            Some(with_input)
        );
        assert_eq!(JudgmentButtonValue::parse("nope"), None);
    }

    #[test]
    fn action_ids_map_to_decisions() {
        assert_eq!(
            judgment_action_decision("reverb.judgment.continue"),
            Some(Decision::Continue)
        );
        assert_eq!(
            judgment_action_decision("reverb.judgment.continue.12"),
            Some(Decision::Continue)
        );
        assert_eq!(
            judgment_action_decision("reverb.judgment.stop"),
            Some(Decision::Stop)
        );
        assert_eq!(judgment_action_decision("reverb.judgment.continuex"), None);
        assert_eq!(judgment_action_decision("keel"), None);
    }

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
        let buttons = judgment_buttons(&stage, &inputs);
        assert_eq!(buttons.buttons.len(), 25);
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
            &JudgmentResolution {
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
