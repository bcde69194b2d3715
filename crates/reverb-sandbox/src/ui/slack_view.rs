//! The fake Slack's channel view as HTML: the sidebar, and a channel's messages the way the Slack
//! client draws them (Block Kit, legacy attachments, threads, edits, ephemeral messages).
//!
//! Buttons and menus carry what the page's script needs to click them through
//! `POST /_sandbox/click`: the channel, the message `ts` and the `action` string that selects
//! the element ([`crate::slack::selector_for`]); confirm dialogs travel as `data-confirm-*`.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::directory::Directory;
use super::html::{attachment_color, clock_utc, escape, safe_href};
use super::mrkdwn::{plain_to_html, slack_text_to_html, to_html};
use crate::slack::{BOT_USER_ID, SlackChannel, SlackStoredMessage, SlackUser, selector_for};

/// What one render of a channel needs.
pub(crate) struct ChannelView<'a> {
    pub(crate) channel: &'a SlackChannel,
    pub(crate) messages: &'a [SlackStoredMessage],
    pub(crate) ephemerals: &'a [SlackStoredMessage],
    pub(crate) viewer: &'a SlackUser,
    pub(crate) directory: &'a Directory,
}

/// Top-level messages drawn at most; older ones are summarised in one line.
const MAX_SHOWN: usize = 200;

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn list_of<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// How a conversation is named in the sidebar and the header: `#name`, `@user` for a DM.
pub(crate) fn channel_label(channel: &SlackChannel, directory: &Directory) -> String {
    if channel.is_im {
        let other = channel.user.as_deref().unwrap_or_default();
        format!("@{}", directory.user_name(other).unwrap_or(other))
    } else {
        format!("#{}", channel.name)
    }
}

/// The channel list: channels first, then direct messages; each with its message count.
pub(crate) fn sidebar(
    directory: &Directory,
    counts: &[(SlackChannel, usize)],
    current: &str,
) -> String {
    let mut out = String::new();
    for (heading, ims) in [("Channels", false), ("Direct messages", true)] {
        let entries: Vec<_> = counts
            .iter()
            .filter(|(channel, _)| channel.is_im == ims)
            .collect();
        if entries.is_empty() {
            continue;
        }
        out.push_str(&format!(r#"<div class="side-heading">{heading}</div>"#));
        for (channel, count) in entries {
            let mut classes = vec!["chan"];
            if channel.id == current {
                classes.push("current");
            }
            if channel.is_archived {
                classes.push("archived");
            }
            let marker = if channel.is_archived {
                r#" <span class="chan-note">archived</span>"#
            } else if channel.is_private && !channel.is_im {
                r#" <span class="chan-note">private</span>"#
            } else {
                ""
            };
            let badge = if *count > 0 {
                format!(r#"<span class="count">{count}</span>"#)
            } else {
                String::new()
            };
            out.push_str(&format!(
                r#"<a class="{}" href="/channels/{}" data-channel="{}">{}{marker}{badge}</a>"#,
                classes.join(" "),
                escape(&channel.id),
                escape(&channel.id),
                escape(&channel_label(channel, directory)),
            ));
        }
    }
    out
}

/// `ts` as a sortable pair; Slack's `ts` is `<seconds>.<micros>`.
fn ts_key(ts: &str) -> (u64, u64) {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    (secs.parse().unwrap_or(0), micros.parse().unwrap_or(0))
}

fn is_reply(message: &SlackStoredMessage) -> bool {
    message
        .thread_ts
        .as_deref()
        .is_some_and(|thread| thread != message.ts)
}

/// The channel's timeline: messages (and the viewer's ephemeral messages) oldest first, thread
/// replies under their parent.
pub(crate) fn timeline(view: &ChannelView<'_>) -> String {
    let mut visible: Vec<&SlackStoredMessage> = view.messages.iter().collect();
    visible.extend(
        view.ephemerals
            .iter()
            .filter(|message| message.visible_to.as_deref() == Some(view.viewer.id.as_str())),
    );
    visible.sort_by_key(|message| ts_key(&message.ts));
    if visible.is_empty() {
        return format!(
            r#"<div class="empty">No messages in {} yet.</div>"#,
            escape(&channel_label(view.channel, view.directory))
        );
    }
    let parents: HashSet<&str> = visible
        .iter()
        .filter(|message| !is_reply(message))
        .map(|message| message.ts.as_str())
        .collect();
    let mut replies: HashMap<&str, Vec<&SlackStoredMessage>> = HashMap::new();
    for message in &visible {
        if let Some(thread) = message.thread_ts.as_deref()
            && is_reply(message)
            && parents.contains(thread)
        {
            replies.entry(thread).or_default().push(message);
        }
    }
    let shown: Vec<&SlackStoredMessage> = visible
        .iter()
        .copied()
        .filter(|message| {
            let threaded = message
                .thread_ts
                .as_deref()
                .is_some_and(|thread| is_reply(message) && parents.contains(thread));
            !threaded || message.reply_broadcast
        })
        .collect();
    // A channel filled by a benchmark would make every refresh slow; the newest are what matter.
    let skipped = shown.len().saturating_sub(MAX_SHOWN);
    let mut out = String::new();
    if skipped > 0 {
        out.push_str(&format!(
            r#"<div class="empty">{skipped} older messages are not shown.</div>"#
        ));
    }
    for message in &shown[skipped..] {
        let broadcast = is_reply(message);
        let thread: &[&SlackStoredMessage] = if broadcast {
            &[]
        } else {
            replies.get(message.ts.as_str()).map_or(&[], Vec::as_slice)
        };
        out.push_str(&message_html(view, message, thread, broadcast));
    }
    out
}

fn author(message: &SlackStoredMessage, directory: &Directory) -> String {
    message
        .username
        .clone()
        .filter(|name| !name.trim().is_empty())
        .or_else(|| directory.user(BOT_USER_ID).map(|bot| bot.real_name.clone()))
        .unwrap_or_else(|| "Reverb".to_owned())
}

fn message_html(
    view: &ChannelView<'_>,
    message: &SlackStoredMessage,
    replies: &[&SlackStoredMessage],
    broadcast_reply: bool,
) -> String {
    let name = author(message, view.directory);
    let initial = name
        .chars()
        .next()
        .map_or_else(|| "?".to_owned(), |c| c.to_uppercase().collect());
    let ephemeral = message.visible_to.is_some();
    let mut classes = vec!["msg"];
    if ephemeral {
        classes.push("ephemeral");
    }
    let secs = i64::try_from(ts_key(&message.ts).0).unwrap_or(0);
    let mut out = format!(
        r#"<div class="{}" data-ts="{}" data-channel="{}"><div class="avatar">{}</div><div class="msg-main"><div class="msg-head"><span class="author">{}</span><span class="app-badge">APP</span><time data-epoch="{secs}">{}</time></div>"#,
        classes.join(" "),
        escape(&message.ts),
        escape(&message.channel),
        escape(&initial),
        escape(&name),
        clock_utc(secs),
    );
    if ephemeral {
        out.push_str(r#"<div class="only-you">Only visible to you</div>"#);
    }
    if broadcast_reply {
        out.push_str(r#"<div class="only-you">replied to a thread</div>"#);
    }
    out.push_str(&message_body(view, message));
    if !replies.is_empty() {
        let count = replies.len();
        let noun = if count == 1 { "reply" } else { "replies" };
        out.push_str(&format!(
            r#"<div class="thread"><div class="thread-count">{count} {noun}</div>"#
        ));
        for reply in replies {
            out.push_str(&message_html(view, reply, &[], false));
        }
        out.push_str("</div>");
    }
    out.push_str("</div></div>");
    out
}

fn message_body(view: &ChannelView<'_>, message: &SlackStoredMessage) -> String {
    let renderer = Renderer {
        directory: view.directory,
        message,
    };
    // Slack shows "(edited)" at the end of the message's own text, before any attachment.
    let edited = if message.edit_count > 0 {
        r#"<span class="edited">(edited)</span>"#
    } else {
        ""
    };
    let mut out = String::from(r#"<div class="msg-body">"#);
    let blocks = message
        .blocks
        .as_ref()
        .and_then(Value::as_array)
        .filter(|blocks| !blocks.is_empty());
    let mut edited_shown = false;
    match blocks {
        Some(blocks) => {
            out.push_str(&renderer.blocks(blocks));
            out.push_str(edited);
            edited_shown = true;
        }
        None if !message.text.is_empty() => {
            let formatted = message.args.get("mrkdwn").and_then(Value::as_bool) != Some(false);
            let text = if formatted {
                to_html(&message.text, view.directory)
            } else {
                slack_text_to_html(&message.text)
            };
            out.push_str(&format!(r#"<div class="text">{text}{edited}</div>"#));
            edited_shown = true;
        }
        None => {}
    }
    for (index, attachment) in message
        .attachments
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        out.push_str(&renderer.attachment(index, attachment));
    }
    if !edited_shown {
        out.push_str(edited);
    }
    out.push_str("</div>");
    out
}

/// Renders the parts of one message.
struct Renderer<'a> {
    directory: &'a Directory,
    message: &'a SlackStoredMessage,
}

impl Renderer<'_> {
    /// A text object: `mrkdwn` or `plain_text`.
    fn text_object(&self, text: Option<&Value>) -> String {
        let Some(text) = text else {
            return String::new();
        };
        let body = str_of(text, "text").unwrap_or_default();
        if str_of(text, "type") == Some("mrkdwn") {
            to_html(body, self.directory)
        } else {
            let emoji = text.get("emoji").and_then(Value::as_bool).unwrap_or(true);
            plain_to_html(body, emoji)
        }
    }

    fn blocks(&self, blocks: &[Value]) -> String {
        blocks.iter().map(|block| self.block(block)).collect()
    }

    fn block(&self, block: &Value) -> String {
        let kind = str_of(block, "type").unwrap_or_default();
        match kind {
            "section" => self.section(block),
            "header" => format!(
                r#"<div class="block header">{}</div>"#,
                self.text_object(block.get("text"))
            ),
            "divider" => r#"<hr class="block divider">"#.to_owned(),
            "context" => {
                let parts: String = list_of(block, "elements")
                    .map(|element| match str_of(element, "type") {
                        Some("image") => image_placeholder(element),
                        _ => format!("<span>{}</span>", self.text_object(Some(element))),
                    })
                    .collect();
                format!(r#"<div class="block context">{parts}</div>"#)
            }
            "actions" => {
                let elements: String = list_of(block, "elements")
                    .map(|element| self.element(element))
                    .collect();
                format!(r#"<div class="block actions">{elements}</div>"#)
            }
            "image" => {
                let title = block
                    .get("title")
                    .map(|title| self.text_object(Some(title)));
                format!(
                    r#"<div class="block image">{}{}</div>"#,
                    title
                        .map(|title| format!(r#"<div class="image-title">{title}</div>"#))
                        .unwrap_or_default(),
                    image_placeholder(block)
                )
            }
            "rich_text" | "markdown" => {
                let mut text = String::new();
                collect_text(block, &mut text);
                format!(r#"<div class="block text">{}</div>"#, escape(&text))
            }
            other => format!(
                r#"<div class="block unsupported">[unsupported block: {}]</div>"#,
                escape(other)
            ),
        }
    }

    fn section(&self, block: &Value) -> String {
        let mut out = String::from(r#"<div class="block section"><div class="section-main">"#);
        if block.get("text").is_some() {
            out.push_str(&format!(
                r#"<div class="text">{}</div>"#,
                self.text_object(block.get("text"))
            ));
        }
        let fields: String = list_of(block, "fields")
            .map(|field| {
                format!(
                    r#"<div class="field">{}</div>"#,
                    self.text_object(Some(field))
                )
            })
            .collect();
        if !fields.is_empty() {
            out.push_str(&format!(r#"<div class="fields">{fields}</div>"#));
        }
        out.push_str("</div>");
        if let Some(accessory) = block.get("accessory") {
            let accessory = match str_of(accessory, "type") {
                Some("image") => image_placeholder(accessory),
                _ => self.element(accessory),
            };
            out.push_str(&format!(r#"<div class="accessory">{accessory}</div>"#));
        }
        out.push_str("</div>");
        out
    }

    /// An interactive Block Kit element.
    fn element(&self, element: &Value) -> String {
        match str_of(element, "type") {
            Some("button") => {
                let label = self.text_object(element.get("text"));
                let confirm = element.get("confirm").map(block_confirm);
                self.button(element, &label, str_of(element, "style"), confirm)
            }
            Some("static_select") => {
                let placeholder = element
                    .get("placeholder")
                    .and_then(|text| str_of(text, "text"))
                    .unwrap_or("Select an item");
                let initial = element
                    .get("initial_option")
                    .and_then(|option| str_of(option, "value"));
                let mut options: Vec<(String, String)> = Vec::new();
                let groups = list_of(element, "option_groups")
                    .flat_map(|group| list_of(group, "options"))
                    .chain(list_of(element, "options"));
                for option in groups {
                    let label = option
                        .get("text")
                        .and_then(|text| str_of(text, "text"))
                        .unwrap_or_default();
                    let value = str_of(option, "value").unwrap_or_default();
                    options.push((label.to_owned(), value.to_owned()));
                }
                self.select(element, placeholder, &options, initial)
            }
            Some(other) => format!(r#"<span class="unsupported">[{}]</span>"#, escape(other)),
            None => String::new(),
        }
    }

    /// `data-*` that address the element in `POST /_sandbox/click`.
    fn address(&self, element: &Value) -> Option<String> {
        selector_for(self.message, element).map(|action| {
            format!(
                r#"data-channel="{}" data-ts="{}" data-action="{}""#,
                escape(&self.message.channel),
                escape(&self.message.ts),
                escape(&action)
            )
        })
    }

    fn button(
        &self,
        element: &Value,
        label_html: &str,
        style: Option<&str>,
        confirm: Option<Confirm>,
    ) -> String {
        let style_class = match style {
            Some("primary") => " primary",
            Some("danger") => " danger",
            _ => "",
        };
        let url = str_of(element, "url")
            .and_then(safe_href)
            .map(|href| format!(r#" data-url="{href}""#))
            .unwrap_or_default();
        let confirm = confirm
            .map(|confirm| confirm.attributes())
            .unwrap_or_default();
        // A click on an ephemeral message has no stored message to land on in this fake.
        match self
            .address(element)
            .filter(|_| self.message.visible_to.is_none())
        {
            Some(address) => format!(
                r#"<button type="button" class="sk-btn{style_class}" data-kind="button" {address}{url}{confirm}>{label_html}</button>"#
            ),
            None => format!(
                r#"<button type="button" class="sk-btn{style_class}" disabled title="the sandbox cannot address this button">{label_html}</button>"#
            ),
        }
    }

    fn select(
        &self,
        element: &Value,
        placeholder: &str,
        options: &[(String, String)],
        initial: Option<&str>,
    ) -> String {
        let address = self
            .address(element)
            .filter(|_| self.message.visible_to.is_none())
            .map(|address| {
                // The page keeps the user's choice across refreshes under this key.
                let keep = selector_for(self.message, element).unwrap_or_default();
                format!(
                    r#"{address} data-keep="{}|{}""#,
                    escape(&self.message.ts),
                    escape(&keep)
                )
            });
        let disabled = if address.is_some() { "" } else { " disabled" };
        let mut out = format!(
            r#"<select class="sk-select" data-kind="select" {}{disabled}><option value=""{}>{}</option>"#,
            address.unwrap_or_default(),
            if initial.is_none() { " selected" } else { "" },
            escape(placeholder)
        );
        for (label, value) in options {
            let selected = if initial == Some(value.as_str()) {
                " selected"
            } else {
                ""
            };
            out.push_str(&format!(
                r#"<option value="{}"{selected}>{}</option>"#,
                escape(value),
                slack_text_to_html(label)
            ));
        }
        out.push_str("</select>");
        out
    }

    fn attachment(&self, index: usize, attachment: &Value) -> String {
        let mut out = String::new();
        if let Some(pretext) = str_of(attachment, "pretext") {
            out.push_str(&format!(
                r#"<div class="text pretext">{}</div>"#,
                to_html(pretext, self.directory)
            ));
        }
        out.push_str(&format!(
            r#"<div class="attachment" data-attachment="{}" style="border-left-color: {}"><div class="att-main">"#,
            index + 1,
            attachment_color(str_of(attachment, "color"))
        ));
        if let Some(author) = str_of(attachment, "author_name") {
            out.push_str(&format!(
                r#"<div class="att-author">{}</div>"#,
                slack_text_to_html(author)
            ));
        }
        if let Some(title) = str_of(attachment, "title") {
            let title_html = slack_text_to_html(title);
            let title_html = match str_of(attachment, "title_link").and_then(safe_href) {
                Some(href) => format!(
                    r#"<a href="{href}" target="_blank" rel="noopener noreferrer">{title_html}</a>"#
                ),
                None => title_html,
            };
            out.push_str(&format!(r#"<div class="att-title">{title_html}</div>"#));
        }
        if let Some(text) = str_of(attachment, "text").filter(|text| !text.is_empty()) {
            out.push_str(&format!(
                r#"<div class="text">{}</div>"#,
                to_html(text, self.directory)
            ));
        }
        let fields: String = list_of(attachment, "fields")
            .map(|field| {
                let short = field.get("short").and_then(Value::as_bool) == Some(true);
                format!(
                    r#"<div class="att-field{}"><div class="att-field-title">{}</div><div class="text">{}</div></div>"#,
                    if short { " short" } else { "" },
                    slack_text_to_html(str_of(field, "title").unwrap_or_default()),
                    to_html(str_of(field, "value").unwrap_or_default(), self.directory)
                )
            })
            .collect();
        if !fields.is_empty() {
            out.push_str(&format!(r#"<div class="att-fields">{fields}</div>"#));
        }
        if let Some(blocks) = attachment.get("blocks").and_then(Value::as_array) {
            out.push_str(&self.blocks(blocks));
        }
        let actions: String = list_of(attachment, "actions")
            .map(|action| self.legacy_action(action))
            .collect();
        if !actions.is_empty() {
            out.push_str(&format!(r#"<div class="block actions">{actions}</div>"#));
        }
        let footer = str_of(attachment, "footer").filter(|footer| !footer.is_empty());
        let when = attachment.get("ts").and_then(|ts| {
            ts.as_i64().or_else(|| {
                ts.as_str()
                    .and_then(|text| text.split('.').next()?.parse().ok())
            })
        });
        if footer.is_some() || when.is_some() {
            let mut parts = Vec::new();
            if let Some(footer) = footer {
                parts.push(slack_text_to_html(footer));
            }
            if let Some(when) = when {
                parts.push(format!(
                    r#"<time data-epoch="{when}">{}</time>"#,
                    clock_utc(when)
                ));
            }
            out.push_str(&format!(
                r#"<div class="att-footer">{}</div>"#,
                parts.join(" · ")
            ));
        }
        out.push_str("</div></div>");
        out
    }

    /// A legacy attachment action: `button` or `select`.
    fn legacy_action(&self, action: &Value) -> String {
        let label = str_of(action, "text").unwrap_or_default();
        match str_of(action, "type") {
            Some("select") => {
                let options: Vec<(String, String)> = list_of(action, "options")
                    .map(|option| {
                        (
                            str_of(option, "text").unwrap_or_default().to_owned(),
                            str_of(option, "value").unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                self.select(action, label, &options, None)
            }
            _ => {
                let confirm = action.get("confirm").map(legacy_confirm);
                self.button(
                    action,
                    &slack_text_to_html(label),
                    str_of(action, "style"),
                    confirm,
                )
            }
        }
    }
}

/// A confirmation dialog, shown by the page before the click is sent.
struct Confirm {
    title: String,
    text: String,
    ok: String,
    deny: String,
    danger: bool,
}

impl Confirm {
    fn attributes(&self) -> String {
        format!(
            r#" data-confirm="1" data-confirm-title="{}" data-confirm-text="{}" data-confirm-ok="{}" data-confirm-deny="{}" data-confirm-style="{}""#,
            escape(&self.title),
            escape(&self.text),
            escape(&self.ok),
            escape(&self.deny),
            if self.danger { "danger" } else { "primary" }
        )
    }
}

fn text_field(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(text) => Some(text.clone()),
        object => str_of(object, "text").map(str::to_owned),
    }
}

/// Block Kit's confirmation object (`title`, `text`, `confirm`, `deny` text objects, `style`).
fn block_confirm(confirm: &Value) -> Confirm {
    Confirm {
        title: text_field(confirm, "title").unwrap_or_else(|| "Are you sure?".to_owned()),
        text: text_field(confirm, "text").unwrap_or_default(),
        ok: text_field(confirm, "confirm").unwrap_or_else(|| "Yes".to_owned()),
        deny: text_field(confirm, "deny").unwrap_or_else(|| "Cancel".to_owned()),
        danger: str_of(confirm, "style") == Some("danger"),
    }
}

/// A legacy action's `confirm` (`title`, `text`, `ok_text`, `dismiss_text`).
fn legacy_confirm(confirm: &Value) -> Confirm {
    Confirm {
        title: text_field(confirm, "title").unwrap_or_else(|| "Are you sure?".to_owned()),
        text: text_field(confirm, "text").unwrap_or_default(),
        ok: text_field(confirm, "ok_text").unwrap_or_else(|| "Okay".to_owned()),
        deny: text_field(confirm, "dismiss_text").unwrap_or_else(|| "Cancel".to_owned()),
        danger: false,
    }
}

/// Images are not fetched (the sandbox may run offline); their alt text stands in.
fn image_placeholder(element: &Value) -> String {
    let alt = str_of(element, "alt_text").unwrap_or("image");
    format!(
        r#"<span class="img-ph" title="{}">&#9635;</span>"#,
        escape(alt)
    )
}

/// Every `text` string under a block, for block types drawn as plain text.
fn collect_text(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get("text") {
                out.push_str(text);
            }
            for (key, inner) in map {
                if key != "text" || !inner.is_string() {
                    collect_text(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_text(item, out)),
        _ => {}
    }
}
