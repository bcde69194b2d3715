//! Slack request signing (v0): HMAC-SHA256 over `v0:{timestamp}:{body}` with the app's signing
//! secret.
//!
//! Behind Gate the body is not the one Slack signed: Gate (Spring) rebuilds a form body from the
//! parsed parameters with Java's `URLEncoder`, which leaves `*` literal where Slack sent `%2A`
//! (docs/security.md, "Slack's signature"). Echo therefore hashes the body with every `*` turned back into `%2A`.
//! Reverb checks the raw bytes first (right when Slack reaches it directly or through a byte-exact
//! proxy) and Echo's variant second (right behind Gate).

use ring::hmac;

/// Slack's replay window: five minutes either way.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

const VERSION_PREFIX: &str = "v0=";
const DIGEST_HEX_LEN: usize = 64;

/// Why a request's signature was refused. The HTTP layer answers 401 for every variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error(
        "Slack request timestamp is more than {tolerance_secs} seconds away from now. Replay attack?"
    )]
    Stale { tolerance_secs: i64 },
    #[error("Invalid Slack signature header.")]
    Mismatch,
    /// No signing secret is configured, so nothing can be verified (the accept step's answer;
    /// [`verify_signature`] itself always has a secret).
    #[error("no signing secret configured")]
    NoSecret,
}

/// Check Slack's `X-Slack-Request-Timestamp` and `X-Slack-Signature` headers against the body.
///
/// `timestamp` and `signature` are the header values (`None` when absent); `body` is the request
/// body exactly as received. Timestamps further than `tolerance_secs` from `now_unix`, in the past
/// or the future, are refused. Only `v0=` followed by 64 hex digits is accepted. The comparison is
/// constant-time.
pub fn verify_signature(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp
        .ok_or(SignatureError::Missing("X-Slack-Request-Timestamp"))?
        .trim();
    let signature = signature
        .ok_or(SignatureError::Missing("X-Slack-Signature"))?
        .trim();
    let sent_at: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::Malformed("X-Slack-Request-Timestamp"))?;
    let tag = decode_signature(signature)?;
    if now_unix.abs_diff(sent_at) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale { tolerance_secs });
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    if hmac::verify(&key, &base_string(timestamp, body), &tag).is_ok() {
        return Ok(());
    }
    if body.contains(&b'*') {
        let gate_rebuilt = reencode_asterisks(body);
        if hmac::verify(&key, &base_string(timestamp, &gate_rebuilt), &tag).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The `X-Slack-Signature` value Slack would send for this body: `v0=` + lowercase hex.
pub fn sign_v0(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, &base_string(timestamp, body));
    let mut out = String::with_capacity(VERSION_PREFIX.len() + DIGEST_HEX_LEN);
    out.push_str(VERSION_PREFIX);
    for byte in tag.as_ref() {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn base_string(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(4 + timestamp.len() + body.len());
    message.extend_from_slice(b"v0:");
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b':');
    message.extend_from_slice(body);
    message
}

/// Echo's repair of a Spring-rebuilt form body: `*` back to `%2A`.
fn reencode_asterisks(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    for &byte in body {
        if byte == b'*' {
            out.extend_from_slice(b"%2A");
        } else {
            out.push(byte);
        }
    }
    out
}

fn decode_signature(header: &str) -> Result<[u8; 32], SignatureError> {
    let malformed = SignatureError::Malformed("X-Slack-Signature");
    let hex = header
        .strip_prefix(VERSION_PREFIX)
        .ok_or(malformed.clone())?;
    if hex.len() != DIGEST_HEX_LEN {
        return Err(malformed);
    }
    let mut tag = [0u8; 32];
    for (slot, pair) in tag.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let high = hex_value(pair[0]).ok_or(malformed.clone())?;
        let low = hex_value(pair[1]).ok_or(malformed.clone())?;
        *slot = (high << 4) | low;
    }
    Ok(tag)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK_SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_NOW: i64 = 1_531_420_618;

    fn check(
        ts: Option<&str>,
        sig: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        verify_signature(SLACK_SECRET, ts, sig, body, now, DEFAULT_TOLERANCE_SECS)
    }

    /// Slack's published example (docs/echo-contract.md, "Request signing").
    #[test]
    fn slacks_published_vector_verifies() {
        assert_eq!(SLACK_BODY.len(), 362);
        assert_eq!(
            sign_v0(SLACK_SECRET, SLACK_TS, SLACK_BODY.as_bytes()),
            SLACK_SIGNATURE
        );
        assert_eq!(
            check(
                Some(SLACK_TS),
                Some(SLACK_SIGNATURE),
                SLACK_BODY.as_bytes(),
                SLACK_NOW
            ),
            Ok(())
        );
        // Upper-case hex is the same digest.
        let upper = format!("v0={}", SLACK_SIGNATURE[3..].to_uppercase());
        assert_eq!(
            check(
                Some(SLACK_TS),
                Some(&upper),
                SLACK_BODY.as_bytes(),
                SLACK_NOW + 299
            ),
            Ok(())
        );
    }

    #[test]
    fn tampered_body_is_refused() {
        let tampered = format!("{SLACK_BODY}------");
        assert_eq!(
            check(
                Some(SLACK_TS),
                Some(SLACK_SIGNATURE),
                tampered.as_bytes(),
                SLACK_NOW
            ),
            Err(SignatureError::Mismatch)
        );
        let other_secret = verify_signature(
            b"another-secret",
            Some(SLACK_TS),
            Some(SLACK_SIGNATURE),
            SLACK_BODY.as_bytes(),
            SLACK_NOW,
            DEFAULT_TOLERANCE_SECS,
        );
        assert_eq!(other_secret, Err(SignatureError::Mismatch));
    }

    #[test]
    fn old_and_future_timestamps_are_refused() {
        let body = SLACK_BODY.as_bytes();
        assert_eq!(
            check(Some(SLACK_TS), Some(SLACK_SIGNATURE), body, SLACK_NOW + 301),
            Err(SignatureError::Stale {
                tolerance_secs: 300
            })
        );
        assert_eq!(
            check(Some(SLACK_TS), Some(SLACK_SIGNATURE), body, SLACK_NOW - 301),
            Err(SignatureError::Stale {
                tolerance_secs: 300
            })
        );
        assert_eq!(
            check(Some(SLACK_TS), Some(SLACK_SIGNATURE), body, SLACK_NOW - 300),
            Ok(())
        );
    }

    #[test]
    fn only_v0_with_64_hex_digits_is_accepted() {
        let body = SLACK_BODY.as_bytes();
        let malformed = Err(SignatureError::Malformed("X-Slack-Signature"));
        let v1 = SLACK_SIGNATURE.replacen("v0=", "v1=", 1);
        assert_eq!(check(Some(SLACK_TS), Some(&v1), body, SLACK_NOW), malformed);
        let bare = &SLACK_SIGNATURE[3..];
        assert_eq!(
            check(Some(SLACK_TS), Some(bare), body, SLACK_NOW),
            malformed
        );
        let short = &SLACK_SIGNATURE[..SLACK_SIGNATURE.len() - 2];
        assert_eq!(
            check(Some(SLACK_TS), Some(short), body, SLACK_NOW),
            malformed
        );
        let not_hex = format!("{}zz", &SLACK_SIGNATURE[..SLACK_SIGNATURE.len() - 2]);
        assert_eq!(
            check(Some(SLACK_TS), Some(&not_hex), body, SLACK_NOW),
            malformed
        );
    }

    #[test]
    fn missing_or_unparsable_headers_are_refused() {
        let body = SLACK_BODY.as_bytes();
        assert_eq!(
            check(None, Some(SLACK_SIGNATURE), body, SLACK_NOW),
            Err(SignatureError::Missing("X-Slack-Request-Timestamp"))
        );
        assert_eq!(
            check(Some(SLACK_TS), None, body, SLACK_NOW),
            Err(SignatureError::Missing("X-Slack-Signature"))
        );
        assert_eq!(
            check(Some("yesterday"), Some(SLACK_SIGNATURE), body, SLACK_NOW),
            Err(SignatureError::Malformed("X-Slack-Request-Timestamp"))
        );
    }

    #[test]
    fn gate_rebuilt_body_verifies_through_echos_asterisk_repair() {
        let slack_body = b"payload=%7B%22text%22%3A%22deploy+%2Amyapp%2A%22%7D";
        let gate_body = b"payload=%7B%22text%22%3A%22deploy+*myapp*%22%7D";
        let sig = sign_v0(SLACK_SECRET, SLACK_TS, slack_body);
        assert_eq!(
            check(Some(SLACK_TS), Some(&sig), slack_body, SLACK_NOW),
            Ok(())
        );
        assert_eq!(
            check(Some(SLACK_TS), Some(&sig), gate_body, SLACK_NOW),
            Ok(())
        );
        let other = b"payload=%7B%22text%22%3A%22deploy+*yourapp*%22%7D";
        assert_eq!(
            check(Some(SLACK_TS), Some(&sig), other, SLACK_NOW),
            Err(SignatureError::Mismatch)
        );
    }
}
