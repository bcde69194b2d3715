//! HTML escaping for everything the pages show: every piece of text that came from a request
//! (message text, names, ids, URLs) goes through [`escape`] before it reaches a page.

/// Escapes text for HTML element content and for quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A URL that may go into an `href`: only web and mail links, so a message cannot smuggle in
/// `javascript:` or `data:` links.
pub(crate) fn safe_href(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
        .then(|| escape(url))
}

/// A CSS colour from a message (attachment `color`): Slack's names or `#rgb`/`#rrggbb`
/// (the `#` is optional, as Slack allows); anything else falls back to grey.
pub(crate) fn attachment_color(color: Option<&str>) -> String {
    const GREY: &str = "#dddddd";
    let Some(color) = color.map(str::trim) else {
        return GREY.to_owned();
    };
    match color {
        "good" => return "#2eb67d".to_owned(),
        "warning" => return "#ecb22e".to_owned(),
        "danger" => return "#e01e5a".to_owned(),
        _ => {}
    }
    let hex = color.strip_prefix('#').unwrap_or(color);
    if matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("#{hex}")
    } else {
        GREY.to_owned()
    }
}

/// `HH:MM:SS` (UTC) of a Unix time in seconds; the page's script shows it in local time.
pub(crate) fn clock_utc(epoch_secs: i64) -> String {
    let secs = epoch_secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn only_web_and_mail_links_are_links() {
        assert_eq!(
            safe_href("https://deck/#/x?a=1&b=\"2\"").as_deref(),
            Some("https://deck/#/x?a=1&amp;b=&quot;2&quot;")
        );
        assert_eq!(safe_href("javascript:alert(1)"), None);
        assert_eq!(safe_href(" JavaScript:alert(1)"), None);
        assert_eq!(safe_href("data:text/html,x"), None);
    }

    #[test]
    fn colours_are_names_or_hex_only() {
        assert_eq!(attachment_color(Some("#769D3E")), "#769D3E");
        assert_eq!(attachment_color(Some("B82525")), "#B82525");
        assert_eq!(attachment_color(Some("good")), "#2eb67d");
        assert_eq!(attachment_color(Some("red;background:url(x)")), "#dddddd");
        assert_eq!(attachment_color(None), "#dddddd");
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(clock_utc(1_712_570_401), "10:00:01");
    }
}
