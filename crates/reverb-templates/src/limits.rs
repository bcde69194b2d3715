//! Slack's message limits (Block Kit and legacy attachments), enforced on every rendered message.
//!
//! Text over a limit is cut visibly (ending in `…`); lists over a limit lose their tail. Lengths
//! count Unicode scalar values, as Slack does.

use std::fmt;

use reverb_model::SlackMessage;
use serde_json::{Map, Value, json};

use crate::mrkdwn::{self, ELLIPSIS};

pub const MAX_BLOCKS: usize = 50;
pub const SECTION_TEXT: usize = 3000;
pub const SECTION_FIELDS: usize = 10;
pub const SECTION_FIELD_TEXT: usize = 2000;
pub const HEADER_TEXT: usize = 150;
pub const CONTEXT_ELEMENTS: usize = 10;
pub const CONTEXT_TEXT: usize = 3000;
pub const ACTIONS_ELEMENTS: usize = 25;
pub const BUTTON_TEXT: usize = 75;
pub const BUTTON_VALUE: usize = 2000;
pub const BUTTON_URL: usize = 3000;
pub const ACTION_ID: usize = 255;
pub const BLOCK_ID: usize = 255;
pub const CONFIRM_TITLE: usize = 100;
pub const CONFIRM_TEXT: usize = 300;
pub const CONFIRM_BUTTON: usize = 30;
pub const MARKDOWN_BLOCK_TEXT: usize = 12_000;
pub const IMAGE_URL: usize = 3000;
pub const IMAGE_ALT_TEXT: usize = 2000;
/// Slack rejects messages whose blocks hold about 13.2k characters in total
/// (`msg_blocks_too_long`) even when every block is within its own limit; stay below.
pub const BLOCKS_TOTAL_TEXT: usize = 12_000;
/// `chat.update` rejects longer top-level text (`msg_too_long`).
pub const TOP_LEVEL_TEXT: usize = 4000;
pub const MAX_ATTACHMENTS: usize = 100;
pub const LEGACY_ACTIONS_PER_ATTACHMENT: usize = 5;
pub const LEGACY_BUTTON_TEXT: usize = 75;

/// One place where a message broke a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path in the message, e.g. `attachments[0].blocks[0].text.text`.
    pub path: String,
    pub limit: usize,
    pub found: usize,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {} long, Slack allows {}",
            self.path, self.found, self.limit
        )
    }
}

/// Brings `message` within Slack's limits and reports what had to change.
pub fn enforce(message: &mut SlackMessage) -> Vec<Violation> {
    let mut found = Vec::new();
    let text_len = message.text.chars().count();
    if text_len > TOP_LEVEL_TEXT {
        found.push(violation("text", TOP_LEVEL_TEXT, text_len));
        message.text = mrkdwn::truncate_visibly(&message.text, TOP_LEVEL_TEXT);
    }
    if let Some(blocks) = message.blocks.as_mut() {
        enforce_blocks(blocks, "blocks", &mut found);
    }
    if let Some(attachments) = message.attachments.as_mut() {
        if attachments.len() > MAX_ATTACHMENTS {
            found.push(violation("attachments", MAX_ATTACHMENTS, attachments.len()));
            attachments.truncate(MAX_ATTACHMENTS);
        }
        for (index, attachment) in attachments.iter_mut().enumerate() {
            let path = format!("attachments[{index}]");
            let Some(attachment) = attachment.as_object_mut() else {
                continue;
            };
            if let Some(Value::Array(blocks)) = attachment.get_mut("blocks") {
                enforce_blocks(blocks, &format!("{path}.blocks"), &mut found);
            }
            if let Some(Value::Array(actions)) = attachment.get_mut("actions") {
                enforce_legacy_actions(actions, &format!("{path}.actions"), &mut found);
            }
        }
    }
    enforce_blocks_total(message, &mut found);
    found
}

/// What Slack rejects whatever the lengths: a message without text, blocks without a type, an
/// empty section or header, a button without a label.
pub fn structure_problems(message: &SlackMessage) -> Vec<String> {
    let mut problems = Vec::new();
    if message.text.trim().is_empty() {
        problems.push("the message has no top-level \"text\"".to_string());
    }
    let mut lists: Vec<(String, &Vec<Value>)> = Vec::new();
    if let Some(blocks) = message.blocks.as_ref() {
        lists.push(("blocks".to_string(), blocks));
    }
    for (index, attachment) in message.attachments.iter().flatten().enumerate() {
        if !attachment.is_object() {
            problems.push(format!("attachments[{index}] is not an object"));
            continue;
        }
        if let Some(blocks) = attachment.get("blocks") {
            match blocks.as_array() {
                Some(blocks) => lists.push((format!("attachments[{index}].blocks"), blocks)),
                None => problems.push(format!("attachments[{index}].blocks is not a list")),
            }
        }
    }
    for (path, blocks) in lists {
        for (index, block) in blocks.iter().enumerate() {
            let path = format!("{path}[{index}]");
            let text_of = |v: &Value| {
                v.get("text")
                    .and_then(|t| t.get("text"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            match block.get("type").and_then(Value::as_str) {
                None => problems.push(format!("{path} has no \"type\"")),
                Some("section") => {
                    if text_of(block).is_none_or(|t| t.is_empty()) && block.get("fields").is_none()
                    {
                        problems.push(format!("{path} is a section without text"));
                    }
                }
                Some("header") => {
                    if text_of(block).is_none_or(|t| t.is_empty()) {
                        problems.push(format!("{path} is a header without text"));
                    }
                }
                Some("actions") => {
                    let elements = block.get("elements").and_then(Value::as_array);
                    if elements.is_none_or(|e| e.is_empty()) {
                        problems.push(format!("{path} is an actions block without elements"));
                    }
                    for (i, element) in elements.into_iter().flatten().enumerate() {
                        if element.get("type").and_then(Value::as_str) == Some("button")
                            && text_of(element).is_none_or(|t| t.is_empty())
                        {
                            problems
                                .push(format!("{path}.elements[{i}] is a button without a label"));
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }
    problems
}

fn violation(path: impl Into<String>, limit: usize, found: usize) -> Violation {
    Violation {
        path: path.into(),
        limit,
        found,
    }
}

fn enforce_blocks(blocks: &mut Vec<Value>, path: &str, found: &mut Vec<Violation>) {
    if blocks.len() > MAX_BLOCKS {
        found.push(violation(path, MAX_BLOCKS, blocks.len()));
        let omitted = blocks.len() - (MAX_BLOCKS - 1);
        blocks.truncate(MAX_BLOCKS - 1);
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("{ELLIPSIS} {omitted} more blocks not shown")}],
        }));
    }
    for (index, block) in blocks.iter_mut().enumerate() {
        let path = format!("{path}[{index}]");
        let Some(block) = block.as_object_mut() else {
            continue;
        };
        cap_id(
            block.get_mut("block_id"),
            BLOCK_ID,
            &format!("{path}.block_id"),
            found,
        );
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match kind.as_str() {
            "section" => {
                cap_text_object(
                    block.get_mut("text"),
                    SECTION_TEXT,
                    &format!("{path}.text"),
                    found,
                );
                if let Some(Value::Array(fields)) = block.get_mut("fields") {
                    cap_list(fields, SECTION_FIELDS, &format!("{path}.fields"), found);
                    for (i, field) in fields.iter_mut().enumerate() {
                        cap_text_object(
                            Some(field),
                            SECTION_FIELD_TEXT,
                            &format!("{path}.fields[{i}]"),
                            found,
                        );
                    }
                }
                if let Some(accessory) = block.get_mut("accessory") {
                    enforce_element(accessory, &format!("{path}.accessory"), found);
                }
            }
            "header" => cap_text_object(
                block.get_mut("text"),
                HEADER_TEXT,
                &format!("{path}.text"),
                found,
            ),
            "markdown" => cap_str(
                block.get_mut("text"),
                MARKDOWN_BLOCK_TEXT,
                &format!("{path}.text"),
                found,
            ),
            "context" => {
                if let Some(Value::Array(elements)) = block.get_mut("elements") {
                    cap_list(
                        elements,
                        CONTEXT_ELEMENTS,
                        &format!("{path}.elements"),
                        found,
                    );
                    for (i, element) in elements.iter_mut().enumerate() {
                        let element_path = format!("{path}.elements[{i}]");
                        if element.get("type").and_then(Value::as_str) == Some("image") {
                            enforce_element(element, &element_path, found);
                        } else {
                            cap_text_object(Some(element), CONTEXT_TEXT, &element_path, found);
                        }
                    }
                }
            }
            "actions" => {
                if let Some(Value::Array(elements)) = block.get_mut("elements") {
                    cap_list(
                        elements,
                        ACTIONS_ELEMENTS,
                        &format!("{path}.elements"),
                        found,
                    );
                    for (i, element) in elements.iter_mut().enumerate() {
                        enforce_element(element, &format!("{path}.elements[{i}]"), found);
                    }
                }
            }
            "image" => enforce_image(block, &path, found),
            _ => {}
        }
    }
}

fn enforce_element(element: &mut Value, path: &str, found: &mut Vec<Violation>) {
    let Some(element) = element.as_object_mut() else {
        return;
    };
    cap_id(
        element.get_mut("action_id"),
        ACTION_ID,
        &format!("{path}.action_id"),
        found,
    );
    match element.get("type").and_then(Value::as_str) {
        Some("button") => {
            cap_text_object(
                element.get_mut("text"),
                BUTTON_TEXT,
                &format!("{path}.text"),
                found,
            );
            cap_id(
                element.get_mut("value"),
                BUTTON_VALUE,
                &format!("{path}.value"),
                found,
            );
            cap_id(
                element.get_mut("url"),
                BUTTON_URL,
                &format!("{path}.url"),
                found,
            );
            if let Some(Value::Object(confirm)) = element.get_mut("confirm") {
                let path = format!("{path}.confirm");
                cap_text_object(
                    confirm.get_mut("title"),
                    CONFIRM_TITLE,
                    &format!("{path}.title"),
                    found,
                );
                cap_text_object(
                    confirm.get_mut("text"),
                    CONFIRM_TEXT,
                    &format!("{path}.text"),
                    found,
                );
                cap_text_object(
                    confirm.get_mut("confirm"),
                    CONFIRM_BUTTON,
                    &format!("{path}.confirm"),
                    found,
                );
                cap_text_object(
                    confirm.get_mut("deny"),
                    CONFIRM_BUTTON,
                    &format!("{path}.deny"),
                    found,
                );
            }
        }
        Some("image") => enforce_image(element, path, found),
        _ => {}
    }
}

fn enforce_image(image: &mut Map<String, Value>, path: &str, found: &mut Vec<Violation>) {
    cap_id(
        image.get_mut("image_url"),
        IMAGE_URL,
        &format!("{path}.image_url"),
        found,
    );
    cap_str(
        image.get_mut("alt_text"),
        IMAGE_ALT_TEXT,
        &format!("{path}.alt_text"),
        found,
    );
}

fn enforce_legacy_actions(actions: &mut Vec<Value>, path: &str, found: &mut Vec<Violation>) {
    cap_list(actions, LEGACY_ACTIONS_PER_ATTACHMENT, path, found);
    for (i, action) in actions.iter_mut().enumerate() {
        if let Some(action) = action.as_object_mut() {
            cap_str(
                action.get_mut("text"),
                LEGACY_BUTTON_TEXT,
                &format!("{path}[{i}].text"),
                found,
            );
            cap_id(
                action.get_mut("value"),
                BUTTON_VALUE,
                &format!("{path}[{i}].value"),
                found,
            );
        }
    }
}

fn cap_list(list: &mut Vec<Value>, limit: usize, path: &str, found: &mut Vec<Violation>) {
    if list.len() > limit {
        found.push(violation(path, limit, list.len()));
        list.truncate(limit);
    }
}

/// A text object (`{"type":"mrkdwn","text":…}`): caps its `text`.
fn cap_text_object(
    object: Option<&mut Value>,
    limit: usize,
    path: &str,
    found: &mut Vec<Violation>,
) {
    if let Some(Value::Object(object)) = object {
        cap_str(
            object.get_mut("text"),
            limit,
            &format!("{path}.text"),
            found,
        );
    }
}

fn cap_str(slot: Option<&mut Value>, limit: usize, path: &str, found: &mut Vec<Violation>) {
    if let Some(Value::String(text)) = slot {
        let len = text.chars().count();
        if len > limit {
            found.push(violation(path, limit, len));
            *text = mrkdwn::truncate_visibly(text, limit);
        }
    }
}

fn cap_id(slot: Option<&mut Value>, limit: usize, path: &str, found: &mut Vec<Violation>) {
    if let Some(Value::String(text)) = slot {
        let len = text.chars().count();
        if len > limit {
            found.push(violation(path, limit, len));
            *text = mrkdwn::truncate_plain(text, limit);
        }
    }
}

/// Every block list of the message (top level and inside attachments).
fn block_lists(message: &mut SlackMessage) -> Vec<&mut Vec<Value>> {
    let mut lists = Vec::new();
    if let Some(blocks) = message.blocks.as_mut() {
        lists.push(blocks);
    }
    if let Some(attachments) = message.attachments.as_mut() {
        for attachment in attachments.iter_mut() {
            if let Some(Value::Array(blocks)) = attachment.get_mut("blocks") {
                lists.push(blocks);
            }
        }
    }
    lists
}

fn text_chars(value: &Value) -> usize {
    match value {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items.iter().map(text_chars).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(key, v)| match v {
                Value::String(s) if key == "text" => s.chars().count(),
                Value::String(_) => 0,
                other => text_chars(other),
            })
            .sum(),
        _ => 0,
    }
}

/// Keeps the text of all blocks together under [`BLOCKS_TOTAL_TEXT`] by shortening the longest
/// section texts.
fn enforce_blocks_total(message: &mut SlackMessage, found: &mut Vec<Violation>) {
    let mut lists = block_lists(message);
    let total: usize = lists
        .iter()
        .map(|blocks| blocks.iter().map(text_chars).sum::<usize>())
        .sum();
    if total <= BLOCKS_TOTAL_TEXT {
        return;
    }
    found.push(violation("blocks (all text)", BLOCKS_TOTAL_TEXT, total));
    let mut excess = total - BLOCKS_TOTAL_TEXT;
    // Shorten the longest section texts first; each pass cuts one of them.
    while excess > 0 {
        let mut longest: Option<(usize, usize, usize)> = None;
        for (list_index, blocks) in lists.iter().enumerate() {
            for (block_index, block) in blocks.iter().enumerate() {
                if let Some(len) = section_text(block).map(|t| t.chars().count())
                    && longest.is_none_or(|(_, _, l)| len > l)
                {
                    longest = Some((list_index, block_index, len));
                }
            }
        }
        // Below this, cutting further would leave a section that says nothing.
        const MIN_SECTION: usize = 200;
        let Some((list_index, block_index, len)) = longest.filter(|(_, _, len)| *len > MIN_SECTION)
        else {
            break;
        };
        let new_len = len.saturating_sub(excess).max(MIN_SECTION);
        if let Some(Value::String(text)) = lists[list_index][block_index]
            .get_mut("text")
            .and_then(|t| t.get_mut("text"))
        {
            *text = mrkdwn::truncate_visibly(text, new_len);
        }
        excess = excess.saturating_sub(len - new_len);
    }
}

fn section_text(block: &Value) -> Option<&str> {
    if block.get("type").and_then(Value::as_str) != Some("section") {
        return None;
    }
    block.get("text")?.get("text")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_with_blocks(blocks: Vec<Value>) -> SlackMessage {
        SlackMessage {
            text: "t".into(),
            attachments: Some(vec![json!({"color": "#cccccc", "blocks": blocks})]),
            ..SlackMessage::default()
        }
    }

    fn section_of(message: &SlackMessage, index: usize) -> String {
        message.attachments.as_ref().unwrap()[0]["blocks"][index]["text"]["text"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn long_section_text_is_cut_visibly_to_3000_chars() {
        let long = "é".repeat(5000);
        let mut message = message_with_blocks(vec![
            json!({"type": "section", "text": {"type": "mrkdwn", "text": long}}),
        ]);
        let found = enforce(&mut message);
        let text = section_of(&message, 0);
        assert_eq!(text.chars().count(), SECTION_TEXT);
        assert!(text.ends_with('…'));
        assert_eq!(found[0].path, "attachments[0].blocks[0].text.text");
        assert_eq!(found[0].found, 5000);
    }

    #[test]
    fn buttons_confirm_and_lists_are_capped() {
        let buttons: Vec<Value> = (0..30)
            .map(|i| {
                json!({"type": "button", "action_id": format!("a{i}"), "value": "v",
                       "text": {"type": "plain_text", "text": "x".repeat(80)},
                       "confirm": {"title": {"type": "plain_text", "text": "t".repeat(120)},
                                   "text": {"type": "plain_text", "text": "q"},
                                   "confirm": {"type": "plain_text", "text": "ok"},
                                   "deny": {"type": "plain_text", "text": "no"}}})
            })
            .collect();
        let mut message =
            message_with_blocks(vec![json!({"type": "actions", "elements": buttons})]);
        enforce(&mut message);
        let elements = message.attachments.as_ref().unwrap()[0]["blocks"][0]["elements"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(elements.len(), ACTIONS_ELEMENTS);
        let label = elements[0]["text"]["text"].as_str().unwrap();
        assert_eq!(label.chars().count(), BUTTON_TEXT);
        assert!(label.ends_with('…'));
        assert_eq!(
            elements[0]["confirm"]["title"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            CONFIRM_TITLE
        );
    }

    #[test]
    fn too_many_blocks_end_with_a_visible_note() {
        let blocks = (0..60)
            .map(
                |i| json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("b{i}")}}),
            )
            .collect();
        let mut message = message_with_blocks(blocks);
        let found = enforce(&mut message);
        let blocks = message.attachments.as_ref().unwrap()[0]["blocks"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert_eq!(
            blocks[49]["elements"][0]["text"],
            "… 11 more blocks not shown"
        );
        assert_eq!(found[0].limit, MAX_BLOCKS);
    }

    #[test]
    fn whole_message_stays_under_the_block_text_budget() {
        let blocks = (0..5)
            .map(|_| json!({"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(2900)}}))
            .collect();
        let mut message = message_with_blocks(blocks);
        let found = enforce(&mut message);
        let total: usize = (0..5)
            .map(|i| section_of(&message, i).chars().count())
            .sum();
        assert!(total <= BLOCKS_TOTAL_TEXT, "total {total}");
        assert!(found.iter().any(|v| v.limit == BLOCKS_TOTAL_TEXT));
    }

    #[test]
    fn legacy_attachments_keep_five_actions_and_top_text_4000() {
        let actions: Vec<Value> = (0..7)
            .map(|i| json!({"type": "button", "name": "n", "text": format!("b{i}"), "value": "v"}))
            .collect();
        let mut message = SlackMessage {
            text: "y".repeat(4100),
            attachments: Some(vec![json!({"text": "t", "actions": actions})]),
            ..SlackMessage::default()
        };
        enforce(&mut message);
        assert_eq!(
            message.attachments.as_ref().unwrap()[0]["actions"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        assert_eq!(message.text.chars().count(), TOP_LEVEL_TEXT);
    }

    #[test]
    fn structure_problems_name_what_slack_rejects() {
        let message = SlackMessage {
            text: " ".into(),
            attachments: Some(vec![json!({"blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": ""}},
                {"text": "no type"},
                {"type": "actions", "elements": [{"type": "button", "action_id": "a"}]}
            ]})]),
            ..SlackMessage::default()
        };
        let problems = structure_problems(&message);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("top-level"));
        assert!(problems[1].contains("attachments[0].blocks[0]"));
        assert!(problems[3].contains("without a label"));
    }

    #[test]
    fn messages_within_limits_are_untouched() {
        let mut message = message_with_blocks(vec![
            json!({"type": "section", "text": {"type": "mrkdwn", "text": "ok"}}),
        ]);
        let before = message.clone();
        assert!(enforce(&mut message).is_empty());
        assert_eq!(message, before);
    }
}
