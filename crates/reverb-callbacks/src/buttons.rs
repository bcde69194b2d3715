//! Reverb's own judgment buttons: what the templates put on a message and how a click on one is
//! recognised.
//!
//! Block Kit buttons carry `action_id` [`ACTION_CONTINUE`] or [`ACTION_STOP`]; legacy attachment
//! buttons carry `callback_id` [`LEGACY_CALLBACK_ID`], action name [`LEGACY_ACTION_NAME`] and the
//! decision inside the value (`"d"`). The value is compact JSON
//! `{"a":"<application>","e":"<executionId>","s":"<stageRefId>"}` plus `"i"` (the judgment input)
//! when the button chooses one.

use serde::{Deserialize, Serialize};

use crate::interaction::{Interaction, InteractionKind};
use crate::resolution::Decision;

pub const ACTION_CONTINUE: &str = "reverb.judgment.continue";
pub const ACTION_STOP: &str = "reverb.judgment.stop";
pub const LEGACY_CALLBACK_ID: &str = "reverb:judgment";
pub const LEGACY_ACTION_NAME: &str = "judgment";

/// The judgment a button is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgmentTarget {
    pub application: String,
    pub execution_id: String,
    pub stage_ref_id: String,
    pub judgment_input: Option<String>,
}

/// A click on one of Reverb's judgment buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgmentClick {
    pub decision: Decision,
    pub target: JudgmentTarget,
}

#[derive(Debug, Serialize, Deserialize)]
struct ButtonValue {
    #[serde(rename = "a")]
    application: String,
    #[serde(rename = "e")]
    execution_id: String,
    #[serde(rename = "s")]
    stage_ref_id: String,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    decision: Option<String>,
}

/// The `value` of a Block Kit judgment button (the decision is in its `action_id`).
pub fn judgment_button_value(target: &JudgmentTarget) -> String {
    encode(target, None)
}

/// The `value` of a legacy attachment judgment button, which carries the decision itself.
pub fn legacy_judgment_button_value(target: &JudgmentTarget, decision: Decision) -> String {
    encode(target, decision.orca_status())
}

fn encode(target: &JudgmentTarget, decision: Option<&str>) -> String {
    let value = ButtonValue {
        application: target.application.clone(),
        execution_id: target.execution_id.clone(),
        stage_ref_id: target.stage_ref_id.clone(),
        input: target.judgment_input.clone(),
        decision: decision.map(str::to_string),
    };
    // Serialising a struct of strings cannot fail.
    serde_json::to_string(&value).unwrap_or_default()
}

/// The store key of a judgment's lock: `judgment:{executionId}:{stageRefId}`.
pub fn judgment_key(execution_id: &str, stage_ref_id: &str) -> String {
    format!("judgment:{execution_id}:{stage_ref_id}")
}

/// The store key of one posted judgment message: `judgment:{executionId}:{stageRefId}@{lane}`.
pub fn judgment_ref_key(execution_id: &str, stage_ref_id: &str, lane: &str) -> String {
    format!("{}@{lane}", judgment_key(execution_id, stage_ref_id))
}

/// How a click is to be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// One of Reverb's judgment buttons.
    Judgment(JudgmentClick),
    /// Looks like Reverb's judgment button but its value cannot be read.
    BadJudgmentButton(String),
    /// Echo's path: relay to `<serviceId>.baseUrl/notifications/callback`.
    EchoCallback {
        service_id: String,
        message_id: String,
    },
    /// Nothing Reverb acts on (e.g. a Block Kit link button of some other message).
    Ignored,
}

/// Decide what a click is.
pub fn route(interaction: &Interaction) -> Route {
    let Some(action) = interaction.action() else {
        return Route::Ignored;
    };
    match interaction.kind {
        InteractionKind::BlockActions => {
            let Some(decision) = action.action_id.as_deref().and_then(decision_of_action_id) else {
                return Route::Ignored;
            };
            match read_value(action.value.as_deref()) {
                Some((target, _)) => Route::Judgment(JudgmentClick { decision, target }),
                None => Route::BadJudgmentButton(
                    "the button's value is not a judgment reference".into(),
                ),
            }
        }
        InteractionKind::InteractiveMessage => {
            let callback_id = interaction.callback_id.as_deref().unwrap_or_default();
            if callback_id == LEGACY_CALLBACK_ID {
                // The decision travels in the value (`"d"`) or in the button's name
                // (`judgment.continue` / `judgment.stop`).
                let named = action.name.as_deref().and_then(decision_of_legacy_name);
                return match read_value(action.value.as_deref()) {
                    Some((target, Some(decision))) => {
                        Route::Judgment(JudgmentClick { decision, target })
                    }
                    Some((target, None)) if named.is_some() => Route::Judgment(JudgmentClick {
                        decision: named.unwrap_or(Decision::Continue),
                        target,
                    }),
                    Some((_, None)) => {
                        Route::BadJudgmentButton("the button's value names no decision".into())
                    }
                    None => Route::BadJudgmentButton(
                        "the button's value is not a judgment reference".into(),
                    ),
                };
            }
            // Echo splits at ':' and ignores segments after the second.
            let mut parts = callback_id.split(':');
            let service_id = parts.next().unwrap_or_default().to_string();
            let message_id = parts.next().unwrap_or_default().to_string();
            Route::EchoCallback {
                service_id,
                message_id,
            }
        }
    }
}

/// The `<serviceId>` an Echo-style callback is relayed to; `None` for Reverb's own buttons and
/// for Block Kit clicks. The server answers 400 synchronously when its base URL is unknown.
pub fn callback_service_id(interaction: &Interaction) -> Option<String> {
    match route(interaction) {
        Route::EchoCallback { service_id, .. } => Some(service_id),
        _ => None,
    }
}

/// `reverb.judgment.continue`, or `reverb.judgment.continue.N` for the approve button of the
/// N-th judgment input (action ids must be unique within a message).
fn decision_of_action_id(action_id: &str) -> Option<Decision> {
    let matches = |base: &str| {
        action_id == base
            || action_id
                .strip_prefix(base)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if matches(ACTION_CONTINUE) {
        Some(Decision::Continue)
    } else if matches(ACTION_STOP) {
        Some(Decision::Stop)
    } else {
        None
    }
}

fn decision_of_legacy_name(name: &str) -> Option<Decision> {
    match name.strip_prefix(LEGACY_ACTION_NAME)?.strip_prefix('.')? {
        "continue" => Some(Decision::Continue),
        "stop" => Some(Decision::Stop),
        _ => None,
    }
}

fn read_value(value: Option<&str>) -> Option<(JudgmentTarget, Option<Decision>)> {
    let parsed: ButtonValue = serde_json::from_str(value?).ok()?;
    if parsed.execution_id.is_empty() || parsed.stage_ref_id.is_empty() {
        return None;
    }
    let decision = parsed
        .decision
        .as_deref()
        .and_then(Decision::from_orca_status);
    let target = JudgmentTarget {
        application: parsed.application,
        execution_id: parsed.execution_id,
        stage_ref_id: parsed.stage_ref_id,
        judgment_input: parsed.input.filter(|i| !i.is_empty()),
    };
    Some((target, decision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_ids_with_an_input_index_keep_their_decision() {
        assert_eq!(
            decision_of_action_id("reverb.judgment.continue"),
            Some(Decision::Continue)
        );
        assert_eq!(
            decision_of_action_id("reverb.judgment.continue.2"),
            Some(Decision::Continue)
        );
        assert_eq!(
            decision_of_action_id("reverb.judgment.stop"),
            Some(Decision::Stop)
        );
        assert_eq!(decision_of_action_id("reverb.judgment.continue."), None);
        assert_eq!(decision_of_action_id("reverb.judgment.continuex"), None);
        assert_eq!(decision_of_action_id("other"), None);
        assert_eq!(
            decision_of_legacy_name("judgment.stop"),
            Some(Decision::Stop)
        );
        assert_eq!(decision_of_legacy_name("judgment"), None);
    }
    use crate::interaction::{InteractionAction, SlackUserRef};
    use serde_json::Value;

    fn target(input: Option<&str>) -> JudgmentTarget {
        JudgmentTarget {
            application: "myapp".into(),
            execution_id: "01HTZ8Q5M3K7V2N9P4R6S8T0WX".into(),
            stage_ref_id: "1".into(),
            judgment_input: input.map(str::to_string),
        }
    }

    fn click(
        kind: InteractionKind,
        callback_id: Option<&str>,
        action: InteractionAction,
    ) -> Interaction {
        Interaction {
            kind,
            callback_id: callback_id.map(str::to_string),
            user: SlackUserRef {
                id: Some("U1".into()),
                name: Some("jane".into()),
            },
            channel_id: Some("C1".into()),
            response_url: None,
            actions: vec![action],
            original_message: None,
            payload: Value::Null,
        }
    }

    #[test]
    fn button_values_are_compact_json() {
        assert_eq!(
            judgment_button_value(&target(None)),
            r#"{"a":"myapp","e":"01HTZ8Q5M3K7V2N9P4R6S8T0WX","s":"1"}"#
        );
        assert_eq!(
            legacy_judgment_button_value(&target(Some("ship")), Decision::Stop),
            r#"{"a":"myapp","e":"01HTZ8Q5M3K7V2N9P4R6S8T0WX","s":"1","i":"ship","d":"stop"}"#
        );
    }

    #[test]
    fn block_kit_buttons_route_by_action_id() {
        let action = InteractionAction {
            action_id: Some(ACTION_STOP.into()),
            kind: "button".into(),
            value: Some(judgment_button_value(&target(Some("hold")))),
            ..Default::default()
        };
        let i = click(InteractionKind::BlockActions, None, action);
        assert_eq!(
            route(&i),
            Route::Judgment(JudgmentClick {
                decision: Decision::Stop,
                target: target(Some("hold"))
            })
        );
        assert_eq!(callback_service_id(&i), None);
    }

    #[test]
    fn foreign_block_kit_buttons_are_ignored() {
        let action = InteractionAction {
            action_id: Some("judgment.continue".into()),
            kind: "button".into(),
            value: Some("<opaque value chosen by the service>".into()),
            ..Default::default()
        };
        assert_eq!(
            route(&click(InteractionKind::BlockActions, None, action)),
            Route::Ignored
        );
    }

    #[test]
    fn our_button_with_unreadable_value_is_reported() {
        let action = InteractionAction {
            action_id: Some(ACTION_CONTINUE.into()),
            kind: "button".into(),
            value: Some("not json".into()),
            ..Default::default()
        };
        assert!(matches!(
            route(&click(InteractionKind::BlockActions, None, action)),
            Route::BadJudgmentButton(_)
        ));
    }

    #[test]
    fn legacy_judgment_buttons_carry_the_decision() {
        let action = InteractionAction {
            name: Some(LEGACY_ACTION_NAME.into()),
            kind: "button".into(),
            value: Some(legacy_judgment_button_value(
                &target(None),
                Decision::Continue,
            )),
            ..Default::default()
        };
        let i = click(
            InteractionKind::InteractiveMessage,
            Some(LEGACY_CALLBACK_ID),
            action,
        );
        assert_eq!(
            route(&i),
            Route::Judgment(JudgmentClick {
                decision: Decision::Continue,
                target: target(None)
            })
        );
        assert_eq!(callback_service_id(&i), None);

        let undecided = InteractionAction {
            kind: "button".into(),
            value: Some(judgment_button_value(&target(None))),
            ..Default::default()
        };
        let i = click(
            InteractionKind::InteractiveMessage,
            Some(LEGACY_CALLBACK_ID),
            undecided,
        );
        assert!(matches!(route(&i), Route::BadJudgmentButton(_)));
    }

    #[test]
    fn other_callback_ids_go_to_their_service() {
        let action = InteractionAction {
            kind: "button".into(),
            ..Default::default()
        };
        let i = click(
            InteractionKind::InteractiveMessage,
            Some("keel:01DYNYK94DE4901K9P802DB4ZT:extra"),
            action,
        );
        assert_eq!(
            route(&i),
            Route::EchoCallback {
                service_id: "keel".into(),
                message_id: "01DYNYK94DE4901K9P802DB4ZT".into()
            }
        );
        assert_eq!(callback_service_id(&i).as_deref(), Some("keel"));
    }

    #[test]
    fn keys_follow_the_store_convention() {
        assert_eq!(judgment_key("E", "1"), "judgment:E:1");
        assert_eq!(
            judgment_ref_key("E", "1", "deploy-approvals"),
            "judgment:E:1@deploy-approvals"
        );
    }
}
