//! Markdown → HTML as Echo's `MarkdownToHtmlFormatter` does it (CommonMark, no extensions).

use pulldown_cmark::{Options, Parser, html};

/// `test` → `<p>test</p>\n`.
pub fn markdown_to_html(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + 16);
    html::push_html(&mut out, Parser::new_ext(markdown, Options::empty()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_commonmark_like_echo() {
        // NotificationTemplateEngineSpec: subject/body "test" without a template group.
        assert_eq!(markdown_to_html("test"), "<p>test</p>\n");
        assert_eq!(
            markdown_to_html("A **custom** body"),
            "<p>A <strong>custom</strong> body</p>\n"
        );
    }
}
