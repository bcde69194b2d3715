//! Slack's `mrkdwn`, rendered to HTML the way the Slack client shows it, minimally: `*bold*`,
//! `_italic_`, `~strike~`, `` `code` ``, ```` ```pre``` ````, `<url|label>` links, `<@U…>` user
//! and `<#C…>` channel mentions, `<!here>`-style commands, `<!date^…|fallback>` (shown as its
//! fallback), `:emoji:` shortcodes for the few Reverb uses, and Slack's `&amp;`/`&lt;`/`&gt;`.
//! Newlines stay newlines (the page shows text with `white-space: pre-wrap`).
//!
//! The text is first cut into characters and ready-made HTML atoms (links, mentions, code), then
//! emphasis is matched over that sequence, so `*<url|label>*` comes out bold. Every character of
//! the input reaches the page escaped.

use super::directory::Directory;
use super::html::{escape, safe_href};

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Char(char),
    /// Finished HTML (already escaped).
    Atom(String),
}

/// `mrkdwn` text → HTML.
pub(crate) fn to_html(text: &str, directory: &Directory) -> String {
    let pieces = tokenize(text, directory);
    let mut out = String::with_capacity(text.len() + 16);
    emphasize(&pieces, &mut out);
    out
}

/// `plain_text` → HTML: escaped, with emoji shortcodes when `emoji` is on (Slack's default).
pub(crate) fn plain_to_html(text: &str, emoji: bool) -> String {
    if !emoji {
        return escape(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < chars.len() {
        if chars[index] == ':'
            && let Some((glyph, next)) = emoji_at(&chars, index)
        {
            out.push_str(glyph);
            index = next;
            continue;
        }
        out.push_str(&escape(&chars[index].to_string()));
        index += 1;
    }
    out
}

/// Text Slack shows without formatting (attachment titles, field titles, confirm texts): its
/// `&amp;`/`&lt;`/`&gt;` decoded, emoji shown, everything escaped.
pub(crate) fn slack_text_to_html(text: &str) -> String {
    plain_to_html(&decode_entities(text), true)
}

fn tokenize(text: &str, directory: &Directory) -> Vec<Piece> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::with_capacity(chars.len());
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if c == '`' && starts_with(&chars, index, "```") {
            if let Some(end) = find_seq(&chars, index + 3, "```") {
                let mut body: String = chars[index + 3..end].iter().collect();
                if body.starts_with('\n') {
                    body.remove(0);
                }
                pieces.push(Piece::Atom(format!(
                    "<pre>{}</pre>",
                    escape(&decode_entities(&body))
                )));
                index = end + 3;
                continue;
            }
        } else if c == '`' {
            if let Some(end) = find_on_line(&chars, index + 1, '`')
                && end > index + 1
            {
                let body: String = chars[index + 1..end].iter().collect();
                pieces.push(Piece::Atom(format!(
                    "<code>{}</code>",
                    escape(&decode_entities(&body))
                )));
                index = end + 1;
                continue;
            }
        } else if c == '<' {
            if let Some(end) = find_on_line(&chars, index + 1, '>') {
                let inner: String = chars[index + 1..end].iter().collect();
                pieces.push(Piece::Atom(angle_to_html(&inner, directory)));
                index = end + 1;
                continue;
            }
        } else if c == '&' {
            if let Some((decoded, next)) = entity_at(&chars, index) {
                pieces.push(Piece::Char(decoded));
                index = next;
                continue;
            }
        } else if c == ':'
            && let Some((glyph, next)) = emoji_at(&chars, index)
        {
            pieces.push(Piece::Atom(glyph.to_owned()));
            index = next;
            continue;
        }
        pieces.push(Piece::Char(c));
        index += 1;
    }
    pieces
}

fn starts_with(chars: &[char], at: usize, needle: &str) -> bool {
    let needle: Vec<char> = needle.chars().collect();
    chars.get(at..at + needle.len()) == Some(needle.as_slice())
}

fn find_seq(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    (from..chars.len()).find(|&at| starts_with(chars, at, needle))
}

fn find_on_line(chars: &[char], from: usize, wanted: char) -> Option<usize> {
    chars
        .iter()
        .enumerate()
        .skip(from)
        .take_while(|(_, c)| **c != '\n')
        .find(|(_, c)| **c == wanted)
        .map(|(at, _)| at)
}

/// Slack escapes exactly these three in message text.
const ENTITIES: &[(&str, char)] = &[("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')];

fn entity_at(chars: &[char], at: usize) -> Option<(char, usize)> {
    ENTITIES.iter().find_map(|(entity, decoded)| {
        starts_with(chars, at, entity).then(|| (*decoded, at + entity.len()))
    })
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The shortcodes Reverb's messages use, plus a few common ones; others stay as text.
const EMOJI: &[(&str, &str)] = &[
    ("white_check_mark", "\u{2705}"),
    ("heavy_check_mark", "\u{2714}\u{fe0f}"),
    ("no_entry", "\u{26d4}"),
    ("no_entry_sign", "\u{1f6ab}"),
    ("octagonal_sign", "\u{1f6d1}"),
    ("x", "\u{274c}"),
    ("warning", "\u{26a0}\u{fe0f}"),
    ("rocket", "\u{1f680}"),
    ("grey_question", "\u{2754}"),
    ("question", "\u{2753}"),
    ("hourglass", "\u{231b}"),
    ("hourglass_flowing_sand", "\u{23f3}"),
    ("stopwatch", "\u{23f1}\u{fe0f}"),
    ("tada", "\u{1f389}"),
    ("fire", "\u{1f525}"),
    ("rotating_light", "\u{1f6a8}"),
    ("construction", "\u{1f6a7}"),
    ("eyes", "\u{1f440}"),
    ("bell", "\u{1f514}"),
    ("lock", "\u{1f512}"),
    ("information_source", "\u{2139}\u{fe0f}"),
    ("large_green_circle", "\u{1f7e2}"),
    ("red_circle", "\u{1f534}"),
    ("large_blue_circle", "\u{1f535}"),
    ("thumbsup", "\u{1f44d}"),
    ("+1", "\u{1f44d}"),
    ("thumbsdown", "\u{1f44e}"),
    ("-1", "\u{1f44e}"),
    ("ship", "\u{1f6a2}"),
];

fn emoji_at(chars: &[char], at: usize) -> Option<(&'static str, usize)> {
    let end = chars
        .iter()
        .enumerate()
        .skip(at + 1)
        .take(40)
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-')))
        .filter(|(_, c)| **c == ':')
        .map(|(end, _)| end)?;
    let name: String = chars[at + 1..end].iter().collect();
    EMOJI
        .iter()
        .find(|(code, _)| *code == name)
        .map(|(_, glyph)| (*glyph, end + 1))
}

/// `<…>`: a link, a mention, or a special command.
fn angle_to_html(inner: &str, directory: &Directory) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) => (target, Some(label)),
        None => (inner, None),
    };
    if let Some(user) = target.strip_prefix('@') {
        let name = directory
            .user_name(user)
            .map(str::to_owned)
            .or_else(|| label.map(decode_entities))
            .unwrap_or_else(|| user.to_owned());
        return format!(
            r#"<span class="mention" data-user="{}">@{}</span>"#,
            escape(user),
            escape(&name)
        );
    }
    if let Some(channel) = target.strip_prefix('#') {
        let name = directory
            .channel_name(channel)
            .map(str::to_owned)
            .or_else(|| label.map(decode_entities))
            .unwrap_or_else(|| channel.to_owned());
        return format!(r#"<span class="mention">#{}</span>"#, escape(&name));
    }
    if let Some(command) = target.strip_prefix('!') {
        let shown = match (command, label) {
            ("here" | "channel" | "everyone", _) => format!("@{command}"),
            (_, Some(label)) => decode_entities(label),
            (command, None) => format!("@{}", command.split('^').next().unwrap_or(command)),
        };
        let class = if command.starts_with("date^") {
            "date"
        } else {
            "mention"
        };
        return format!(r#"<span class="{class}">{}</span>"#, escape(&shown));
    }
    let url = decode_entities(target);
    match (safe_href(&url), label) {
        (Some(href), label) => format!(
            r#"<a href="{href}" target="_blank" rel="noopener noreferrer">{}</a>"#,
            escape(&label.map_or_else(|| url.clone(), decode_entities))
        ),
        // Not a link Slack would follow: its label, or the text as the app sent it.
        (None, Some(label)) => escape(&decode_entities(label)),
        (None, None) => escape(&format!("<{}>", decode_entities(inner))),
    }
}

fn tag_for(marker: char) -> Option<&'static str> {
    match marker {
        '*' => Some("b"),
        '_' => Some("i"),
        '~' => Some("s"),
        _ => None,
    }
}

fn is_space(piece: Option<&Piece>) -> bool {
    matches!(piece, Some(Piece::Char(c)) if c.is_whitespace())
}

/// Emphasis may open at the start, after a space or punctuation, before something visible.
fn opens(pieces: &[Piece], at: usize) -> bool {
    let before_ok = match at.checked_sub(1).and_then(|before| pieces.get(before)) {
        None => true,
        Some(Piece::Char(c)) => !c.is_alphanumeric(),
        Some(Piece::Atom(_)) => true,
    };
    before_ok && pieces.get(at + 1).is_some() && !is_space(pieces.get(at + 1))
}

/// The matching marker on the same line: after something visible, before a boundary.
fn closer(pieces: &[Piece], open: usize, marker: char) -> Option<usize> {
    for at in open + 2..pieces.len() {
        match &pieces[at] {
            Piece::Char('\n') => return None,
            Piece::Char(c) if *c == marker => {
                let after_ok = match pieces.get(at + 1) {
                    None | Some(Piece::Atom(_)) => true,
                    Some(Piece::Char(next)) => !next.is_alphanumeric(),
                };
                if !is_space(pieces.get(at - 1)) && after_ok {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}

fn emphasize(pieces: &[Piece], out: &mut String) {
    let mut at = 0;
    while at < pieces.len() {
        match &pieces[at] {
            Piece::Atom(html) => out.push_str(html),
            Piece::Char(c) => {
                if let Some(tag) = tag_for(*c)
                    && opens(pieces, at)
                    && let Some(end) = closer(pieces, at, *c)
                {
                    out.push_str(&format!("<{tag}>"));
                    emphasize(&pieces[at + 1..end], out);
                    out.push_str(&format!("</{tag}>"));
                    at = end + 1;
                    continue;
                }
                let mut buffer = [0u8; 4];
                out.push_str(&escape(c.encode_utf8(&mut buffer)));
            }
        }
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::{SlackChannel, SlackUser};

    fn directory() -> Directory {
        Directory::new(
            vec![SlackUser::new(
                "U0JANE0001",
                "jane",
                "Jane Doe",
                Some("jane@example.com"),
            )],
            vec![SlackChannel::public("C0DEPLOY01", "deploy-approvals")],
        )
    }

    fn html(text: &str) -> String {
        to_html(text, &directory())
    }

    #[test]
    fn bold_italic_strike_and_code() {
        assert_eq!(
            html("*Approved* _now_ ~later~ `x<y`"),
            "<b>Approved</b> <i>now</i> <s>later</s> <code>x&lt;y</code>"
        );
        assert_eq!(
            html("```\nline 1\n*not bold*```"),
            "<pre>line 1\n*not bold*</pre>"
        );
    }

    #[test]
    fn markers_inside_words_and_unclosed_markers_stay_text() {
        assert_eq!(html("snake_case_name"), "snake_case_name");
        assert_eq!(html("2 * 3 = 6"), "2 * 3 = 6");
        assert_eq!(html("*open\nclose*"), "*open\nclose*");
    }

    #[test]
    fn links_and_emphasis_around_them() {
        assert_eq!(
            html(
                "Stage <https://deck/#/a?x=1&amp;y=2|Approve &amp; ship> for *<https://deck|myapp>*"
            ),
            "Stage <a href=\"https://deck/#/a?x=1&amp;y=2\" target=\"_blank\" rel=\"noopener noreferrer\">Approve &amp; ship</a> for <b><a href=\"https://deck\" target=\"_blank\" rel=\"noopener noreferrer\">myapp</a></b>"
        );
        assert_eq!(html("<javascript:alert(1)|click>"), "click");
    }

    #[test]
    fn mentions_dates_and_commands() {
        assert_eq!(
            html("by <@U0JANE0001> in <#C0DEPLOY01>"),
            "by <span class=\"mention\" data-user=\"U0JANE0001\">@jane</span> in <span class=\"mention\">#deploy-approvals</span>"
        );
        assert_eq!(
            html("<@U0NOBODY1|someone> <!here>"),
            "<span class=\"mention\" data-user=\"U0NOBODY1\">@someone</span> <span class=\"mention\">@here</span>"
        );
        assert_eq!(
            html("<!date^1712570401^{date_short} at {time}|Apr 8, 2024 10:00 UTC>"),
            "<span class=\"date\">Apr 8, 2024 10:00 UTC</span>"
        );
    }

    #[test]
    fn emoji_and_entities() {
        assert_eq!(
            html(":white_check_mark: &lt;b&gt; :not_an_emoji:"),
            "\u{2705} &lt;b&gt; :not_an_emoji:"
        );
        assert_eq!(
            plain_to_html("Deploy :rocket: <b>", true),
            "Deploy \u{1f680} &lt;b&gt;"
        );
        assert_eq!(plain_to_html(":rocket:", false), ":rocket:");
    }

    #[test]
    fn raw_markup_is_escaped_everywhere() {
        let out = html("<script>alert(1)</script> \"quoted\" <img src=x onerror=alert(1)>");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("&quot;quoted&quot;"), "{out}");
    }
}
