//! Interaction `response_url` replies: where one may be sent, and the lane it waits in.
//!
//! The URL comes from a click payload, so it is untrusted text. Like Echo, Reverb keeps only its
//! path and sends it to the configured base (`reverb.slack.responseUrlBase`, docs/configuration.md),
//! never to a host named inside a payload. The path is taken from a parsed URL, not cut out of the
//! text: anything that does not parse as an `https` URL with a host is refused, never sent.

use url::Url;

/// Why a `response_url` is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("it contains control characters or white space")]
    Control,
    #[error("it is not an absolute URL")]
    NotAbsolute,
    #[error("its scheme is not https")]
    NotHttps,
    #[error("it is not written as a plain https URL")]
    Malformed,
    #[error("it names no host")]
    NoHost,
    #[error("it carries a user name or password")]
    Credentials,
    #[error("reverb.slack.responseUrlBase is not a URL")]
    BadBase,
}

const HTTPS: &str = "https://";

/// The URL to POST a reply to: `base` followed by the path of `response_url`.
pub(crate) fn rebase(base: &str, response_url: &str) -> Result<String, Refused> {
    // The URL parser silently drops tabs and newlines; a URL that holds any is refused instead.
    if response_url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Refused::Control);
    }
    let parsed = Url::parse(response_url).map_err(|_| Refused::NotAbsolute)?;
    if parsed.scheme() != "https" {
        return Err(Refused::NotHttps);
    }
    // The parser is lenient where browsers are: `https:///x` names the host `x`, and `\` counts
    // as `/`. Slack writes neither; the text itself must read `https://` and then the host.
    let plain = response_url
        .get(..HTTPS.len())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(HTTPS))
        && !response_url[HTTPS.len()..].starts_with('/')
        && !response_url.contains('\\');
    if !plain {
        return Err(Refused::Malformed);
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Refused::NoHost);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refused::Credentials);
    }
    let base_url = Url::parse(base).map_err(|_| Refused::BadBase)?;
    if base_url.host_str().is_none_or(str::is_empty) {
        return Err(Refused::BadBase);
    }
    // `path()` is normalised (dot segments resolved, percent-encoded) and starts with `/`, so
    // appending it can only lengthen the base's path; the origin is checked all the same.
    let joined = format!("{}{}", base.trim_end_matches('/'), parsed.path());
    let target = Url::parse(&joined).map_err(|_| Refused::BadBase)?;
    if target.origin() != base_url.origin() {
        return Err(Refused::BadBase);
    }
    Ok(target.into())
}

/// The lane of replies to one `response_url`: one per URL, so a URL that keeps failing holds up
/// only its own replies. Named by a digest, as the URL itself is a credential for that message
/// and lane names appear in logs.
pub(crate) fn lane(response_url: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, response_url.as_bytes());
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("response_url:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://hooks.slack.com";

    #[test]
    fn only_the_path_goes_to_the_configured_base() {
        let cases = [
            (
                "https://hooks.slack.com/actions/T0/1/abc",
                "https://hooks.slack.com/actions/T0/1/abc",
            ),
            // Another host in the payload changes nothing: its path goes to the base.
            (
                "https://evil.example/actions/T0/1/abc",
                "https://hooks.slack.com/actions/T0/1/abc",
            ),
            // Query and fragment are not part of the path.
            (
                "https://hooks.slack.com/actions/x?to=https://evil.example#frag",
                "https://hooks.slack.com/actions/x",
            ),
            // Dot segments cannot climb out of the base.
            (
                "https://hooks.slack.com/../../actions/x",
                "https://hooks.slack.com/actions/x",
            ),
            (
                "https://hooks.slack.com/%2e%2e/actions/x",
                "https://hooks.slack.com/actions/x",
            ),
            // A doubled slash stays a path on the base's host.
            (
                "https://hooks.slack.com//evil.example/x",
                "https://hooks.slack.com//evil.example/x",
            ),
            ("https://hooks.slack.com", "https://hooks.slack.com/"),
        ];
        for (given, expected) in cases {
            assert_eq!(rebase(BASE, given).as_deref(), Ok(expected), "{given}");
        }
        assert_eq!(
            rebase("http://127.0.0.1:9/", "https://hooks.slack.com/actions/x").as_deref(),
            Ok("http://127.0.0.1:9/actions/x")
        );
        assert_eq!(
            rebase("http://127.0.0.1:9/slack/", "https://hooks.slack.com/../x").as_deref(),
            Ok("http://127.0.0.1:9/slack/x")
        );
    }

    #[test]
    fn anything_but_an_https_url_with_a_host_is_refused() {
        let cases = [
            // Pasted after the base, these used to pick the host themselves.
            ("@127.0.0.1:40037/x", Refused::NotAbsolute),
            (".evil.example/x", Refused::NotAbsolute),
            (":40037/x", Refused::NotAbsolute),
            ("/actions/x", Refused::NotAbsolute),
            ("", Refused::NotAbsolute),
            ("//evil.example/x", Refused::NotAbsolute),
            ("http://hooks.slack.com/actions/x", Refused::NotHttps),
            ("javascript:alert(1)", Refused::NotHttps),
            ("file:///etc/passwd", Refused::NotHttps),
            ("ftp://hooks.slack.com/x", Refused::NotHttps),
            ("https:///actions/x", Refused::Malformed),
            ("https:////evil.example/x", Refused::Malformed),
            ("https:evil.example/x", Refused::Malformed),
            ("https:\\\\evil.example\\x", Refused::Malformed),
            (
                "https://evil.example\\@hooks.slack.com/x",
                Refused::Malformed,
            ),
            ("https://", Refused::NotAbsolute),
            (
                "https://hooks.slack.com@127.0.0.1:40037/x",
                Refused::Credentials,
            ),
            ("https://u:p@hooks.slack.com/x", Refused::Credentials),
            ("https://hooks.slack.com/a\nHost: evil", Refused::Control),
            ("https://hooks.slack.com/a\r\nb", Refused::Control),
            ("https://hooks.slack.com/a\tb", Refused::Control),
            ("https://hooks.slack.com/a\u{0}b", Refused::Control),
            ("https://hooks.slack.com/a\u{7f}b", Refused::Control),
            (" https://hooks.slack.com/a", Refused::Control),
            ("https://hooks.slack.com/a b", Refused::Control),
        ];
        for (given, why) in cases {
            assert_eq!(rebase(BASE, given), Err(why), "{given:?}");
        }
    }

    #[test]
    fn a_base_that_is_not_a_url_sends_nowhere() {
        assert_eq!(
            rebase("hooks.slack.com", "https://hooks.slack.com/actions/x"),
            Err(Refused::BadBase)
        );
    }

    #[test]
    fn each_url_has_its_own_lane_that_does_not_show_the_url() {
        let a = lane("https://hooks.slack.com/actions/T0/1/secret-a");
        let b = lane("https://hooks.slack.com/actions/T0/1/secret-b");
        assert_ne!(a, b);
        assert_eq!(a, lane("https://hooks.slack.com/actions/T0/1/secret-a"));
        assert!(a.starts_with("response_url:"), "{a}");
        assert!(!a.contains("secret"), "{a}");
    }
}
