//! How a click is recognised: one of Reverb's judgment buttons (its value verified with the
//! installation's key, see `reverb_model::judgment`), an Echo-style callback for another
//! service, or nothing Reverb acts on.

use reverb_model::judgment::{
    ButtonKey, ButtonRef, Decision as ButtonDecision, LEGACY_ACTION_NAME, LEGACY_CALLBACK_ID,
};
use serde_json::Value;

use crate::interaction::{Interaction, InteractionKind};
use crate::resolution::Decision;

/// The message a click came from, as Slack's signed payload names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickedMessage {
    pub channel_id: String,
    pub ts: String,
}

/// A click on one of Reverb's judgment buttons, its value verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgmentClick {
    pub decision: Decision,
    pub reference: ButtonRef,
    /// `None` when the payload does not say which message carried the button.
    pub message: Option<ClickedMessage>,
}

/// How a click is to be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// One of Reverb's judgment buttons.
    Judgment(JudgmentClick),
    /// Looks like Reverb's judgment button but its value was not minted by this Reverb.
    BadJudgmentButton(String),
    /// Echo's path: relay to `<serviceId>.baseUrl/notifications/callback`.
    EchoCallback {
        service_id: String,
        message_id: String,
    },
    /// Nothing Reverb acts on (e.g. a Block Kit link button of some other message).
    Ignored,
}

/// Decide what a click is; judgment button values are checked against `key`.
pub fn route(interaction: &Interaction, key: &ButtonKey) -> Route {
    let Some(action) = interaction.action() else {
        return Route::Ignored;
    };
    let value = action.value.as_deref().unwrap_or_default();
    match interaction.kind {
        InteractionKind::BlockActions => {
            let Some(named) = action
                .action_id
                .as_deref()
                .and_then(ButtonDecision::of_action_id)
            else {
                return Route::Ignored;
            };
            judgment(interaction, value, key, Some(named))
        }
        InteractionKind::InteractiveMessage => {
            let callback_id = interaction.callback_id.as_deref().unwrap_or_default();
            if callback_id == LEGACY_CALLBACK_ID {
                let named = action.name.as_deref().and_then(decision_of_legacy_name);
                return judgment(interaction, value, key, named);
            }
            let (service_id, message_id) = echo_route(callback_id);
            Route::EchoCallback {
                service_id,
                message_id,
            }
        }
    }
}

fn judgment(
    interaction: &Interaction,
    value: &str,
    key: &ButtonKey,
    named: Option<ButtonDecision>,
) -> Route {
    match ButtonRef::verify(value, key) {
        // The action id (or legacy name) and the value must tell the same decision.
        Ok(reference) if named.is_none_or(|d| d == reference.decision) => {
            Route::Judgment(JudgmentClick {
                decision: reference.decision,
                reference,
                message: clicked_message(interaction),
            })
        }
        Ok(_) => Route::BadJudgmentButton("the button's action and value disagree".into()),
        Err(why) => Route::BadJudgmentButton(why.to_string()),
    }
}

/// `<serviceId>:<messageId>`: Echo splits at ':' and ignores segments after the second.
fn echo_route(callback_id: &str) -> (String, String) {
    let mut parts = callback_id.split(':');
    let service_id = parts.next().unwrap_or_default().to_string();
    let message_id = parts.next().unwrap_or_default().to_string();
    (service_id, message_id)
}

/// The `<serviceId>` an Echo-style callback is relayed to; `None` for Reverb's own buttons and
/// for Block Kit clicks (the same service [`route`] names). The accept step refuses a click whose
/// service has no configured base URL.
pub fn callback_service_id(interaction: &Interaction) -> Option<String> {
    if interaction.kind != InteractionKind::InteractiveMessage {
        return None;
    }
    let callback_id = interaction.callback_id.as_deref().unwrap_or_default();
    (callback_id != LEGACY_CALLBACK_ID).then(|| echo_route(callback_id).0)
}

fn decision_of_legacy_name(name: &str) -> Option<ButtonDecision> {
    match name.strip_prefix(LEGACY_ACTION_NAME)?.strip_prefix('.')? {
        "continue" => Some(ButtonDecision::Continue),
        "stop" => Some(ButtonDecision::Stop),
        _ => None,
    }
}

/// Block Kit: `container.channel_id` + `container.message_ts` (else `channel.id` +
/// `message.ts`); legacy: `channel.id` + `message_ts` (else `original_message.ts`).
fn clicked_message(interaction: &Interaction) -> Option<ClickedMessage> {
    let p = &interaction.payload;
    let text = |pointer: &str| {
        p.pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (channel, ts) = match interaction.kind {
        InteractionKind::BlockActions => (
            text("/container/channel_id").or_else(|| text("/channel/id")),
            text("/container/message_ts").or_else(|| text("/message/ts")),
        ),
        InteractionKind::InteractiveMessage => (
            text("/channel/id"),
            text("/message_ts").or_else(|| text("/original_message/ts")),
        ),
    };
    Some(ClickedMessage {
        channel_id: channel?,
        ts: ts?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interaction::{InteractionAction, SlackUserRef};
    use reverb_model::judgment::{ACTION_CONTINUE, ACTION_STOP, InputChoice};
    use serde_json::json;

    fn key() -> ButtonKey {
        ButtonKey::from_bytes(&[5; ButtonKey::LEN])
    }

    fn reference(decision: ButtonDecision, input: Option<&str>) -> ButtonRef {
        ButtonRef {
            decision,
            application: "myapp".into(),
            execution_id: "01HTZ8Q5M3K7V2N9P4R6S8T0WX".into(),
            stage_ref_id: "1".into(),
            input: input.map(|text| InputChoice::new(1, text)),
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
            payload: json!({
                "container": {"channel_id": "C1", "message_ts": "1.000100"},
                "channel": {"id": "C1"}, "message_ts": "1.000100"
            }),
        }
    }

    fn block(action_id: &str, value: String) -> Interaction {
        click(
            InteractionKind::BlockActions,
            None,
            InteractionAction {
                action_id: Some(action_id.into()),
                kind: "button".into(),
                value: Some(value),
                ..Default::default()
            },
        )
    }

    #[test]
    fn a_minted_block_kit_button_routes_with_its_message() {
        let r = reference(ButtonDecision::Stop, None);
        let i = block(ACTION_STOP, r.mint(&key()));
        assert_eq!(
            route(&i, &key()),
            Route::Judgment(JudgmentClick {
                decision: Decision::Stop,
                reference: r,
                message: Some(ClickedMessage {
                    channel_id: "C1".into(),
                    ts: "1.000100".into()
                }),
            })
        );
        assert_eq!(callback_service_id(&i), None);
    }

    #[test]
    fn values_not_minted_here_are_refused() {
        // The old, unauthenticated JSON value; a value minted with another key; a Reject
        // value under an Approve action id.
        let forged = [
            block(
                ACTION_CONTINUE,
                r#"{"a":"payments","e":"E","s":"1"}"#.to_string(),
            ),
            block(
                ACTION_CONTINUE,
                reference(ButtonDecision::Continue, None).mint(&ButtonKey::from_bytes(&[6; 32])),
            ),
            block(
                ACTION_CONTINUE,
                reference(ButtonDecision::Stop, None).mint(&key()),
            ),
        ];
        for i in forged {
            assert!(
                matches!(route(&i, &key()), Route::BadJudgmentButton(_)),
                "{i:?}"
            );
        }
    }

    #[test]
    fn foreign_block_kit_buttons_are_ignored() {
        let i = block("judgment.continue", "<opaque value>".into());
        assert_eq!(route(&i, &key()), Route::Ignored);
    }

    #[test]
    fn legacy_judgment_buttons_carry_the_decision_in_their_value() {
        let r = reference(ButtonDecision::Continue, Some("ship"));
        let action = InteractionAction {
            name: Some("judgment.continue".into()),
            kind: "button".into(),
            value: Some(r.mint(&key())),
            ..Default::default()
        };
        let i = click(
            InteractionKind::InteractiveMessage,
            Some(LEGACY_CALLBACK_ID),
            action,
        );
        assert!(matches!(route(&i, &key()), Route::Judgment(c) if c.reference == r));
        assert_eq!(callback_service_id(&i), None);
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
            route(&i, &key()),
            Route::EchoCallback {
                service_id: "keel".into(),
                message_id: "01DYNYK94DE4901K9P802DB4ZT".into()
            }
        );
        assert_eq!(callback_service_id(&i).as_deref(), Some("keel"));
    }
}
