//! The Web API methods (`/api/<method>`), answered with Slack's envelope and error codes.

use std::time::Instant;

use serde_json::{Value, json};

use super::blocks::{self, BlocksError, MAX_ATTACHMENTS};
use super::model::{MessageOrigin, SlackStoredMessage};
use super::rate_limit::Decision;
use super::reply::Reply;
use super::request::Incoming;
use super::state::{SlackData, SlackState};
use super::{BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID};

/// `chat.update` refuses longer text (Slack's `msg_too_long`).
const MAX_UPDATE_TEXT: usize = 4000;
/// Gives `profile.email` in user objects (and is what `users.lookupByEmail` needs).
const EMAIL_SCOPE: &str = "users:read.email";

/// The scopes a method accepts (any one will do), as Slack lists them in
/// `x-accepted-oauth-scopes` and in `missing_scope`'s `needed`; `None` for unknown methods.
fn accepted_scopes(method: &str) -> Option<&'static [&'static str]> {
    Some(match method {
        "chat.postMessage" | "chat.update" | "chat.delete" | "chat.postEphemeral" => {
            &["chat:write"]
        }
        "users.info" => &["users:read"],
        "users.lookupByEmail" => &[EMAIL_SCOPE],
        "conversations.info" => &["channels:read", "groups:read", "mpim:read", "im:read"],
        "conversations.join" => &["channels:join"],
        "auth.test" => &[],
        _ => return None,
    })
}

pub(crate) fn handle(state: &SlackState, method: &str, incoming: &Incoming) -> Reply {
    if let Some(code) = incoming.body_error {
        return Reply::error(code);
    }
    if method == "api.test" {
        return Reply::ok(json!({"ok": true, "args": incoming.args_value()}));
    }
    match &incoming.auth {
        None => return Reply::error("not_authed"),
        Some(auth) if !state.token_is_valid(auth.token()) => return Reply::error("invalid_auth"),
        Some(_) => {}
    }
    let mut data = state.data();
    let granted = data.scopes.join(",");
    let accepted = accepted_scopes(method).unwrap_or_default();
    if !accepted.is_empty() && !accepted.iter().any(|scope| data.has_scope(scope)) {
        drop(data);
        return with_scope_headers(
            Reply::ok(json!({
                "ok": false,
                "error": "missing_scope",
                "needed": accepted.join(","),
                "provided": granted,
            })),
            granted,
            accepted,
        );
    }
    let reply = match method {
        "chat.postMessage" => post_message(&mut data, incoming, Instant::now()),
        "chat.update" => update(&mut data, incoming),
        "chat.delete" => delete(&mut data, incoming),
        "chat.postEphemeral" => post_ephemeral(&mut data, incoming),
        "users.info" => users_info(&data, incoming),
        "users.lookupByEmail" => lookup_by_email(&data, incoming),
        "conversations.info" => conversations_info(&data, incoming),
        "conversations.join" => conversations_join(&mut data, incoming),
        "auth.test" => Reply::ok(json!({
            "ok": true,
            "url": format!("https://{TEAM_DOMAIN}.slack.com/"),
            "team": "Example",
            "user": "reverb",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": false,
        })),
        _ => Reply::error("unknown_method"),
    };
    drop(data);
    with_scope_headers(with_charset_warning(reply, incoming), granted, accepted)
}

/// Slack tells a valid token what it has (`x-oauth-scopes`) and what the method takes.
fn with_scope_headers(reply: Reply, granted: String, accepted: &[&str]) -> Reply {
    let reply = reply.with_header("x-oauth-scopes", granted);
    if accepted.is_empty() {
        reply
    } else {
        reply.with_header("x-accepted-oauth-scopes", accepted.join(","))
    }
}

/// Slack adds a `missing_charset` warning to successful answers to JSON bodies without charset.
fn with_charset_warning(mut reply: Reply, incoming: &Incoming) -> Reply {
    if !incoming.missing_charset {
        return reply;
    }
    if let super::reply::ReplyBody::Json(Value::Object(body)) = &mut reply.body
        && body.get("ok") == Some(&Value::Bool(true))
    {
        body.insert("warning".into(), json!("missing_charset"));
        body.insert(
            "response_metadata".into(),
            json!({"warnings": ["missing_charset"]}),
        );
    }
    reply
}

/// The message body arguments shared by chat.postMessage and chat.update.
struct Content {
    text: Option<String>,
    blocks: Option<Value>,
    attachments: Option<Value>,
}

fn read_content(incoming: &Incoming) -> Result<Content, Reply> {
    let text = incoming
        .str_arg("text")
        .or_else(|| incoming.str_arg("markdown_text"))
        .map(str::to_owned);
    let blocks = incoming
        .args
        .get("blocks")
        .filter(|value| !value.is_null())
        .cloned();
    if let Some(blocks) = &blocks {
        match blocks::validate(blocks) {
            Ok(()) => {}
            Err(BlocksError::Format) => return Err(Reply::error("invalid_blocks_format")),
            Err(BlocksError::Invalid(messages)) => {
                return Err(Reply::ok(json!({
                    "ok": false,
                    "error": "invalid_blocks",
                    "errors": messages,
                    "response_metadata": {"messages": messages},
                })));
            }
        }
    }
    let attachments = incoming
        .args
        .get("attachments")
        .filter(|value| !value.is_null())
        .cloned();
    if let Some(attachments) = &attachments {
        match attachments.as_array() {
            None => return Err(Reply::error("invalid_attachments")),
            Some(list) if list.len() > MAX_ATTACHMENTS => {
                return Err(Reply::error("too_many_attachments"));
            }
            Some(_) => {}
        }
    }
    Ok(Content {
        text,
        blocks,
        attachments,
    })
}

fn is_empty_list(value: Option<&Value>) -> bool {
    value.is_none_or(|value| value.as_array().is_some_and(Vec::is_empty))
}

fn post_message(data: &mut SlackData, incoming: &Incoming, now: Instant) -> Reply {
    let Some(reference) = incoming.str_arg("channel") else {
        return Reply::error("channel_not_found");
    };
    let index = match data.resolve_for_post(reference) {
        Ok(index) => index,
        Err(problem) => return Reply::error(problem.code()),
    };
    let channel_id = data.channels[index].info.id.clone();
    if let Decision::Limited { retry_after_secs } = data.limiter.check(&channel_id, now) {
        return Reply::rate_limited(retry_after_secs);
    }
    let content = match read_content(incoming) {
        Ok(content) => content,
        Err(reply) => return reply,
    };
    if content.text.is_none()
        && is_empty_list(content.blocks.as_ref())
        && is_empty_list(content.attachments.as_ref())
    {
        return Reply::error("no_text");
    }
    let message = SlackStoredMessage {
        channel: channel_id.clone(),
        ts: data.next_ts(),
        thread_ts: incoming.str_arg("thread_ts").map(str::to_owned),
        text: content.text.unwrap_or_default(),
        blocks: content.blocks,
        attachments: content.attachments,
        username: incoming.str_arg("username").map(str::to_owned),
        reply_broadcast: incoming.bool_arg("reply_broadcast"),
        edit_count: 0,
        origin: MessageOrigin::PostMessage,
        visible_to: None,
        args: incoming.args_value(),
    };
    let answer = json!({"ok": true, "channel": channel_id, "ts": message.ts, "message": message.to_slack_json()});
    data.channels[index].messages.push(message);
    Reply::ok(answer)
}

/// chat.update needs the channel id (a name gives `channel_not_found`, as on real Slack).
fn update(data: &mut SlackData, incoming: &Incoming) -> Reply {
    let Some(index) = incoming
        .str_arg("channel")
        .and_then(|id| data.channel_by_id(id))
    else {
        return Reply::error("channel_not_found");
    };
    let ts = incoming.str_arg("ts").unwrap_or_default().to_owned();
    if data.message_mut(index, &ts).is_none() {
        return Reply::error("message_not_found");
    }
    let content = match read_content(incoming) {
        Ok(content) => content,
        Err(reply) => return reply,
    };
    if content
        .text
        .as_ref()
        .is_some_and(|text| text.chars().count() > MAX_UPDATE_TEXT)
    {
        return Reply::error("msg_too_long");
    }
    let channel_id = data.channels[index].info.id.clone();
    let Some(message) = data.message_mut(index, &ts) else {
        return Reply::error("message_not_found");
    };
    // Omitted blocks/attachments are kept; an empty list removes them (Slack's rule).
    if let Some(text) = content.text {
        message.text = text;
    }
    if let Some(blocks) = content.blocks {
        message.blocks = if is_empty_list(Some(&blocks)) {
            None
        } else {
            Some(blocks)
        };
    }
    if let Some(attachments) = content.attachments {
        message.attachments = if is_empty_list(Some(&attachments)) {
            None
        } else {
            Some(attachments)
        };
    }
    message.edit_count += 1;
    message.args = incoming.args_value();
    Reply::ok(json!({
        "ok": true,
        "channel": channel_id,
        "ts": ts,
        "text": message.text,
        "message": message.to_slack_json(),
    }))
}

fn delete(data: &mut SlackData, incoming: &Incoming) -> Reply {
    let Some(index) = incoming
        .str_arg("channel")
        .and_then(|id| data.channel_by_id(id))
    else {
        return Reply::error("channel_not_found");
    };
    let ts = incoming.str_arg("ts").unwrap_or_default().to_owned();
    let messages = &mut data.channels[index].messages;
    let before = messages.len();
    messages.retain(|message| message.ts != ts);
    if messages.len() == before {
        return Reply::error("message_not_found");
    }
    Reply::ok(json!({"ok": true, "channel": data.channels[index].info.id, "ts": ts}))
}

fn post_ephemeral(data: &mut SlackData, incoming: &Incoming) -> Reply {
    let Some(reference) = incoming.str_arg("channel") else {
        return Reply::error("channel_not_found");
    };
    let index = match data.resolve_for_post(reference) {
        Ok(index) => index,
        Err(problem) => return Reply::error(problem.code()),
    };
    let Some(user) = incoming
        .str_arg("user")
        .filter(|user| data.user(user).is_some())
        .map(str::to_owned)
    else {
        return Reply::error("user_not_found");
    };
    let content = match read_content(incoming) {
        Ok(content) => content,
        Err(reply) => return reply,
    };
    if content.text.is_none()
        && is_empty_list(content.blocks.as_ref())
        && is_empty_list(content.attachments.as_ref())
    {
        return Reply::error("no_text");
    }
    let message = SlackStoredMessage {
        channel: data.channels[index].info.id.clone(),
        ts: data.next_ts(),
        thread_ts: incoming.str_arg("thread_ts").map(str::to_owned),
        text: content.text.unwrap_or_default(),
        blocks: content.blocks,
        attachments: content.attachments,
        username: None,
        reply_broadcast: false,
        edit_count: 0,
        origin: MessageOrigin::PostEphemeral,
        visible_to: Some(user),
        args: incoming.args_value(),
    };
    let answer = json!({"ok": true, "message_ts": message.ts});
    data.channels[index].ephemerals.push(message);
    Reply::ok(answer)
}

/// Without `users:read.email`, Slack leaves `profile.email` out.
fn users_info(data: &SlackData, incoming: &Incoming) -> Reply {
    let with_email = data.has_scope(EMAIL_SCOPE);
    match incoming.str_arg("user").and_then(|id| data.user(id)) {
        Some(user) => Reply::ok(json!({"ok": true, "user": user.to_slack_json(with_email)})),
        None => Reply::error("user_not_found"),
    }
}

/// Case-insensitive (ASCII) on the address as stored, surrounding spaces ignored.
fn lookup_by_email(data: &SlackData, incoming: &Incoming) -> Reply {
    let wanted = incoming.str_arg("email").unwrap_or_default().trim();
    let found = data.users.iter().find(|user| {
        user.email
            .as_deref()
            .is_some_and(|email| email.trim().eq_ignore_ascii_case(wanted))
    });
    match found {
        Some(user) => Reply::ok(json!({"ok": true, "user": user.to_slack_json(true)})),
        None => Reply::error("users_not_found"),
    }
}

/// conversations.* take channel ids only.
fn conversations_info(data: &SlackData, incoming: &Incoming) -> Reply {
    match incoming
        .str_arg("channel")
        .and_then(|id| data.channel_by_id(id))
    {
        Some(index) => {
            Reply::ok(json!({"ok": true, "channel": data.channels[index].info.to_slack_json()}))
        }
        None => Reply::error("channel_not_found"),
    }
}

fn conversations_join(data: &mut SlackData, incoming: &Incoming) -> Reply {
    let Some(index) = incoming
        .str_arg("channel")
        .and_then(|id| data.channel_by_id(id))
    else {
        return Reply::error("channel_not_found");
    };
    let info = &mut data.channels[index].info;
    if info.is_archived {
        return Reply::error("is_archived");
    }
    if info.is_private || info.is_im {
        return Reply::error("method_not_supported_for_channel_type");
    }
    info.is_member = true;
    Reply::ok(json!({"ok": true, "channel": info.to_slack_json()}))
}
