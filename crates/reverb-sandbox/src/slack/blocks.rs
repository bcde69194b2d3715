//! The Block Kit limits Slack enforces on `chat.postMessage`/`chat.update` (docs/templates.md,
//! "Limits and truncation"), answered the way Slack answers: `invalid_blocks` plus `response_metadata.messages`
//! lines such as `[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]`.

use serde_json::Value;

const MAX_BLOCKS: usize = 50;
const MAX_SECTION_TEXT: usize = 3000;
const MAX_HEADER_TEXT: usize = 150;
const MAX_SECTION_FIELDS: usize = 10;
const MAX_FIELD_TEXT: usize = 2000;
const MAX_ACTIONS_ELEMENTS: usize = 25;
const MAX_CONTEXT_ELEMENTS: usize = 10;
const MAX_BUTTON_TEXT: usize = 75;
const MAX_BUTTON_VALUE: usize = 2000;
const MAX_ACTION_ID: usize = 255;
const MAX_BLOCK_ID: usize = 255;
pub(crate) const MAX_ATTACHMENTS: usize = 100;

/// Why a `blocks` argument was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlocksError {
    /// Not a JSON array of objects: `invalid_blocks_format`.
    Format,
    /// Breaks a limit: `invalid_blocks` with these messages.
    Invalid(Vec<String>),
}

pub(crate) fn validate(blocks: &Value) -> Result<(), BlocksError> {
    let Some(list) = blocks.as_array() else {
        return Err(BlocksError::Format);
    };
    if list
        .iter()
        .any(|block| block.get("type").and_then(Value::as_str).is_none())
    {
        return Err(BlocksError::Format);
    }
    let mut problems = Vec::new();
    if list.len() > MAX_BLOCKS {
        problems.push(format!(
            "[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
        ));
    }
    for (index, block) in list.iter().enumerate() {
        check_block(block, &format!("/blocks/{index}"), &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BlocksError::Invalid(problems))
    }
}

fn check_block(block: &Value, pointer: &str, problems: &mut Vec<String>) {
    check_len(
        block.get("block_id"),
        MAX_BLOCK_ID,
        &format!("{pointer}/block_id"),
        problems,
    );
    match block.get("type").and_then(Value::as_str) {
        Some("section") => {
            check_text(
                block.get("text"),
                MAX_SECTION_TEXT,
                &format!("{pointer}/text/text"),
                problems,
            );
            if let Some(fields) = block.get("fields").and_then(Value::as_array) {
                if fields.len() > MAX_SECTION_FIELDS {
                    problems.push(format!(
                        "[ERROR] no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{pointer}/fields]"
                    ));
                }
                for (index, field) in fields.iter().enumerate() {
                    check_text(
                        Some(field),
                        MAX_FIELD_TEXT,
                        &format!("{pointer}/fields/{index}/text"),
                        problems,
                    );
                }
            }
            if let Some(accessory) = block.get("accessory") {
                check_element(accessory, &format!("{pointer}/accessory"), problems);
            }
        }
        Some("header") => check_text(
            block.get("text"),
            MAX_HEADER_TEXT,
            &format!("{pointer}/text/text"),
            problems,
        ),
        Some("actions") => {
            let elements = block
                .get("elements")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if elements.len() > MAX_ACTIONS_ELEMENTS {
                problems.push(format!(
                    "[ERROR] no more than {MAX_ACTIONS_ELEMENTS} items allowed [json-pointer:{pointer}/elements]"
                ));
            }
            for (index, element) in elements.iter().enumerate() {
                check_element(element, &format!("{pointer}/elements/{index}"), problems);
            }
        }
        Some("context") => {
            let count = block
                .get("elements")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if count > MAX_CONTEXT_ELEMENTS {
                problems.push(format!(
                    "[ERROR] no more than {MAX_CONTEXT_ELEMENTS} items allowed [json-pointer:{pointer}/elements]"
                ));
            }
        }
        _ => {}
    }
}

fn check_element(element: &Value, pointer: &str, problems: &mut Vec<String>) {
    check_len(
        element.get("action_id"),
        MAX_ACTION_ID,
        &format!("{pointer}/action_id"),
        problems,
    );
    if element.get("type").and_then(Value::as_str) == Some("button") {
        check_text(
            element.get("text"),
            MAX_BUTTON_TEXT,
            &format!("{pointer}/text/text"),
            problems,
        );
        check_len(
            element.get("value"),
            MAX_BUTTON_VALUE,
            &format!("{pointer}/value"),
            problems,
        );
    }
}

/// A text object `{type, text}`; Slack counts characters, not bytes.
fn check_text(text_object: Option<&Value>, max: usize, pointer: &str, problems: &mut Vec<String>) {
    check_len(
        text_object.and_then(|object| object.get("text")),
        max,
        pointer,
        problems,
    );
}

fn check_len(value: Option<&Value>, max: usize, pointer: &str, problems: &mut Vec<String>) {
    if let Some(text) = value.and_then(Value::as_str)
        && text.chars().count() > max
    {
        problems.push(format!(
            "[ERROR] must be less than {} characters [json-pointer:{pointer}]",
            max + 1
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_a_judgment_message() {
        let blocks = json!([
            {"type": "header", "text": {"type": "plain_text", "text": "Approve production"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*myapp* deploy-prod"}},
            {"type": "actions", "block_id": "judgment", "elements": [
                {"type": "button", "action_id": "judgment.continue", "text": {"type": "plain_text", "text": "Approve"}, "value": "x", "style": "primary"}
            ]}
        ]);
        assert_eq!(validate(&blocks), Ok(()));
    }

    #[test]
    fn reports_overlong_section_text_with_a_json_pointer() {
        let blocks = json!([{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": "é".repeat(3001)}}]);
        assert_eq!(
            validate(&blocks),
            Err(BlocksError::Invalid(vec![
                "[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"
                    .to_owned()
            ]))
        );
        // 3000 multi-byte characters are fine: the limit counts characters.
        let ok = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "é".repeat(3000)}}]);
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn too_many_blocks_and_bad_shapes() {
        let many = Value::Array(vec![json!({"type": "divider"}); 51]);
        assert!(matches!(validate(&many), Err(BlocksError::Invalid(_))));
        assert_eq!(
            validate(&json!({"type": "divider"})),
            Err(BlocksError::Format)
        );
        assert_eq!(
            validate(&json!([{"text": "no type"}])),
            Err(BlocksError::Format)
        );
    }
}
