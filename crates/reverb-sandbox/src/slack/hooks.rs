//! The two token-less endpoints: incoming webhooks (`POST /T…/B…/…`) and the per-click
//! `response_url` (`POST /actions/…`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::model::{MessageOrigin, SlackStoredMessage};
use super::rate_limit::Decision;
use super::reply::Reply;
use super::request::Incoming;
use super::state::{ChannelProblem, SlackState};

/// A response_url works 5 times within 30 minutes (Slack's rule).
const RESPONSE_URL_MAX_USES: u32 = 5;
const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// A webhook without `channel` posts where it was installed; here, #general.
const WEBHOOK_DEFAULT_CHANNEL: &str = "general";

/// The JSON document of a hook request: a JSON body, or a form field `payload` holding JSON.
fn hook_payload(incoming: &Incoming) -> Option<Value> {
    if incoming.body_error.is_some() {
        return None;
    }
    match incoming.args.get("payload") {
        Some(Value::String(text)) => serde_json::from_str(text).ok().filter(Value::is_object),
        _ => Some(incoming.args_value()),
    }
}

fn has_content(payload: &Value) -> bool {
    let non_empty_list = |key: &str| {
        payload
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|list| !list.is_empty())
    };
    payload
        .get("text")
        .and_then(Value::as_str)
        .is_some_and(|text| !text.is_empty())
        || non_empty_list("blocks")
        || non_empty_list("attachments")
}

fn list_field(payload: &Value, key: &str) -> Option<Value> {
    payload
        .get(key)
        .filter(|value| value.as_array().is_some_and(|list| !list.is_empty()))
        .cloned()
}

fn text_field(payload: &Value) -> String {
    payload
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Incoming webhook: answers `ok` as plain text, or Slack's webhook error texts and statuses.
pub(crate) fn webhook(state: &SlackState, incoming: &Incoming) -> Reply {
    let Some(payload) = hook_payload(incoming) else {
        return Reply::text(400, "invalid_payload");
    };
    let reference = payload
        .get("channel")
        .and_then(Value::as_str)
        .unwrap_or(WEBHOOK_DEFAULT_CHANNEL);
    let mut data = state.data();
    let index = match data.resolve_for_post(reference) {
        Ok(index) => index,
        Err(ChannelProblem::NotFound) => return Reply::text(404, "channel_not_found"),
        Err(ChannelProblem::Archived) => return Reply::text(410, "channel_is_archived"),
        Err(ChannelProblem::NotInChannel) => return Reply::text(403, "action_prohibited"),
    };
    let channel_id = data.channels[index].info.id.clone();
    // Webhook posts count against the same per-channel bucket as chat.postMessage.
    if let Decision::Limited { retry_after_secs } = data.limiter.check(&channel_id, Instant::now())
    {
        return Reply::rate_limited(retry_after_secs);
    }
    if !has_content(&payload) {
        return Reply::text(400, "no_text");
    }
    let message = SlackStoredMessage {
        channel: channel_id,
        ts: data.next_ts(),
        thread_ts: payload
            .get("thread_ts")
            .and_then(Value::as_str)
            .map(str::to_owned),
        text: text_field(&payload),
        blocks: list_field(&payload, "blocks"),
        attachments: list_field(&payload, "attachments"),
        username: payload
            .get("username")
            .and_then(Value::as_str)
            .map(str::to_owned),
        reply_broadcast: false,
        edit_count: 0,
        origin: MessageOrigin::Webhook,
        visible_to: None,
        args: payload,
    };
    data.channels[index].messages.push(message);
    Reply::text(200, "ok")
}

/// `response_url`: replace or delete the clicked message, or add an ephemeral / in-channel one.
pub(crate) fn response_url(state: &SlackState, key: &str, incoming: &Incoming) -> Reply {
    let Some(payload) = hook_payload(incoming) else {
        return Reply::json(400, json!({"ok": false, "error": "invalid_payload"}));
    };
    let mut data = state.data();
    let Some(entry) = data.response_urls.get_mut(key) else {
        return Reply::json(404, json!({"ok": false, "error": "expired_url"}));
    };
    if entry.issued.elapsed() > RESPONSE_URL_LIFETIME {
        return Reply::json(404, json!({"ok": false, "error": "expired_url"}));
    }
    if entry.uses >= RESPONSE_URL_MAX_USES {
        return Reply::json(404, json!({"ok": false, "error": "used_url"}));
    }
    entry.uses += 1;
    let entry = entry.clone();
    let Some(index) = data.channel_by_id(&entry.channel) else {
        return Reply::json(404, json!({"ok": false, "error": "channel_not_found"}));
    };

    let flag = |key: &str| payload.get(key).and_then(Value::as_bool);
    let response_type = payload.get("response_type").and_then(Value::as_str);
    if flag("delete_original") == Some(true) {
        data.channels[index]
            .messages
            .retain(|message| message.ts != entry.message_ts);
        return Reply::json(200, json!({"ok": true}));
    }
    // Legacy interactive messages are replaced unless told otherwise (Echo relies on this);
    // for Block Kit a post without replace_original is a new, ephemeral by default, message.
    let replace = flag("replace_original").unwrap_or(entry.legacy && response_type.is_none());
    if replace {
        let Some(message) = data.message_mut(index, &entry.message_ts) else {
            return Reply::json(404, json!({"ok": false, "error": "message_not_found"}));
        };
        message.text = text_field(&payload);
        message.blocks = list_field(&payload, "blocks");
        message.attachments = list_field(&payload, "attachments");
        message.edit_count += 1;
        message.args = payload;
        return Reply::json(200, json!({"ok": true}));
    }
    if !has_content(&payload) {
        return Reply::json(400, json!({"ok": false, "error": "no_text"}));
    }
    let in_channel = response_type == Some("in_channel");
    let message = SlackStoredMessage {
        channel: entry.channel.clone(),
        ts: data.next_ts(),
        thread_ts: payload
            .get("thread_ts")
            .and_then(Value::as_str)
            .map(str::to_owned),
        text: text_field(&payload),
        blocks: list_field(&payload, "blocks"),
        attachments: list_field(&payload, "attachments"),
        username: None,
        reply_broadcast: false,
        edit_count: 0,
        origin: MessageOrigin::ResponseUrl,
        visible_to: (!in_channel).then(|| entry.user.clone()),
        args: payload,
    };
    let record = &mut data.channels[index];
    if in_channel {
        record.messages.push(message);
    } else {
        record.ephemerals.push(message);
    }
    Reply::json(200, json!({"ok": true}))
}
