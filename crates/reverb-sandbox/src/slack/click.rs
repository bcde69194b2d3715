//! Button clicks, built and signed exactly as Slack sends them to an app's Interactivity URL:
//! `block_actions` for Block Kit elements, `interactive_message` for legacy attachment buttons.

use std::time::Instant;

use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use serde_json::{Map, Value, json};

use super::model::{SlackStoredMessage, SlackUser};
use super::state::{ResponseUrl, SlackState};
use super::{APP_ID, TEAM_DOMAIN, TEAM_ID, VERIFICATION_TOKEN};
use crate::error::SandboxError;
use crate::ids::{format_ts, now_micros, now_secs, random_hex};
use crate::signing::{sign, slack_form_encode, slack_json};

/// Where Slack's `response_url`s point.
const RESPONSE_URL_ORIGIN: &str = "https://hooks.slack.com";

const SLACK_USER_AGENT: &str = "Slackbot 1.0 (+https://api.slack.com/robots)";

/// A click to simulate. `action` names the element: a Block Kit `action_id`, else a button's
/// `value`, else its label, else a legacy action's `name` (first match in that order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickRequest {
    /// Channel id, `#name`, `name`, or a user id for the bot's DM with them.
    pub channel: String,
    pub ts: String,
    pub action: String,
    /// Slack user id of the clicker (e.g. `U0JANE0001`).
    pub user: String,
    /// For a menu: the option chosen. For a button: an option chosen beforehand in a menu of the
    /// same message (it appears in `state.values`).
    pub selected_option: Option<String>,
    /// Override `X-Slack-Request-Timestamp` (e.g. a stale one); default: now.
    pub timestamp: Option<i64>,
    /// Sign with another secret (to provoke a signature failure); default: the configured one.
    pub signing_secret: Option<String>,
    /// The payload's `team.id` (the workspace the click happened in); default [`TEAM_ID`].
    /// `user.team_id` stays the clicker's own team.
    pub team_id: Option<String>,
    /// The clicked button's `value` in the payload, instead of the one on the message.
    pub value: Option<String>,
    /// `(channel, ts)` to put in the payload (`container`, `channel`, `message.ts`; legacy:
    /// `channel`, `message_ts`, `original_message.ts`) instead of the message the button was
    /// looked up on: a click bound to another message. The channel is an id or a name; an
    /// unknown one is sent as given.
    pub claimed_message: Option<(String, String)>,
}

impl ClickRequest {
    pub fn new(
        channel: impl Into<String>,
        ts: impl Into<String>,
        action: impl Into<String>,
        user: impl Into<String>,
    ) -> Self {
        Self {
            channel: channel.into(),
            ts: ts.into(),
            action: action.into(),
            user: user.into(),
            selected_option: None,
            timestamp: None,
            signing_secret: None,
            team_id: None,
            value: None,
            claimed_message: None,
        }
    }

    #[must_use]
    pub fn with_option(mut self, value: impl Into<String>) -> Self {
        self.selected_option = Some(value.into());
        self
    }

    #[must_use]
    pub fn at_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    #[must_use]
    pub fn signed_with(mut self, secret: impl Into<String>) -> Self {
        self.signing_secret = Some(secret.into());
        self
    }

    /// Claims the click came from another workspace (`team.id`), e.g. `"T0EVIL0001"`.
    #[must_use]
    pub fn from_team(mut self, team_id: impl Into<String>) -> Self {
        self.team_id = Some(team_id.into());
        self
    }

    /// Sends this button `value` instead of the message's (a forged value).
    #[must_use]
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Finds the button on `self.channel`/`self.ts` but names `channel`/`ts` in the payload.
    #[must_use]
    pub fn claiming_message(mut self, channel: impl Into<String>, ts: impl Into<String>) -> Self {
        self.claimed_message = Some((channel.into(), ts.into()));
        self
    }
}

/// A ready-to-send interactivity request.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedInteraction {
    /// The configured Interactivity URL, if any.
    pub url: Option<String>,
    /// The decoded `payload` document.
    pub payload: Value,
    /// The exact form body: `payload=` + the URL-encoded JSON.
    pub body: String,
    /// `X-Slack-Request-Timestamp`.
    pub timestamp: i64,
    /// `X-Slack-Signature`.
    pub signature: String,
    pub response_url: String,
}

/// The element a click lands on.
enum Target {
    Block {
        block_id: String,
        element: Value,
        /// Set when the block sits inside an attachment (Block Kit in a coloured attachment).
        attachment: Option<usize>,
    },
    Attachment {
        index: usize,
        callback_id: Value,
        action: Value,
    },
}

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// Buttons and menus of a message, in display order: the message's blocks, then per attachment
/// its blocks and its legacy actions.
fn targets(message: &SlackStoredMessage) -> Vec<Target> {
    let mut found = Vec::new();
    block_targets(message.blocks.as_ref(), None, &mut found);
    for (index, attachment) in message
        .attachments
        .iter()
        .flat_map(|attachments| attachments.as_array().into_iter().flatten())
        .enumerate()
    {
        block_targets(attachment.get("blocks"), Some(index), &mut found);
        for action in attachment
            .get("actions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            found.push(Target::Attachment {
                index,
                callback_id: attachment
                    .get("callback_id")
                    .cloned()
                    .unwrap_or(Value::Null),
                action: action.clone(),
            });
        }
    }
    found
}

fn block_targets(blocks: Option<&Value>, attachment: Option<usize>, found: &mut Vec<Target>) {
    for (index, block) in blocks
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        // Slack invents a block_id when the app gave none.
        let block_id = str_field(block, "block_id").map_or_else(
            || match attachment {
                Some(attachment) => format!("sandbox-block-{attachment}-{index}"),
                None => format!("sandbox-block-{index}"),
            },
            str::to_owned,
        );
        let elements: Vec<&Value> = match str_field(block, "type") {
            Some("actions") => block
                .get("elements")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect(),
            Some("section") => block.get("accessory").into_iter().collect(),
            _ => Vec::new(),
        };
        for element in elements {
            if matches!(str_field(element, "type"), Some("button" | "static_select")) {
                found.push(Target::Block {
                    block_id: block_id.clone(),
                    element: element.clone(),
                    attachment,
                });
            }
        }
    }
}

fn label(target: &Target) -> Option<&str> {
    match target {
        Target::Block { element, .. } => {
            element.get("text").and_then(|text| str_field(text, "text"))
        }
        Target::Attachment { action, .. } => str_field(action, "text"),
    }
}

fn find_target(message: &SlackStoredMessage, wanted: &str) -> Option<Target> {
    let candidates = targets(message);
    let matchers: [&dyn Fn(&Target) -> bool; 4] = [
        &|target| matches!(target, Target::Block { element, .. } if str_field(element, "action_id") == Some(wanted)),
        &|target| match target {
            Target::Block { element, .. } => str_field(element, "value") == Some(wanted),
            Target::Attachment { action, .. } => str_field(action, "value") == Some(wanted),
        },
        &|target| label(target) == Some(wanted),
        &|target| matches!(target, Target::Attachment { action, .. } if str_field(action, "name") == Some(wanted)),
    ];
    let position = matchers
        .iter()
        .find_map(|matches| candidates.iter().position(matches))?;
    candidates.into_iter().nth(position)
}

/// The `action` string that makes a click land on `element` (a Block Kit element or a legacy
/// attachment action of `message`, as stored): the first of its `action_id`, `value`, label and
/// `name` that [`find_target`] resolves to it. `None` when no such string singles it out.
pub(crate) fn selector_for(message: &SlackStoredMessage, element: &Value) -> Option<String> {
    let label = element.get("text").and_then(|text| match text {
        Value::String(label) => Some(label.as_str()),
        other => str_field(other, "text"),
    });
    let candidates = [
        str_field(element, "action_id"),
        str_field(element, "value"),
        label,
        str_field(element, "name"),
    ];
    candidates.into_iter().flatten().find_map(|candidate| {
        let lands_on = match find_target(message, candidate)? {
            Target::Block { element: found, .. } => found,
            Target::Attachment { action, .. } => action,
        };
        (&lands_on == element).then(|| candidate.to_owned())
    })
}

fn option_with_value<'a>(element: &'a Value, value: &str) -> Option<&'a Value> {
    element
        .get("options")?
        .as_array()?
        .iter()
        .find(|option| str_field(option, "value") == Some(value))
}

/// `state.values` for every menu of the message. A clicked menu holds the chosen option; when
/// a button is clicked, the option goes to the first menu offering it (chosen beforehand).
fn block_state(
    message: &SlackStoredMessage,
    clicked: &Target,
    request: &ClickRequest,
) -> Result<Value, SandboxError> {
    let clicked_menu = match clicked {
        Target::Block { element, .. } if str_field(element, "type") == Some("static_select") => {
            Some(element)
        }
        _ => None,
    };
    let mut values: Map<String, Value> = Map::new();
    let mut option_placed = false;
    for target in targets(message) {
        let Target::Block {
            block_id, element, ..
        } = &target
        else {
            continue;
        };
        if str_field(element, "type") != Some("static_select") {
            continue;
        }
        let takes_option = match clicked_menu {
            Some(menu) => menu == element,
            None => !option_placed,
        };
        let chosen = request
            .selected_option
            .as_deref()
            .filter(|_| takes_option)
            .and_then(|wanted| option_with_value(element, wanted));
        option_placed |= chosen.is_some();
        let selected = chosen
            .or_else(|| element.get("initial_option"))
            .cloned()
            .unwrap_or(Value::Null);
        let action_id = str_field(element, "action_id")
            .unwrap_or_default()
            .to_owned();
        let entry = values.entry(block_id.clone()).or_insert_with(|| json!({}));
        if let Some(map) = entry.as_object_mut() {
            map.insert(
                action_id,
                json!({"type": "static_select", "selected_option": selected}),
            );
        }
    }
    if let Some(wanted) = &request.selected_option
        && clicked_menu.is_none()
        && !option_placed
    {
        return Err(SandboxError::OptionNotFound {
            action: request.action.clone(),
            option: wanted.clone(),
        });
    }
    Ok(json!({"values": values}))
}

fn block_action(
    block_id: &str,
    element: &Value,
    request: &ClickRequest,
    action_ts: &str,
) -> Result<Value, SandboxError> {
    let action_id = str_field(element, "action_id").unwrap_or_default();
    let kind = str_field(element, "type").unwrap_or("button");
    let mut action =
        json!({"action_id": action_id, "block_id": block_id, "type": kind, "action_ts": action_ts});
    let Some(map) = action.as_object_mut() else {
        return Ok(action);
    };
    if kind == "static_select" {
        let wanted = request
            .selected_option
            .as_deref()
            .ok_or_else(|| SandboxError::OptionRequired(request.action.clone()))?;
        let option =
            option_with_value(element, wanted).ok_or_else(|| SandboxError::OptionNotFound {
                action: request.action.clone(),
                option: wanted.to_owned(),
            })?;
        map.insert("selected_option".into(), option.clone());
        if let Some(placeholder) = element.get("placeholder") {
            map.insert("placeholder".into(), placeholder.clone());
        }
    } else {
        for key in ["text", "value", "style", "url"] {
            if let Some(value) = element.get(key) {
                map.insert(key.into(), value.clone());
            }
        }
        if let Some(value) = &request.value {
            map.insert("value".into(), json!(value));
        }
    }
    Ok(action)
}

struct Context<'a> {
    /// Where the payload says the click happened (the claimed message, if any).
    channel_id: &'a str,
    channel_name: &'a str,
    message_ts: &'a str,
    /// The message the button was found on.
    message: &'a SlackStoredMessage,
    user: &'a SlackUser,
    team_id: &'a str,
    response_url: &'a str,
    action_ts: &'a str,
    trigger_id: &'a str,
}

impl Context<'_> {
    /// The message as the payload shows it: the stored one, under the claimed `ts`.
    fn message_json(&self) -> Value {
        let mut message = self.message.to_slack_json();
        if let Some(map) = message.as_object_mut() {
            map.insert("ts".into(), json!(self.message_ts));
        }
        message
    }
}

fn block_actions_payload(
    context: &Context<'_>,
    target: &Target,
    request: &ClickRequest,
) -> Result<Value, SandboxError> {
    let Target::Block {
        block_id,
        element,
        attachment,
    } = target
    else {
        return Err(SandboxError::ActionNotFound {
            ts: request.ts.clone(),
            action: request.action.clone(),
        });
    };
    let mut container = match attachment {
        // Blocks inside an attachment: Slack names the container and the 1-based attachment.
        Some(index) => json!({
            "type": "message_attachment",
            "message_ts": context.message_ts,
            "attachment_id": index + 1,
            "channel_id": context.channel_id,
            "is_ephemeral": false,
            "is_app_unfurl": false,
        }),
        None => json!({
            "type": "message",
            "message_ts": context.message_ts,
            "channel_id": context.channel_id,
            "is_ephemeral": false,
        }),
    };
    if let (Some(thread_ts), Some(map)) = (&context.message.thread_ts, container.as_object_mut()) {
        map.insert("thread_ts".into(), json!(thread_ts));
    }
    Ok(json!({
        "type": "block_actions",
        "user": {"id": context.user.id, "username": context.user.name, "name": context.user.name, "team_id": context.user.team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": context.trigger_id,
        "team": {"id": context.team_id, "domain": TEAM_DOMAIN},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": context.channel_id, "name": context.channel_name},
        "message": context.message_json(),
        "state": block_state(context.message, target, request)?,
        "response_url": context.response_url,
        "actions": [block_action(block_id, element, request, context.action_ts)?],
    }))
}

fn interactive_message_payload(
    context: &Context<'_>,
    target: &Target,
    request: &ClickRequest,
) -> Result<Value, SandboxError> {
    let Target::Attachment {
        index,
        callback_id,
        action,
    } = target
    else {
        return Err(SandboxError::ActionNotFound {
            ts: request.ts.clone(),
            action: request.action.clone(),
        });
    };
    let kind = str_field(action, "type").unwrap_or("button");
    let mut clicked = json!({"name": str_field(action, "name"), "type": kind});
    if let Some(map) = clicked.as_object_mut() {
        if kind == "select" {
            let wanted = request
                .selected_option
                .as_deref()
                .ok_or_else(|| SandboxError::OptionRequired(request.action.clone()))?;
            map.insert("selected_options".into(), json!([{"value": wanted}]));
        } else {
            let value = match &request.value {
                Some(value) => json!(value),
                None => action.get("value").cloned().unwrap_or(Value::Null),
            };
            map.insert("value".into(), value);
        }
    }
    let mut original = context.message_json();
    if let Some(map) = original.as_object_mut() {
        map.insert("subtype".into(), json!("bot_message"));
    }
    Ok(json!({
        "type": "interactive_message",
        "actions": [clicked],
        "callback_id": callback_id,
        "team": {"id": context.team_id, "domain": TEAM_DOMAIN},
        "channel": {"id": context.channel_id, "name": context.channel_name},
        "user": {"id": context.user.id, "name": context.user.name},
        "action_ts": context.action_ts,
        "message_ts": context.message_ts,
        "attachment_id": (index + 1).to_string(),
        "token": VERIFICATION_TOKEN,
        "is_app_unfurl": false,
        "enterprise": null,
        "is_enterprise_install": false,
        "original_message": original,
        "response_url": context.response_url,
        "trigger_id": context.trigger_id,
    }))
}

/// Builds and signs the request; registers its `response_url` with the fake.
pub(crate) fn build(
    state: &SlackState,
    request: &ClickRequest,
) -> Result<SignedInteraction, SandboxError> {
    let mut data = state.data();
    let index = data
        .find_channel(&request.channel)
        .ok_or_else(|| SandboxError::ChannelNotFound(request.channel.clone()))?;
    let channel = data.channels[index].info.clone();
    let message = data.channels[index]
        .messages
        .iter()
        .find(|message| message.ts == request.ts)
        .cloned()
        .ok_or_else(|| SandboxError::MessageNotFound {
            channel: request.channel.clone(),
            ts: request.ts.clone(),
        })?;
    let user = data
        .user(&request.user)
        .cloned()
        .ok_or_else(|| SandboxError::UserNotFound(request.user.clone()))?;
    let target =
        find_target(&message, &request.action).ok_or_else(|| SandboxError::ActionNotFound {
            ts: request.ts.clone(),
            action: request.action.clone(),
        })?;
    let (claimed_id, claimed_name, claimed_ts) = match &request.claimed_message {
        None => (channel.id.clone(), channel.name.clone(), message.ts.clone()),
        Some((reference, ts)) => match data.find_channel(reference) {
            Some(index) => {
                let info = &data.channels[index].info;
                (info.id.clone(), info.name.clone(), ts.clone())
            }
            None => {
                let raw = reference.trim().trim_start_matches('#').to_owned();
                (raw.clone(), raw, ts.clone())
            }
        },
    };

    let micros = now_micros();
    let key = format!("{TEAM_ID}/{micros}/{}", random_hex(12));
    // Written as Slack writes it (an https URL on hooks.slack.com); a client reaches this fake
    // by putting the path on the fake's base, as Reverb does with `reverb.slack.responseUrlBase`.
    let response_url = format!("{RESPONSE_URL_ORIGIN}/actions/{key}");
    let action_ts = format_ts(micros);
    let trigger_id = format!(
        "{}.{}.{}",
        micros / 1000,
        micros % 1_000_000_000,
        random_hex(16)
    );
    let context = Context {
        channel_id: &claimed_id,
        channel_name: &claimed_name,
        message_ts: &claimed_ts,
        message: &message,
        user: &user,
        team_id: request.team_id.as_deref().unwrap_or(TEAM_ID),
        response_url: &response_url,
        action_ts: &action_ts,
        trigger_id: &trigger_id,
    };
    let legacy = matches!(target, Target::Attachment { .. });
    let payload = if legacy {
        interactive_message_payload(&context, &target, request)?
    } else {
        block_actions_payload(&context, &target, request)?
    };
    data.response_urls.insert(
        key,
        ResponseUrl {
            channel: channel.id.clone(),
            message_ts: message.ts.clone(),
            user: user.id.clone(),
            legacy,
            issued: Instant::now(),
            uses: 0,
        },
    );
    let url = data.interactivity_url.clone();
    drop(data);

    let body = format!("payload={}", slack_form_encode(&slack_json(&payload)));
    let timestamp = request.timestamp.unwrap_or_else(now_secs);
    let secret = request
        .signing_secret
        .as_deref()
        .unwrap_or(state.signing_secret());
    let signature = sign(secret, timestamp, body.as_bytes());
    Ok(SignedInteraction {
        url,
        payload,
        body,
        timestamp,
        signature,
        response_url,
    })
}

/// POSTs a built interaction to the Interactivity URL.
pub(crate) async fn send(
    state: &SlackState,
    interaction: SignedInteraction,
) -> Result<reqwest::Response, SandboxError> {
    let url = interaction.url.ok_or(SandboxError::NoInteractivityUrl)?;
    let response = state
        .http
        .post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(USER_AGENT, SLACK_USER_AGENT)
        .header(
            "X-Slack-Request-Timestamp",
            interaction.timestamp.to_string(),
        )
        .header("X-Slack-Signature", interaction.signature)
        .body(interaction.body)
        .send()
        .await?;
    Ok(response)
}
