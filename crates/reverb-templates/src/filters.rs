//! The Tera filters and tests Reverb's templates use, registered on every engine.
//!
//! | name | kind | does |
//! | --- | --- | --- |
//! | `mrkdwn` | filter | escapes `&`, `<`, `>` for Slack (labels and text) |
//! | `slack_url` | filter | percent-encodes what could end a `<url|label>` link or start markup |
//! | `html_to_text` | filter | Echo's HTML → plain text, unescaped |
//! | `html_to_mrkdwn` | filter | Echo's HTML → plain text, escaped for Slack (links kept) |
//! | `markdown_to_html` | filter | CommonMark → HTML (Echo's default formatter) |
//! | `capitalize_words` | filter | upper-cases the first letter of each whitespace-separated word |
//! | `thousands` | filter | `12345` → `12,345` (FreeMarker's default number format) |
//! | `slack_date` | filter | epoch seconds → `<!date^…^{date_short_pretty} {time}|… UTC>` |
//! | `none` | test | true for null or undefined values (`x is not none`: FreeMarker's `x??`) |

use std::collections::HashMap;

use serde_json::Value;
use tera::Tera;

use crate::{html_text, markdown, mrkdwn};

pub(crate) fn register(tera: &mut Tera) {
    tera.register_filter("mrkdwn", string_filter(mrkdwn::escape));
    tera.register_filter("slack_url", string_filter(mrkdwn::link_url));
    tera.register_filter("html_to_text", string_filter(html_text::html_to_text));
    tera.register_filter("html_to_mrkdwn", string_filter(html_text::html_to_mrkdwn));
    tera.register_filter(
        "markdown_to_html",
        string_filter(markdown::markdown_to_html),
    );
    tera.register_filter("capitalize_words", string_filter(capitalize_words));
    tera.register_filter("thousands", string_filter(group_thousands));
    tera.register_filter("slack_date", slack_date_filter);
    tera.register_tester("none", |value: Option<&Value>, _args: &[Value]| {
        Ok(value.is_none_or(Value::is_null))
    });
}

/// Wraps a `&str → String` function as a filter. Null becomes an empty string and numbers or
/// booleans their JSON text, so a missing optional value never aborts a send.
fn string_filter(
    f: fn(&str) -> String,
) -> impl Fn(&Value, &HashMap<String, Value>) -> tera::Result<Value> + Send + Sync {
    move |value: &Value, _args: &HashMap<String, Value>| Ok(Value::String(f(&value_text(value))))
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// commons-lang `WordUtils.capitalize`: the first character of every whitespace-delimited word
/// is upper-cased, the rest is left alone (`my app` → `My App`, `myApp` → `MyApp`).
pub fn capitalize_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if is_java_whitespace(c) {
            at_word_start = true;
            out.push(c);
        } else if at_word_start {
            at_word_start = false;
            let mut upper = c.to_uppercase();
            // Java's toTitleCase maps one char to one char; keep characters whose upper case is
            // longer (e.g. 'ß') unchanged, as Java does.
            match (upper.next(), upper.next()) {
                (Some(u), None) => out.push(u),
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_java_whitespace(c: char) -> bool {
    (c.is_whitespace() && !matches!(c, '\u{A0}' | '\u{2007}' | '\u{202F}'))
        || ('\u{1C}'..='\u{1F}').contains(&c)
}

/// Groups the digits of an integer in threes (`12345` → `12,345`), as FreeMarker's `${n}` does
/// with the usual JVM locale. Anything that is not an integer is returned unchanged.
pub fn group_thousands(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + digits.len() / 3);
    out.push_str(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn slack_date_filter(value: &Value, _args: &HashMap<String, Value>) -> tera::Result<Value> {
    let seconds = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(Value::String(seconds.map(slack_date).unwrap_or_default()))
}

/// A Slack date token: every reader sees the time in their own time zone; clients that cannot
/// format it show the UTC fallback.
pub fn slack_date(epoch_seconds: i64) -> String {
    format!(
        "<!date^{epoch_seconds}^{{date_short_pretty}} {{time}}|{}>",
        utc_minutes(epoch_seconds)
    )
}

pub use reverb_support::clock::{civil_from_days, utc_minutes};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitalizes_like_word_utils() {
        assert_eq!(capitalize_words("whatever"), "Whatever");
        assert_eq!(capitalize_words("my app\tx"), "My App\tX");
        assert_eq!(capitalize_words("myApp"), "MyApp");
        assert_eq!(capitalize_words("a\u{A0}b"), "A\u{A0}b");
        assert_eq!(capitalize_words(""), "");
    }

    #[test]
    fn groups_integers_only() {
        assert_eq!(group_thousands("12345"), "12,345");
        assert_eq!(group_thousands("123"), "123");
        assert_eq!(group_thousands("1234567"), "1,234,567");
        assert_eq!(group_thousands("-1000"), "-1,000");
        assert_eq!(group_thousands("42a"), "42a");
    }

    #[test]
    fn formats_slack_date_tokens() {
        assert_eq!(utc_minutes(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minutes(1_712_570_715), "2024-04-08 10:05 UTC");
        assert_eq!(utc_minutes(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(
            slack_date(1_712_570_715),
            "<!date^1712570715^{date_short_pretty} {time}|2024-04-08 10:05 UTC>"
        );
    }
}
