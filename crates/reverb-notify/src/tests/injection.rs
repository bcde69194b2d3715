//! One escaping rule for Slack text, checked by brute force: every string of every input that
//! reaches a template is replaced, one at a time, by each string of an injection corpus, and no
//! rendered mrkdwn may then hold a mention, a broadcast or a link that the input made
//! (docs/security.md, "Slack markup"). Fields whose authors write Slack syntax on purpose are left
//! out, as in Echo.

use reverb_model::judgment::ButtonKey;
use reverb_model::{Event, Notification, OutboundMessage};
use reverb_templates::MessageStyle;
use serde_json::Value;

use super::{ctx, templates};
use crate::{NotificationPlan, NotifyContext, plan_event, plan_notification};

const CORPUS: &[&str] = &[
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0EVIL0001>",
    "<#C0EVIL0001>",
    "<https://evil.example|Open Spinnaker>",
    "3>|x <!channel> <https://evil.example|Open Spinnaker",
    "a|b>c",
];

/// Keys whose values are Slack text by intent (Echo passes them on as they are).
const AUTHORED: &[&str] = &[
    "customMessage",
    "customBody",
    "customSubject",
    "body",
    "subject",
    "text",
];

fn inputs() -> Vec<(&'static str, Value)> {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    vec![
        (
            "event",
            parse(include_str!(
                "../../testdata/orca/event-pipeline-complete.json"
            )),
        ),
        (
            "event",
            parse(include_str!(
                "../../testdata/orca/event-pipeline-failed-with-build.json"
            )),
        ),
        (
            "event",
            parse(include_str!(
                "../../testdata/orca/event-stage-complete-deploy.json"
            )),
        ),
        (
            "notification",
            parse(include_str!(
                "../../testdata/orca/notification-manual-judgment.json"
            )),
        ),
        (
            "notification",
            parse(include_str!(
                "../../testdata/orca/notification-manual-judgment-continue.json"
            )),
        ),
    ]
}

/// JSON pointers of every string leaf, except authored text.
fn string_leaves(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::String(_) => out.push(at),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_leaves(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if !AUTHORED.contains(&key.as_str()) {
                    string_leaves(
                        item,
                        format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
        }
        _ => {}
    }
}

fn plan(
    kind: &str,
    input: &Value,
    ctx: &NotifyContext,
    style: MessageStyle,
) -> Vec<OutboundMessage> {
    let engine = templates(style);
    match kind {
        "event" => match serde_json::from_value::<Event>(input.clone()) {
            Ok(event) => plan_event(&event, ctx, &engine),
            Err(_) => Vec::new(),
        },
        _ => match serde_json::from_value::<Notification>(input.clone())
            .ok()
            .and_then(|n| plan_notification(&n, ctx, &engine).ok())
        {
            Some(NotificationPlan::Slack(messages)) => messages,
            _ => Vec::new(),
        },
    }
}

/// The mrkdwn strings of a message: the top-level text, attachment text and pretext, and
/// Block Kit text objects of type `mrkdwn`.
fn mrkdwn_strings(message: &Value, out: &mut Vec<String>) {
    match message {
        Value::Object(map) => {
            let is_mrkdwn_object = map.get("type").and_then(Value::as_str) == Some("mrkdwn");
            // A legacy button's confirmation dialog is plain text.
            if map.contains_key("ok_text") {
                return;
            }
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("text", Value::String(s)) if is_mrkdwn_object || !map.contains_key("type") => {
                        out.push(s.clone())
                    }
                    ("pretext", Value::String(s)) => out.push(s.clone()),
                    _ => mrkdwn_strings(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| mrkdwn_strings(i, out)),
        _ => {}
    }
}

/// Every `<…>` token must be one Reverb made: a date, or a link whose target has no markup.
fn check(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after
            .find('>')
            .ok_or_else(|| format!("an unclosed '<' in {text:?}"))?;
        let token = &after[..close];
        let target = token.split('|').next().unwrap_or_default();
        if token.starts_with("!date^") {
            // Reverb's own date; its parts are digits and a fixed format.
        } else if token.starts_with('!') || token.starts_with('@') || token.starts_with('#') {
            return Err(format!("live markup <{token}> in {text:?}"));
        } else if target.contains(char::is_whitespace) || target.contains('<') {
            return Err(format!("a link target with markup <{token}> in {text:?}"));
        } else if let Some(host) = target
            .strip_prefix("https://")
            .or_else(|| target.strip_prefix("http://"))
            .map(|r| r.split(['/', '?', '#']).next().unwrap_or_default())
            && host.contains("evil")
        {
            return Err(format!("a link to an injected host <{token}> in {text:?}"));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

#[test]
fn no_input_field_can_inject_slack_markup() {
    let ctx = NotifyContext {
        judgment_buttons: Some(ButtonKey::from_bytes(&[1; ButtonKey::LEN])),
        ..ctx()
    };
    let mut rendered = 0usize;
    for (kind, input) in inputs() {
        let mut leaves = Vec::new();
        string_leaves(&input, String::new(), &mut leaves);
        for pointer in &leaves {
            for injection in CORPUS {
                let mut changed = input.clone();
                if let Some(slot) = changed.pointer_mut(pointer) {
                    *slot = Value::String((*injection).to_string());
                }
                for style in [MessageStyle::Blocks, MessageStyle::Attachments] {
                    for message in plan(kind, &changed, &ctx, style) {
                        let json = serde_json::to_value(message.message()).unwrap();
                        let mut texts = Vec::new();
                        mrkdwn_strings(&json, &mut texts);
                        for text in texts {
                            rendered += 1;
                            if let Err(why) = check(&text) {
                                panic!("{kind} with {pointer} = {injection:?}: {why}");
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        rendered > 1_000,
        "the corpus reached the templates ({rendered} texts)"
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    assert!(check("fine <http://spinnaker/x|label> text").is_ok());
    assert!(check("<!date^1^{date_short_pretty}|x>").is_ok());
    assert!(check("ping <!channel>").is_err());
    assert!(check("<@U1> hi").is_err());
    assert!(check("<https://evil.example|Open>").is_err());
    assert!(check("<http://a/ x|y>").is_err());
}
