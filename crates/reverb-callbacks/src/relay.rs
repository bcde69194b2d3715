//! Echo's interactive path, kept for Keel (and Orca forks with callback support): relay the click
//! to `<serviceId>.baseUrl/notifications/callback`, then rewrite the message through its
//! `response_url` the way Echo does.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reverb_model::{ButtonAction, InteractiveActionCallback, SlackMessage};
use serde_json::Value;

use crate::handler::{ClickOutcome, Inner, ReplyTo};
use crate::identity;
use crate::interaction::Interaction;
use crate::orca::SPINNAKER_USER_HEADER;
use crate::peer::{retry_while_unreachable, send};
use crate::replies;

pub(crate) async fn relay(
    h: &Inner,
    interaction: &Interaction,
    service_id: &str,
    message_id: &str,
) -> ClickOutcome {
    let reply = ReplyTo::of(interaction);
    let Some(base_url) = (h.settings.service_base_url)(service_id) else {
        tracing::error!(
            key = %format!("{service_id}.baseUrl"),
            "Base URL for service {service_id} not found in the configuration."
        );
        h.tell(&reply, replies::service_not_configured(service_id))
            .await;
        return ClickOutcome::RelayFailed;
    };
    let Some(action) = interaction.action() else {
        return ClickOutcome::Ignored;
    };
    // Echo falls back to the Slack username when users.info fails; Reverb relays only a
    // verified identity (docs/compatibility.md).
    let user = match identity::clicker(&h.slack, &h.workspace, &h.settings.identity, interaction)
        .await
    {
        Ok(clicker) => Some(clicker.spinnaker_user),
        Err(why) => {
            tracing::warn!(service = service_id, reason = ?why, "no Spinnaker identity for the clicker; not relaying");
            h.tell(&reply, replies::no_identity(&why)).await;
            return ClickOutcome::NoIdentity;
        }
    };
    let callback = InteractiveActionCallback {
        action_performed: ButtonAction {
            kind: "button".into(),
            name: action.name.clone(),
            value: action.value.clone(),
            label: action.text.clone(),
        },
        service_id: service_id.to_string(),
        message_id: message_id.to_string(),
        user,
    };
    let body = match serde_json::to_string(&callback) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the callback");
            return ClickOutcome::RelayFailed;
        }
    };
    let url = format!("{}/notifications/callback", base_url.trim_end_matches('/'));
    let delivered = retry_while_unreachable(service_id, h.settings.orca_retry_for, || {
        let mut request = h
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .timeout(h.settings.request_timeout)
            .body(body.clone());
        if let Some(user) = &callback.user {
            request = request.header(SPINNAKER_USER_HEADER, user);
        }
        send(request)
    })
    .await;
    match delivered {
        Ok(answer) => tracing::info!(service = service_id, answer = %answer, "callback delivered"),
        Err(failure) => {
            // As in Echo, the message is left as it is when the service did not take the action.
            tracing::warn!(service = service_id, error = %failure, "callback not delivered");
            h.tell(&reply, replies::service_refused(service_id, &failure))
                .await;
            return ClickOutcome::RelayFailed;
        }
    }
    match (
        echo_response_message(interaction),
        interaction.response_url.as_deref(),
    ) {
        (Some(message), Some(url)) => {
            h.send(vec![replies::via_response_url(
                reverb_model::MessageKind::CallbackResponse,
                url,
                message,
            )])
            .await;
        }
        _ => {
            tracing::warn!("cannot update the clicked message: no original message or response_url")
        }
    }
    ClickOutcome::Relayed
}

/// Echo's rewrite of the clicked message: the original without the first attachment's buttons,
/// and `"\n\nUser <@{user id}> clicked the *{button text}* action."` appended to its text.
pub(crate) fn echo_response_message(interaction: &Interaction) -> Option<SlackMessage> {
    let original = interaction.original_message.as_ref()?;
    let clicked = interaction.action()?;
    let mut attachments = original.get("attachments")?.as_array()?.clone();
    let first = attachments.first_mut()?.as_object_mut()?;
    let label = first
        .get("actions")
        .and_then(Value::as_array)
        .and_then(|actions| {
            actions.iter().find(|a| {
                a.get("type").and_then(Value::as_str) == Some(clicked.kind.as_str())
                    && a.get("value").and_then(Value::as_str) == clicked.value.as_deref()
            })
        })
        .and_then(|a| a.get("text").and_then(Value::as_str))
        .map(str::to_string)
        .or_else(|| clicked.text.clone())
        .or_else(|| clicked.value.clone())
        .unwrap_or_default();
    first.remove("actions");
    let text = first
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user_id = interaction.user.id.as_deref().unwrap_or_default();
    let appended = format!("{text}\n\nUser <@{user_id}> clicked the *{label}* action.");
    first.insert("text".into(), Value::String(appended));
    Some(SlackMessage {
        text: original
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        blocks: original.get("blocks").and_then(Value::as_array).cloned(),
        attachments: Some(attachments),
        link_names: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERACTIVE: &str = include_str!("../tests/fixtures/callback-interactive-message.json");

    #[test]
    fn rewrites_the_message_like_echo() {
        let interaction =
            Interaction::from_payload(serde_json::from_str(INTERACTIVE).unwrap()).unwrap();
        let message = echo_response_message(&interaction).unwrap();
        let attachments = message.attachments.unwrap();
        assert_eq!(attachments.len(), 1);
        let first = &attachments[0];
        assert!(first.get("actions").is_none());
        assert_eq!(
            first["text"],
            "Manual approval required to deploy *myapp*\n\nUser <@USJ9YG2DT> clicked the *Approve* action."
        );
        assert_eq!(first["title"], "Manual artifact promotion approval");
        assert_eq!(first["color"], "fcba03");
        assert_eq!(message.text, "");
        assert_eq!(message.blocks, None);
    }

    #[test]
    fn the_label_follows_the_clicked_value() {
        let mut payload: Value = serde_json::from_str(INTERACTIVE).unwrap();
        payload["actions"][0]["value"] = "OVERRIDE_FAIL".into();
        let interaction = Interaction::from_payload(payload).unwrap();
        let message = echo_response_message(&interaction).unwrap();
        let text = message.attachments.unwrap()[0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.ends_with("clicked the *Reject* action."), "{text}");
    }

    #[test]
    fn no_original_message_means_no_rewrite() {
        let mut payload: Value = serde_json::from_str(INTERACTIVE).unwrap();
        payload.as_object_mut().unwrap().remove("original_message");
        let interaction = Interaction::from_payload(payload).unwrap();
        assert_eq!(echo_response_message(&interaction), None);
    }
}
