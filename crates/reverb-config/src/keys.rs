//! Spring's relaxed property names: the canonical form keys are compared in, and the
//! environment variable names a key can be set by.

/// The canonical form of one key segment: lower case, without `-` and `_`, so that
/// `signingSecret`, `signing-secret`, `signing_secret` and `SIGNINGSECRET` compare equal.
/// A list index suffix such as `[0]` is kept as written.
pub(crate) fn canonical_segment(segment: &str) -> String {
    segment
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The canonical form of a dotted key (`slack.app.signing-secret` → `slack.app.signingsecret`).
pub(crate) fn canonical_key(key: &str) -> String {
    key.split('.')
        .map(canonical_segment)
        .collect::<Vec<_>>()
        .join(".")
}

/// Joins a canonical prefix and a canonical child segment.
pub(crate) fn join(prefix: &str, child: &str) -> String {
    if prefix.is_empty() {
        child.to_owned()
    } else {
        format!("{prefix}.{child}")
    }
}

/// Environment variable names that set `key`, most specific first: the exact name, the
/// Spring form (segments upper-cased without `-`/`_`, joined by `_`: `SLACK_APP_SIGNINGSECRET`)
/// and the word-split form where camelCase and kebab boundaries become `_`
/// (`SLACK_APP_SIGNING_SECRET`).
pub(crate) fn env_names(key: &str) -> Vec<String> {
    let spring_form = key
        .split('.')
        .map(|segment| canonical_segment(segment).to_uppercase())
        .collect::<Vec<_>>()
        .join("_");
    let word_form = key
        .split('.')
        .map(split_words)
        .collect::<Vec<_>>()
        .join("_");
    let mut names = vec![key.to_owned()];
    for name in [spring_form, word_form] {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `signingSecret` → `SIGNING_SECRET`, `send-compact-messages` → `SEND_COMPACT_MESSAGES`.
fn split_words(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 4);
    let mut previous_was_lower_or_digit = false;
    for c in segment.chars() {
        if c == '-' || c == '_' {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            previous_was_lower_or_digit = false;
            continue;
        }
        if c.is_uppercase() && previous_was_lower_or_digit {
            out.push('_');
        }
        previous_was_lower_or_digit = c.is_lowercase() || c.is_ascii_digit();
        out.extend(c.to_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_spellings_share_one_canonical_form() {
        let expected = "slack.app.signingsecret";
        for spelling in [
            "slack.app.signingSecret",
            "slack.app.signing-secret",
            "slack.app.signing_secret",
            "SLACK.APP.SIGNINGSECRET",
        ] {
            assert_eq!(canonical_key(spelling), expected, "{spelling}");
        }
    }

    #[test]
    fn env_names_cover_both_spring_forms() {
        assert_eq!(
            env_names("slack.app.signingSecret"),
            vec![
                "slack.app.signingSecret",
                "SLACK_APP_SIGNINGSECRET",
                "SLACK_APP_SIGNING_SECRET"
            ]
        );
        assert_eq!(env_names("server.port"), vec!["server.port", "SERVER_PORT"]);
        assert_eq!(
            env_names("slack.send-compact-messages"),
            vec![
                "slack.send-compact-messages",
                "SLACK_SENDCOMPACTMESSAGES",
                "SLACK_SEND_COMPACT_MESSAGES"
            ]
        );
        assert_eq!(env_names("HOME"), vec!["HOME"]);
    }
}
