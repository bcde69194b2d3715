//! Properties of the HTML → text scanner on generated input: it never panics (any Unicode, any
//! half-written markup), tags and comments vanish while the text between them survives in
//! order, plain text is only whitespace-collapsed, and the Slack variant never lets markup
//! through outside the links it makes itself.

use proptest::prelude::*;

use super::{html_to_mrkdwn, html_to_text};
use crate::mrkdwn::escape;

/// Whitespace the conversion collapses (jsoup's set, with the no-break space).
fn is_collapsed_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{C}' | '\u{A0}')
}

/// What Echo's conversion makes of markup-free text: each whitespace run becomes one space,
/// nothing is trimmed, and a text that is only a space is dropped.
fn collapsed(text: &str) -> String {
    let mut out = String::new();
    let mut in_space = false;
    for c in text.chars() {
        if is_collapsed_space(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    if out == " " { String::new() } else { out }
}

fn non_space(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Undoes [`escape`] in one left-to-right pass.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let (c, len) = if rest.starts_with("&amp;") {
            ('&', 5)
        } else if rest.starts_with("&lt;") {
            ('<', 4)
        } else if rest.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(c);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// Checks the Slack variant's output: every `<` opens one of our ` <url>` links (after a space,
/// closed by `>`, with no `<` or `|` inside), no `>` stands alone, and outside links the only
/// entities are the three escapes.
fn slack_markup_problem(out: &str) -> Option<String> {
    let mut in_link = false;
    let mut previous = None;
    for (index, c) in out.char_indices() {
        match (in_link, c) {
            (false, '<') if previous != Some(' ') => {
                return Some(format!("'<' not after a space at {index}"));
            }
            (false, '<') => in_link = true,
            (false, '>') => return Some(format!("stray '>' at {index}")),
            (false, '&') => {
                let rest = &out[index..];
                if !["&amp;", "&lt;", "&gt;"]
                    .iter()
                    .any(|e| rest.starts_with(e))
                {
                    return Some(format!("unescaped '&' at {index}"));
                }
            }
            (true, '<' | '|') => return Some(format!("'{c}' inside a link at {index}")),
            (true, '>') => in_link = false,
            _ => {}
        }
        previous = Some(c);
    }
    in_link.then(|| "unclosed link".to_string())
}

/// Pieces that look like markup, to reach the scanner's edge cases more often than random text.
fn markup_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "<", ">", "</", "/>", "<!--", "-->", "<!", "<?", "&", "&#", "&#x", ";", "=", "\"", "'",
            " ", "\n", "\t", "\u{A0}", "p", "a", "li", "br", "script", "style", "title",
            "textarea", "h1", "td", "tr", "dl", "dt", "href", "http://x", "amp", "lt", "nbsp",
            "1234", "FFFF", "110000", "é", "日本", "🎉", "\u{0}", "\u{FFFD}", "\u{200B}",
        ])
        .prop_map(str::to_string),
        "\\PC{0,4}",
    ]
}

fn markup_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(markup_fragment(), 0..40).prop_map(|parts| parts.concat())
}

/// Text with no markup in it (`<` and `&` excluded), any other Unicode allowed.
fn plain_text() -> impl Strategy<Value = String> {
    "[^<&]{0,24}"
}

/// Element names that add only whitespace to the text (`li` adds `*`, `a` adds its URL, and
/// `script`/`style`/`title`/`textarea` change how their content is read).
const NAMES: &[&str] = &[
    "p",
    "div",
    "span",
    "b",
    "i",
    "em",
    "strong",
    "code",
    "pre",
    "br",
    "hr",
    "img",
    "h1",
    "h3",
    "h6",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "td",
    "th",
    "section",
    "blockquote",
    "x-custom",
];

fn element_name() -> impl Strategy<Value = String> {
    (prop::sample::select(NAMES), any::<u32>()).prop_map(|(name, case_mask)| {
        // Tag names are matched in any case.
        name.chars()
            .enumerate()
            .map(|(i, c)| {
                if case_mask >> (i % 32) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    })
}

fn attributes() -> impl Strategy<Value = String> {
    let attribute = prop_oneof![
        // Quoted values may hold `>`, `<`, `/` and anything but their own quote.
        "[a-z][a-z-]{0,5}=\"[^\"]{0,12}\"",
        "[a-z][a-z-]{0,5}='[^']{0,12}'",
        "[a-z][a-z-]{0,5}=[a-z0-9é]{1,6}",
        "[a-z][a-z-]{0,5}",
    ];
    prop::collection::vec(attribute, 0..3)
        .prop_map(|attrs| attrs.iter().map(|a| format!(" {a}")).collect::<String>())
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Open(String, String),
    Close(String),
    SelfClosed(String, String),
    Comment(String),
    Declaration,
    Link { href: String, text: String },
}

impl Piece {
    fn html(&self) -> String {
        match self {
            Piece::Text(text) => text.clone(),
            Piece::Open(name, attrs) => format!("<{name}{attrs}>"),
            Piece::Close(name) => format!("</{name}>"),
            Piece::SelfClosed(name, attrs) => format!("<{name}{attrs}/>"),
            Piece::Comment(text) => format!("<!--{text}-->"),
            Piece::Declaration => "<!DOCTYPE html>".to_string(),
            Piece::Link { href, text } => format!("<a href=\"{href}\">{text}</a>"),
        }
    }
}

fn piece(with_links: bool) -> BoxedStrategy<Piece> {
    let text = plain_text().prop_map(Piece::Text);
    let open = (element_name(), attributes()).prop_map(|(n, a)| Piece::Open(n, a));
    let close = element_name().prop_map(Piece::Close);
    let self_closed = (element_name(), attributes()).prop_map(|(n, a)| Piece::SelfClosed(n, a));
    let comment = "[^>]{0,10}".prop_map(Piece::Comment);
    let declaration = Just(Piece::Declaration);
    if with_links {
        let link = (
            "(https?://|mailto:|/|#|javascript:)[a-z0-9./?=%-]{0,12}",
            plain_text(),
        )
            .prop_map(|(href, text)| Piece::Link { href, text });
        prop_oneof![4 => text, 2 => open, 2 => close, 1 => self_closed, 1 => comment, 1 => declaration, 2 => link]
            .boxed()
    } else {
        prop_oneof![4 => text, 2 => open, 2 => close, 1 => self_closed, 1 => comment, 1 => declaration]
            .boxed()
    }
}

fn document(with_links: bool) -> impl Strategy<Value = Vec<Piece>> {
    prop::collection::vec(piece(with_links), 0..24)
}

fn html_of(pieces: &[Piece]) -> String {
    pieces.iter().map(Piece::html).collect()
}

/// An end of input inside markup: a start tag, an end tag or a comment that never closes.
fn unterminated_markup() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[a-zA-Z][a-zA-Z0-9]{0,6}", "[^>]{0,16}")
            .prop_map(|(name, rest)| format!("<{name}{rest}")),
        ("[a-zA-Z][a-zA-Z0-9]{0,6}", "[^>]{0,16}")
            .prop_map(|(name, rest)| format!("</{name}{rest}")),
        "[^>]{0,16}".prop_map(|rest| format!("<!--{rest}")),
        "[^>]{0,16}".prop_map(|rest| format!("<!{rest}")),
    ]
}

proptest! {
    #[test]
    fn any_input_converts_without_panicking(html in any::<String>()) {
        let _ = html_to_text(&html);
        let out = html_to_mrkdwn(&html);
        prop_assert_eq!(slack_markup_problem(&out), None, "{:?} -> {:?}", html, out);
    }

    #[test]
    fn markup_soup_converts_without_panicking_and_slack_output_stays_inert(html in markup_soup()) {
        let _ = html_to_text(&html);
        let out = html_to_mrkdwn(&html);
        prop_assert_eq!(slack_markup_problem(&out), None, "{:?} -> {:?}", html, out);
    }

    #[test]
    fn plain_text_is_only_whitespace_collapsed(text in plain_text()) {
        let expected = collapsed(&text);
        prop_assert_eq!(html_to_text(&text), expected.clone());
        prop_assert_eq!(html_to_mrkdwn(&text), escape(&expected));
        // And converting the result again changes nothing.
        prop_assert_eq!(html_to_text(&expected), expected);
    }

    #[test]
    fn tags_and_comments_vanish_and_the_text_survives_in_order(pieces in document(false)) {
        let html = html_of(&pieces);
        let out = html_to_text(&html);
        let text: String = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        prop_assert!(!out.contains('<'), "{:?} -> {:?}", html, out);
        prop_assert_eq!(non_space(&out), non_space(&text), "{:?} -> {:?}", html, out);
    }

    #[test]
    fn each_link_adds_exactly_one_url_in_angle_brackets(pieces in document(true)) {
        let html = html_of(&pieces);
        let links = pieces.iter().filter(|p| matches!(p, Piece::Link { .. })).count();
        let text = html_to_text(&html);
        let slack = html_to_mrkdwn(&html);
        prop_assert_eq!(text.matches('<').count(), links, "{:?} -> {:?}", html, text);
        prop_assert_eq!(slack.matches('<').count(), links, "{:?} -> {:?}", html, slack);
        prop_assert_eq!(slack_markup_problem(&slack), None, "{:?} -> {:?}", html, slack);
    }

    #[test]
    fn the_slack_variant_is_the_plain_text_escaped(pieces in document(true), extra in "[^<]{0,12}") {
        // Link targets here have none of `&<>|`, so only the text is escaped.
        let html = format!("{}{extra}", html_of(&pieces));
        prop_assert_eq!(unescape(&html_to_mrkdwn(&html)), html_to_text(&html), "{:?}", html);
    }

    #[test]
    fn unterminated_markup_at_the_end_is_dropped(text in "[^<]{0,24}", tail in unterminated_markup()) {
        let html = format!("{text}{tail}");
        prop_assert_eq!(html_to_text(&html), html_to_text(&text), "{:?}", html);
    }

    #[test]
    fn numeric_references_decode_to_their_character(
        c in any::<char>().prop_filter("collapsed whitespace", |c| !is_collapsed_space(*c)),
        hex in any::<bool>(),
    ) {
        let html = if hex {
            format!("&#x{:X};", u32::from(c))
        } else {
            format!("&#{};", u32::from(c))
        };
        prop_assert_eq!(html_to_text(&html), c.to_string());
    }

    #[test]
    fn out_of_range_numeric_references_never_panic(digits in "[0-9]{1,30}", hex in "[0-9a-fA-F]{1,30}") {
        let _ = html_to_text(&format!("a&#{digits};b&#x{hex}c"));
    }
}
