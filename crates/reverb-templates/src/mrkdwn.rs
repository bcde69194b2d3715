//! Slack mrkdwn helpers: escaping the three control characters and visible truncation.

/// Escapes Slack's control characters (`&` first, then `<` and `>`), nothing else: Slack shows any
/// other entity literally.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Makes a URL safe inside Slack's `<url|label>`: every character that could end the link or
/// start markup (`<`, `>`, `|`, spaces, quotes, control and non-ASCII characters) is
/// percent-encoded; the URL's own structure (`:/?#&=%` and the other RFC 3986 delimiters) is
/// kept, so Deck links read as before. The one rule for link targets (`docs/security.md`).
pub fn link_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for byte in url.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'?'
                    | b'#'
                    | b'['
                    | b']'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            );
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The ellipsis appended where text was cut.
pub const ELLIPSIS: char = '…';

/// Cuts `text` to at most `max_chars` Unicode scalar values, ending with `…` when anything was
/// removed. The cut never leaves half a Slack link (`<url|label>`) or half an entity (`&amp;`),
/// which Slack would show as raw markup.
pub fn truncate_visibly(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    if max_chars == 0 {
        return String::new();
    }
    let mut kept: String = text.chars().take(max_chars - 1).collect();
    if let Some(open) = kept.rfind('<')
        && !kept[open..].contains('>')
    {
        kept.truncate(open);
    }
    if let Some(amp) = kept.rfind('&')
        && !kept[amp..].contains(';')
        && kept.len() - amp <= "&amp".len()
    {
        kept.truncate(amp);
    }
    kept.push(ELLIPSIS);
    kept
}

/// Cuts an identifier (block_id, action_id, value) to `max_chars` without an ellipsis: these are
/// never shown, and an ellipsis would not make them any more valid.
pub fn truncate_plain(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_ampersand_first() {
        assert_eq!(escape("<script>&amp;"), "&lt;script&gt;&amp;amp;");
        assert_eq!(escape("plain text: *bold* _it_"), "plain text: *bold* _it_");
    }

    #[test]
    fn link_targets_cannot_end_the_link_or_start_markup() {
        assert_eq!(
            link_url("http://deck/#/applications/a/executions/details/E?refId=1&step=1"),
            "http://deck/#/applications/a/executions/details/E?refId=1&step=1"
        );
        assert_eq!(
            link_url("http://deck/x?refId=3>|x <!channel> <https://evil.example|Open"),
            "http://deck/x?refId=3%3E%7Cx%20%3C!channel%3E%20%3Chttps://evil.example%7COpen"
        );
        assert_eq!(link_url("a\r\nb\"ü`"), "a%0D%0Ab%22%C3%BC%60");
    }

    #[test]
    fn truncation_counts_chars_and_marks_the_cut() {
        assert_eq!(truncate_visibly("héllo", 5), "héllo");
        assert_eq!(truncate_visibly("héllo wörld", 6), "héllo…");
        assert_eq!(truncate_visibly("héllo wörld", 6).chars().count(), 6);
        assert_eq!(truncate_visibly("abc", 0), "");
    }

    #[test]
    fn truncation_does_not_split_links_or_entities() {
        assert_eq!(
            truncate_visibly("see <http://example.com|here> now", 12),
            "see …"
        );
        assert_eq!(truncate_visibly("a &amp; b", 5), "a …");
        assert_eq!(truncate_plain("abcdef", 3), "abc");
    }
}
