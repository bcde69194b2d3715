//! Slack's request signing and the exact body encoding Slack uses for interactivity requests.

use ring::hmac;
use serde_json::Value;

use crate::ids::hex;

/// `v0=` + lowercase hex HMAC-SHA256(secret, `v0:{timestamp}:{body}`): the `X-Slack-Signature`
/// header Slack sends with every interactivity and slash-command request.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(b"v0:");
    context.update(timestamp.to_string().as_bytes());
    context.update(b":");
    context.update(body);
    format!("v0={}", hex(context.sign().as_ref()))
}

/// Form-encodes a value the way Slack does (PHP `urlencode` rules): letters, digits and `-_.`
/// stay literal, a space becomes `+`, everything else (including `*` and `~`) is `%XX` in upper
/// case. Java's `URLEncoder` leaves `*` literal instead, which is why Echo re-encodes `*` as `%2A`
/// before checking signatures (spinnaker/echo PR #774).
pub fn slack_form_encode(value: &str) -> String {
    const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(UPPER_HEX[usize::from(byte >> 4)]));
                out.push(char::from(UPPER_HEX[usize::from(byte & 0x0f)]));
            }
        }
    }
    out
}

/// Compact JSON as Slack's encoder writes it: forward slashes escaped as `\/`
/// (`"https:\/\/hooks.slack.com\/actions\/..."`). A `/` can only occur inside JSON strings, so
/// the replacement cannot touch the structure.
pub fn slack_json(value: &Value) -> String {
    value.to_string().replace('/', "\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's published example (docs, python-slack-sdk's signature tests).
    #[test]
    fn matches_slacks_published_vector() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(body.len(), 362);
        assert_eq!(
            sign(
                "8f742231b10e8888abcd99yyyzzz85a5",
                1_531_420_618,
                body.as_bytes()
            ),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }

    #[test]
    fn a_changed_body_or_timestamp_changes_the_signature() {
        let good = sign("secret", 1_531_420_618, b"payload=x");
        assert_ne!(good, sign("secret", 1_531_420_618, b"payload=x------"));
        assert_ne!(good, sign("secret", 1_531_420_619, b"payload=x"));
        assert_ne!(good, sign("other", 1_531_420_618, b"payload=x"));
    }

    #[test]
    fn form_encoding_follows_slack_not_java() {
        assert_eq!(slack_form_encode("a*b c~d-e_f.g"), "a%2Ab+c%7Ed-e_f.g");
        assert_eq!(
            slack_form_encode("{\"k\":\"v/é\"}"),
            "%7B%22k%22%3A%22v%2F%C3%A9%22%7D"
        );
    }

    #[test]
    fn json_escapes_slashes_and_stays_parseable() {
        let value = serde_json::json!({"response_url": "https://hooks.slack.com/actions/T1/2/3"});
        let text = slack_json(&value);
        assert!(
            text.contains(r"https:\/\/hooks.slack.com\/actions\/T1\/2\/3"),
            "{text}"
        );
        let back: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, value);
    }
}
