//! HTML → plain text exactly as Echo's `HtmlToPlainText` (jsoup's example visitor) produces it.
//!
//! A small tolerant scanner stands in for jsoup: it reads tags, text, comments and entities,
//! rebuilds enough of the element tree (implicit `p`/`li`/`dt`/`dd`/table-cell closing, void and
//! self-closed elements) to fire the same "enter element" / "leave element" events in the same
//! order, and formats them with Echo's rules:
//! - text: whitespace runs collapse to one space (jsoup's `TextNode.text()`);
//! - entering `li` → `"\n * "`, `dt` → two spaces, `p`/`h1`–`h5`/`tr` → newline;
//! - leaving `br`/`dd`/`dt`/`p`/`h1`–`h5` → newline; leaving `a` → `" <absolute href>"` (`" <>"`
//!   when the href is relative or missing);
//! - a lone space is dropped when the output is empty or already ends in a space or newline.
//!
//! No line wrapping is ever done.

/// Echo's exact plain text.
pub fn html_to_text(html: &str) -> String {
    convert(html, false)
}

/// The same text for Slack mrkdwn: text is escaped (`&`, `<`, `>`), while the `<href>` links the
/// conversion itself produces stay Slack links.
pub fn html_to_mrkdwn(html: &str) -> String {
    convert(html, true)
}

fn convert(html: &str, for_slack: bool) -> String {
    let mut out = TextWriter {
        text: String::new(),
        for_slack,
    };
    let mut tree = TreeBuilder::default();
    for token in scan(html) {
        tree.feed(token, &mut out);
    }
    tree.finish(&mut out);
    out.text
}

#[derive(Debug, PartialEq)]
enum Token {
    Text(String),
    /// A comment or other markup that ends a text node without adding anything.
    Boundary,
    Start {
        name: String,
        href: Option<String>,
        self_closing: bool,
    },
    End {
        name: String,
    },
}

/// Elements whose content is not markup. `script`/`style` content is data jsoup never shows as
/// text; the others are shown as text.
const SKIPPED_CONTENT: &[&str] = &["script", "style"];
const RAW_TEXT_CONTENT: &[&str] = &["title", "textarea", "xmp", "iframe", "noembed", "noframes"];
const DECODED_RAW_TEXT: &[&str] = &["title", "textarea"];

fn scan(html: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = html;
    let mut pending_text = String::new();
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            pending_text.push_str(&decode_entities(rest));
            break;
        };
        pending_text.push_str(&decode_entities(&rest[..lt]));
        rest = &rest[lt..];
        let after = &rest[1..];
        let next = after.chars().next();
        if rest.starts_with("<!--") {
            flush_text(&mut pending_text, &mut tokens);
            tokens.push(Token::Boundary);
            rest = match rest[4..].find("-->") {
                Some(end) => &rest[4 + end + 3..],
                None => "",
            };
        } else if next == Some('!') || next == Some('?') {
            flush_text(&mut pending_text, &mut tokens);
            tokens.push(Token::Boundary);
            rest = skip_past(rest, '>');
        } else if next == Some('/') {
            let name_start = &after[1..];
            match name_start.chars().next() {
                Some(c) if c.is_ascii_alphabetic() => {
                    let Some(end) = name_start.find('>') else {
                        // An unterminated end tag is dropped with the rest of the input.
                        break;
                    };
                    let name = tag_name(&name_start[..end]);
                    flush_text(&mut pending_text, &mut tokens);
                    tokens.push(Token::End { name });
                    rest = &name_start[end + 1..];
                }
                Some('>') => rest = &name_start[1..],
                _ => {
                    flush_text(&mut pending_text, &mut tokens);
                    tokens.push(Token::Boundary);
                    rest = skip_past(rest, '>');
                }
            }
        } else if next.is_some_and(|c| c.is_ascii_alphabetic()) {
            let Some((name, href, self_closing, consumed)) = parse_start_tag(after) else {
                break;
            };
            flush_text(&mut pending_text, &mut tokens);
            rest = &after[consumed..];
            let opens_content = !self_closing;
            tokens.push(Token::Start {
                name: name.clone(),
                href,
                self_closing,
            });
            if opens_content
                && (SKIPPED_CONTENT.contains(&name.as_str())
                    || RAW_TEXT_CONTENT.contains(&name.as_str()))
            {
                let (content, remaining) = split_raw_content(rest, &name);
                if RAW_TEXT_CONTENT.contains(&name.as_str()) && !content.is_empty() {
                    let text = if DECODED_RAW_TEXT.contains(&name.as_str()) {
                        decode_entities(content)
                    } else {
                        content.to_string()
                    };
                    tokens.push(Token::Text(text));
                }
                rest = remaining;
            }
        } else {
            // A '<' that starts no tag is just text, as in browsers.
            pending_text.push('<');
            rest = after;
        }
    }
    flush_text(&mut pending_text, &mut tokens);
    tokens
}

fn flush_text(pending: &mut String, tokens: &mut Vec<Token>) {
    if !pending.is_empty() {
        tokens.push(Token::Text(std::mem::take(pending)));
    }
}

fn skip_past(s: &str, c: char) -> &str {
    match s.find(c) {
        Some(i) => &s[i + c.len_utf8()..],
        None => "",
    }
}

fn tag_name(raw: &str) -> String {
    raw.split(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Parses `name attr=value ...>` (the text after `<`). Returns the name, the `href` attribute,
/// whether the tag closed itself (`/>`), and how many bytes were consumed; `None` when the input
/// ends inside the tag (jsoup drops such a tag).
fn parse_start_tag(s: &str) -> Option<(String, Option<String>, bool, usize)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'/' && bytes[i] != b'>'
    {
        i += 1;
    }
    let name = s[..i].to_ascii_lowercase();
    let mut href = None;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' => return Some((name, href, false, i + 1)),
            b'/' => {
                if bytes.get(i + 1) == Some(&b'>') {
                    return Some((name, href, true, i + 2));
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        let attr_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && bytes[i] != b'='
            && bytes[i] != b'>'
            && bytes[i] != b'/'
        {
            i += 1;
        }
        let attr_name = s[attr_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            match bytes.get(i)? {
                quote @ (b'"' | b'\'') => {
                    let close = s[i + 1..].find(*quote as char)?;
                    value = decode_entities(&s[i + 1..i + 1 + close]);
                    i += close + 2;
                }
                _ => {
                    let start = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = decode_entities(&s[start..i]);
                }
            }
        }
        if attr_name == "href" && href.is_none() {
            href = Some(value);
        }
    }
}

/// Splits raw element content at its end tag (`</name`, any case).
fn split_raw_content<'a>(s: &'a str, name: &str) -> (&'a str, &'a str) {
    let closing = format!("</{name}");
    let lower = s.to_ascii_lowercase();
    match lower.find(&closing) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        match decode_entity(rest) {
            Some((decoded, len)) => {
                out.push_str(&decoded);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the entity at the start of `s` (which starts with `&`): numeric references and the
/// named entities seen in pipeline text. Returns the text and the bytes consumed.
fn decode_entity(s: &str) -> Option<(String, usize)> {
    let body = &s[1..];
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix, prefix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let len = digits.chars().take_while(|c| c.is_digit(radix)).count();
        if len == 0 {
            return None;
        }
        let code = u32::from_str_radix(&digits[..len], radix).ok()?;
        let c = char::from_u32(code).unwrap_or('\u{FFFD}');
        let semicolon = usize::from(digits[len..].starts_with(';'));
        return Some((c.to_string(), 1 + prefix + len + semicolon));
    }
    let name_len = body.chars().take_while(char::is_ascii_alphanumeric).count();
    let name = &body[..name_len];
    let has_semicolon = body[name_len..].starts_with(';');
    let (value, needs_semicolon) = match name {
        "amp" => ("&", false),
        "lt" => ("<", false),
        "gt" => (">", false),
        "quot" => ("\"", false),
        "nbsp" => ("\u{A0}", false),
        "apos" => ("'", true),
        "copy" => ("©", true),
        "reg" => ("®", true),
        "trade" => ("™", true),
        "hellip" => ("…", true),
        "mdash" => ("—", true),
        "ndash" => ("–", true),
        "lsquo" => ("‘", true),
        "rsquo" => ("’", true),
        "ldquo" => ("“", true),
        "rdquo" => ("”", true),
        "laquo" => ("«", true),
        "raquo" => ("»", true),
        "bull" => ("•", true),
        "middot" => ("·", true),
        "times" => ("×", true),
        "euro" => ("€", true),
        _ => return None,
    };
    if needs_semicolon && !has_semicolon {
        return None;
    }
    Some((value.to_string(), 1 + name_len + usize::from(has_semicolon)))
}

const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];
/// Start tags that close an open `p` (HTML's "close a p element" rule).
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "li",
    "dd",
    "dt",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "ul",
    "listing",
    "xmp",
];
/// Elements a search for an open `p` (or list item, or cell) does not look past.
const SCOPE_BOUNDARIES: &[&str] = &[
    "table", "td", "th", "caption", "button", "object", "marquee", "applet", "template",
];
const HEADINGS: &[&str] = &["h1", "h2", "h3", "h4", "h5", "h6"];

#[derive(Default)]
struct TreeBuilder {
    open: Vec<(String, Option<String>)>,
}

impl TreeBuilder {
    fn feed(&mut self, token: Token, out: &mut TextWriter) {
        match token {
            Token::Text(text) => out.text_node(&text),
            Token::Boundary => {}
            Token::Start {
                name,
                href,
                self_closing,
            } => self.start(name, href, self_closing, out),
            Token::End { name } => self.end(&name, out),
        }
    }

    fn start(
        &mut self,
        name: String,
        href: Option<String>,
        self_closing: bool,
        out: &mut TextWriter,
    ) {
        if CLOSES_P.contains(&name.as_str()) {
            self.close_in_scope(&["p"], &[], out);
        }
        match name.as_str() {
            "li" => self.close_in_scope(&["li"], &["ul", "ol", "menu"], out),
            "dd" | "dt" => self.close_in_scope(&["dd", "dt"], &["dl"], out),
            "tr" => self.close_in_scope(&["tr", "td", "th"], &["tbody", "thead", "tfoot"], out),
            "td" | "th" => self.close_in_scope(&["td", "th"], &["tr"], out),
            n if HEADINGS.contains(&n)
                && self
                    .open
                    .last()
                    .is_some_and(|(top, _)| HEADINGS.contains(&top.as_str())) =>
            {
                self.pop(out);
            }
            _ => {}
        }
        out.enter(&name);
        if self_closing || VOID_ELEMENTS.contains(&name.as_str()) {
            out.leave(&name, href.as_deref());
        } else {
            self.open.push((name, href));
        }
    }

    fn end(&mut self, name: &str, out: &mut TextWriter) {
        let found = if HEADINGS.contains(&name) {
            self.open
                .iter()
                .rposition(|(n, _)| HEADINGS.contains(&n.as_str()))
        } else {
            self.open.iter().rposition(|(n, _)| n == name)
        };
        match found {
            Some(index) => {
                while self.open.len() > index {
                    self.pop(out);
                }
            }
            // jsoup turns a stray `</p>` into an empty paragraph and `</br>` into a line break.
            None if name == "p" || name == "br" => {
                out.enter(name);
                out.leave(name, None);
            }
            None => {}
        }
    }

    /// Closes the innermost open element among `targets`, unless `boundaries` (or a scope
    /// boundary such as a table cell) comes first.
    fn close_in_scope(&mut self, targets: &[&str], boundaries: &[&str], out: &mut TextWriter) {
        let mut found = None;
        for (index, (name, _)) in self.open.iter().enumerate().rev() {
            if targets.contains(&name.as_str()) {
                found = Some(index);
                break;
            }
            if boundaries.contains(&name.as_str()) || SCOPE_BOUNDARIES.contains(&name.as_str()) {
                break;
            }
        }
        if let Some(index) = found {
            while self.open.len() > index {
                self.pop(out);
            }
        }
    }

    fn pop(&mut self, out: &mut TextWriter) {
        if let Some((name, href)) = self.open.pop() {
            out.leave(&name, href.as_deref());
        }
    }

    fn finish(&mut self, out: &mut TextWriter) {
        while !self.open.is_empty() {
            self.pop(out);
        }
    }
}

/// Echo's `FormattingVisitor`.
struct TextWriter {
    text: String,
    for_slack: bool,
}

impl TextWriter {
    fn text_node(&mut self, raw: &str) {
        let normalised = normalise_whitespace(raw);
        if self.for_slack {
            let escaped = crate::mrkdwn::escape(&normalised);
            self.append(&escaped);
        } else {
            self.append(&normalised);
        }
    }

    fn enter(&mut self, name: &str) {
        match name {
            "li" => self.append("\n * "),
            "dt" => self.append("  "),
            "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "tr" => self.append("\n"),
            _ => {}
        }
    }

    fn leave(&mut self, name: &str, href: Option<&str>) {
        match name {
            "br" | "dd" | "dt" | "p" | "h1" | "h2" | "h3" | "h4" | "h5" => self.append("\n"),
            "a" => {
                let url = href.map(absolute_url).unwrap_or_default();
                let url = if self.for_slack {
                    slack_safe_url(&url)
                } else {
                    url
                };
                self.append(&format!(" <{url}>"));
            }
            _ => {}
        }
    }

    fn append(&mut self, text: &str) {
        if text == " " && (self.text.is_empty() || self.text.ends_with([' ', '\n'])) {
            return;
        }
        self.text.push_str(text);
    }
}

/// jsoup's whitespace normalisation: every run of whitespace (including no-break spaces) becomes
/// one space; nothing is trimmed.
fn normalise_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{C}' | '\u{A0}') {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// jsoup's `absUrl` without a base URI: only URLs Java's `URL` accepts on their own survive;
/// anything relative becomes empty.
fn absolute_url(href: &str) -> String {
    let href = href.trim_matches(|c: char| c <= ' ');
    let Some(colon) = href.find(':') else {
        return String::new();
    };
    let scheme = href[..colon].to_ascii_lowercase();
    if matches!(
        scheme.as_str(),
        "http" | "https" | "ftp" | "file" | "mailto"
    ) {
        format!("{scheme}{}", &href[colon..])
    } else {
        String::new()
    }
}

/// Characters that would end or split a Slack link are percent-encoded.
fn slack_safe_url(url: &str) -> String {
    url.replace('<', "%3C")
        .replace('>', "%3E")
        .replace('|', "%7C")
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_gets_its_url_after_the_text() {
        assert_eq!(
            html_to_text(r#"Do the <a href="http://foo">thing</a>"#),
            "Do the thing <http://foo>"
        );
        assert_eq!(html_to_text(r#"<a href="/relative">x</a>"#), "x <>");
        assert_eq!(html_to_text("<a>x</a>"), "x <>");
        assert_eq!(
            html_to_text(r#"<a href="javascript:alert(1)">x</a>"#),
            "x <>"
        );
    }

    #[test]
    fn block_elements_add_newlines_like_the_jsoup_visitor() {
        assert_eq!(html_to_text("<p>a</p><p>b</p>"), "\na\n\nb\n");
        assert_eq!(html_to_text("<p>a<p>b"), "\na\n\nb\n");
        assert_eq!(
            html_to_text("<ul><li>one</li><li>two</ul>"),
            "\n * one\n * two"
        );
        assert_eq!(html_to_text("<ul><li>one<li>two</ul>"), "\n * one\n * two");
        assert_eq!(html_to_text("a<br>b<br/>c"), "a\nb\nc");
        assert_eq!(html_to_text("<h1>T</h1>x"), "\nT\nx");
        assert_eq!(html_to_text("<h6>T</h6>x"), "Tx");
        assert_eq!(html_to_text("<dl><dt>k</dt><dd>v</dd></dl>"), "  k\nv\n");
        assert_eq!(
            html_to_text("<table><tr><td>a</td></tr><tr><td>b</td></tr></table>"),
            "\na\nb"
        );
    }

    #[test]
    fn whitespace_is_collapsed_but_not_trimmed() {
        assert_eq!(html_to_text("  hello   world \n"), " hello world ");
        assert_eq!(html_to_text("<p>a</p>\n  <p>b</p>"), "\na\n\nb\n");
        assert_eq!(html_to_text("a&nbsp;&nbsp;b"), "a b");
    }

    #[test]
    fn self_closed_paragraph_is_empty_and_text_is_never_wrapped() {
        // ManualJudgmentTemplateTest "should not word wrap".
        let long = "This is an example message from spinnaker that's more than 80 characters to make sure that we won't wrap it. Note the extra whitespace at the end here:\n<p />\n```\nThis test was added was because code blocks in Slack would word wrap at 80 characters and inject newlines in codeblocks. Note the extra whitespaces after each original newline.\n```\n";
        assert_eq!(
            html_to_text(long),
            "This is an example message from spinnaker that's more than 80 characters to make sure that we won't wrap it. Note the extra whitespace at the end here: \n\n ``` This test was added was because code blocks in Slack would word wrap at 80 characters and inject newlines in codeblocks. Note the extra whitespaces after each original newline. ``` "
        );
    }

    #[test]
    fn entities_comments_and_scripts() {
        assert_eq!(
            html_to_text("a &amp; b &lt;c&gt; &#65;&#x42; &bogus;"),
            "a & b <c> AB &bogus;"
        );
        assert_eq!(html_to_text("a<!-- hidden -->b"), "ab");
        assert_eq!(html_to_text("a<script>alert('<p>')</script>b"), "ab");
        assert_eq!(html_to_text("<title>T &amp; U</title>x"), "T & Ux");
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("x</p>y"), "x\n\ny");
        assert_eq!(html_to_text("unterminated <b"), "unterminated ");
        assert_eq!(
            html_to_text(r#"<a href="http://x?a=1&amp;b=2">q</a>"#),
            "q <http://x?a=1&b=2>"
        );
    }

    #[test]
    fn slack_variant_escapes_text_but_keeps_our_links() {
        assert_eq!(
            html_to_mrkdwn(
                r#"Use <b>&lt;script&gt;</b> &amp; <a href="http://x/?a=1|2>3">this</a>"#
            ),
            "Use &lt;script&gt; &amp; this <http://x/?a=1%7C2%3E3>"
        );
        assert_eq!(
            html_to_mrkdwn(r#"Do the <a href="http://foo">thing</a>"#),
            "Do the thing <http://foo>"
        );
    }
}
