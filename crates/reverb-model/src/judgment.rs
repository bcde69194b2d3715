//! The judgment contract: everything the posting side (`reverb-notify`, the templates) and the
//! clicking side (`reverb-callbacks`) must agree on about Reverb's Approve/Reject buttons.
//!
//! A button's `value` is a reference Reverb minted, authenticated with a key only Reverb holds
//! ([`ButtonKey`], kept in the store). It names the judgment (execution id and stage `refId`),
//! the decision and the judgment input by index and digest; the input's text itself is read from
//! Orca at click time, so values stay short however long the inputs are. A click is honoured
//! only for a value that verifies *and* a message whose channel and `ts` are the ones Reverb
//! recorded for that judgment (see `docs/security.md`).

use std::fmt;

use ring::{digest, hmac, rand::SecureRandom};
use serde::{Deserialize, Serialize};

/// `action_id` of the Approve button; with judgment inputs each Approve button gets `.<n>`
/// appended (1-based), because Slack wants action ids unique within a block.
pub const ACTION_CONTINUE: &str = "reverb.judgment.continue";
/// `action_id` of the Reject button.
pub const ACTION_STOP: &str = "reverb.judgment.stop";
/// `block_id` of the Block Kit actions block.
pub const BLOCK_ID: &str = "reverb.judgment";
/// The `callbackServiceId` Reverb reserves: no caller of `POST /notifications` may use it.
pub const RESERVED_SERVICE_ID: &str = "reverb";
/// Legacy attachments: `callback_id` of Reverb's judgment buttons.
pub const LEGACY_CALLBACK_ID: &str = "reverb:judgment";
/// Legacy attachments: the buttons' `name`.
pub const LEGACY_ACTION_NAME: &str = "judgment";

/// Longest execution id or stage `refId` a button can name (Orca's ids are 26-36 characters).
pub const MAX_ID_CHARS: usize = 128;
/// Longest button value this module writes (Slack allows 2,000).
pub const MAX_VALUE_CHARS: usize = 600;

const VALUE_VERSION: &str = "rj1";
const MAC_BYTES: usize = 16;
const INPUT_DIGEST_BYTES: usize = 6;

/// A manual-judgment decision, as Orca's `judgmentStatus` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Continue,
    Stop,
}

impl Decision {
    /// Orca's `judgmentStatus` value (also the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Continue => "continue",
            Self::Stop => "stop",
        }
    }

    /// Read Orca's `judgmentStatus` (case-insensitive, as Orca reads it).
    pub fn from_orca_status(status: &str) -> Option<Self> {
        match status.trim().to_ascii_lowercase().as_str() {
            "continue" => Some(Self::Continue),
            "stop" => Some(Self::Stop),
            _ => None,
        }
    }

    /// The decision an `action_id` stands for: `reverb.judgment.stop`,
    /// `reverb.judgment.continue` or `reverb.judgment.continue.<n>`.
    pub fn of_action_id(action_id: &str) -> Option<Self> {
        if action_id == ACTION_STOP {
            return Some(Self::Stop);
        }
        let rest = action_id.strip_prefix(ACTION_CONTINUE)?;
        (rest.is_empty()
            || rest
                .strip_prefix('.')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
        .then_some(Self::Continue)
    }

    fn code(self) -> &'static str {
        match self {
            Self::Continue => "c",
            Self::Stop => "s",
        }
    }

    fn of_code(code: &str) -> Option<Self> {
        match code {
            "c" => Some(Self::Continue),
            "s" => Some(Self::Stop),
            _ => None,
        }
    }
}

/// A manual judgment that is over, one way or another: what the message that replaces the one
/// with buttons shows, and what the store records as the judgment's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedJudgment {
    pub application: String,
    pub execution_id: String,
    pub stage_ref_id: String,
    pub stage_name: String,
    pub pipeline_name: Option<String>,
    /// Deck's page of the execution, focused on the stage.
    pub link: String,
    /// `None` when the stage ended without a judgment (cancelled, timed out).
    pub decision: Option<Decision>,
    /// The Spinnaker identity that judged.
    pub judged_by: Option<String>,
    /// The Slack user who clicked, when the judgment was made from Slack through Reverb.
    pub slack_user_id: Option<String>,
    pub judgment_input: Option<String>,
    /// Epoch seconds.
    pub decided_at: i64,
    /// Why the message reads as it does beyond the decision, e.g. "already judged by X".
    pub note: Option<String>,
}

/// The store key of a judgment's claim: `judgment:{executionId}:{stageRefId}`.
pub fn judgment_key(execution_id: &str, stage_ref_id: &str) -> String {
    format!("judgment:{execution_id}:{stage_ref_id}")
}

/// The store key of one posted judgment message: `judgment:{executionId}:{stageRefId}@{lane}`.
pub fn judgment_ref_key(execution_id: &str, stage_ref_id: &str, lane: &str) -> String {
    format!("{}@{lane}", judgment_key(execution_id, stage_ref_id))
}

/// The prefix shared by the reference keys of every posted copy of one judgment's message.
pub fn judgment_ref_prefix(execution_id: &str, stage_ref_id: &str) -> String {
    format!("{}@", judgment_key(execution_id, stage_ref_id))
}

/// Whether a caller-supplied `callbackServiceId` is one Reverb keeps for itself. Echo routes a
/// click by the `callback_id` up to its first `:`, so that part is what counts.
pub fn is_reserved_service_id(service_id: &str) -> bool {
    let routed = service_id.split(':').next().unwrap_or_default();
    routed.trim().eq_ignore_ascii_case(RESERVED_SERVICE_ID)
}

/// The key that authenticates button values. Generated once per installation and kept in the
/// store, so every replica and every restart mints and checks the same values.
#[derive(Clone)]
pub struct ButtonKey {
    key: hmac::Key,
    /// A tag of a fixed text, so two keys can be compared without keeping the key material.
    fingerprint: String,
}

impl ButtonKey {
    /// Length of the raw key material.
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let fingerprint = hex(hmac::sign(&key, b"reverb button key fingerprint").as_ref());
        Self { key, fingerprint }
    }

    /// Fresh key material from the operating system's random source.
    pub fn generate_bytes() -> Option<[u8; Self::LEN]> {
        let mut bytes = [0u8; Self::LEN];
        ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
        Some(bytes)
    }

    fn tag(&self, fields: &[&str]) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        for field in fields {
            ctx.update(field.as_bytes());
            ctx.update(&[0]);
        }
        hex(&ctx.sign().as_ref()[..MAC_BYTES])
    }
}

impl PartialEq for ButtonKey {
    fn eq(&self, other: &Self) -> bool {
        same_bytes(self.fingerprint.as_bytes(), other.fingerprint.as_bytes())
    }
}

impl Eq for ButtonKey {}

impl fmt::Debug for ButtonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ButtonKey(******)")
    }
}

/// What one judgment button stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonRef {
    pub decision: Decision,
    /// The execution's application as the notification named it (Orca's is checked at click).
    pub application: String,
    pub execution_id: String,
    pub stage_ref_id: String,
    /// 1-based index into the stage's `judgmentInputs` of the input an Approve button chooses.
    pub input: Option<InputChoice>,
}

/// A judgment input named by position, with a digest of the text the button showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputChoice {
    pub index: usize,
    digest: String,
}

impl InputChoice {
    pub fn new(index: usize, text: &str) -> Self {
        Self {
            index,
            digest: input_digest(text),
        }
    }

    /// Whether `text` (the input Orca lists at this index now) is the one the button showed.
    pub fn matches(&self, text: &str) -> bool {
        self.digest == input_digest(text)
    }
}

/// Why a button value was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonValueError {
    /// Not a value of this format (or of a format Reverb no longer writes).
    Unreadable,
    /// The value is well formed but was not minted with this installation's key.
    NotMinted,
}

impl fmt::Display for ButtonValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unreadable => "the button's value is not a judgment reference",
            Self::NotMinted => "the button's value was not issued by this Reverb",
        })
    }
}

impl ButtonRef {
    /// Whether ids this long can be put on a button at all.
    pub fn fits(application: &str, execution_id: &str, stage_ref_id: &str) -> bool {
        let ok = |s: &str| !s.is_empty() && s.chars().count() <= MAX_ID_CHARS;
        application.chars().count() <= MAX_ID_CHARS && ok(execution_id) && ok(stage_ref_id)
    }

    /// The button value: `rj1:<d>:<n>:<input digest>:<application>:<execution>:<stage>:<mac>`,
    /// fields percent-encoded so no field can contain the separator.
    pub fn mint(&self, key: &ButtonKey) -> String {
        let (index, digest) = self.input_fields();
        let application = encode_field(&self.application);
        let execution = encode_field(&self.execution_id);
        let stage = encode_field(&self.stage_ref_id);
        let fields = [
            VALUE_VERSION,
            self.decision.code(),
            &index,
            digest,
            &application,
            &execution,
            &stage,
        ];
        let tag = key.tag(&fields);
        format!("{}:{tag}", fields.join(":"))
    }

    /// Read and authenticate a button value.
    pub fn verify(value: &str, key: &ButtonKey) -> Result<Self, ButtonValueError> {
        if value.len() > MAX_VALUE_CHARS {
            return Err(ButtonValueError::Unreadable);
        }
        let parts: Vec<&str> = value.split(':').collect();
        let [
            version,
            code,
            index,
            digest,
            application,
            execution,
            stage,
            tag,
        ] = parts[..]
        else {
            return Err(ButtonValueError::Unreadable);
        };
        if version != VALUE_VERSION {
            return Err(ButtonValueError::Unreadable);
        }
        let expected = key.tag(&[version, code, index, digest, application, execution, stage]);
        if !same_bytes(expected.as_bytes(), tag.as_bytes()) {
            return Err(ButtonValueError::NotMinted);
        }
        let decision = Decision::of_code(code).ok_or(ButtonValueError::Unreadable)?;
        let index: usize = index.parse().map_err(|_| ButtonValueError::Unreadable)?;
        let input = match index {
            0 => None,
            n => Some(InputChoice {
                index: n,
                digest: digest.to_string(),
            }),
        };
        let decode = |f: &str| {
            percent_encoding::percent_decode_str(f)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| ButtonValueError::Unreadable)
        };
        let me = Self {
            decision,
            application: decode(application)?,
            execution_id: decode(execution)?,
            stage_ref_id: decode(stage)?,
            input,
        };
        if !Self::fits(&me.application, &me.execution_id, &me.stage_ref_id) {
            return Err(ButtonValueError::Unreadable);
        }
        Ok(me)
    }

    fn input_fields(&self) -> (String, &str) {
        match &self.input {
            Some(choice) => (choice.index.to_string(), choice.digest.as_str()),
            None => ("0".to_string(), ""),
        }
    }
}

/// Characters kept literal in a value field; everything else (`:` and `%` included) is encoded.
const FIELD: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode_field(raw: &str) -> String {
    percent_encoding::utf8_percent_encode(raw, FIELD).to_string()
}

fn input_digest(text: &str) -> String {
    let d = digest::digest(&digest::SHA256, text.as_bytes());
    hex(&d.as_ref()[..INPUT_DIGEST_BYTES])
}

/// Equality that takes the same time wherever the first difference is.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> ButtonKey {
        ButtonKey::from_bytes(&[byte; ButtonKey::LEN])
    }

    fn reference(input: Option<InputChoice>) -> ButtonRef {
        ButtonRef {
            decision: Decision::Continue,
            application: "myapp".into(),
            execution_id: "01HTZ8Q5M3K7V2N9P4R6S8T0WX".into(),
            stage_ref_id: "1".into(),
            input,
        }
    }

    #[test]
    fn a_minted_value_verifies_with_the_same_key_only() {
        let r = reference(None);
        let value = r.mint(&key(1));
        assert!(
            value.starts_with("rj1:c:0::myapp:01HTZ8Q5M3K7V2N9P4R6S8T0WX:1:"),
            "{value}"
        );
        assert_eq!(ButtonRef::verify(&value, &key(1)), Ok(r));
        assert_eq!(
            ButtonRef::verify(&value, &key(2)),
            Err(ButtonValueError::NotMinted)
        );
    }

    #[test]
    fn any_changed_field_fails_verification() {
        let value = reference(Some(InputChoice::new(2, "ship it"))).mint(&key(1));
        let tampered = [
            value.replacen(":c:", ":s:", 1),
            value.replacen(":2:", ":1:", 1),
            value.replacen(
                "01HTZ8Q5M3K7V2N9P4R6S8T0WX",
                "01HTZ8Q5M3K7V2N9P4R6S8T0WY",
                1,
            ),
            value.replacen("WX:1:", "WX:2:", 1),
            value.replacen(":myapp:", ":payments:", 1),
        ];
        for t in tampered {
            assert_ne!(t, value);
            assert_eq!(
                ButtonRef::verify(&t, &key(1)),
                Err(ButtonValueError::NotMinted),
                "{t}"
            );
        }
    }

    #[test]
    fn separators_and_long_inputs_stay_inside_their_fields() {
        let r = ButtonRef {
            decision: Decision::Stop,
            application: "app:x".into(),
            execution_id: "exec:with:colons%".into(),
            stage_ref_id: "ref 1/ü".into(),
            input: Some(InputChoice::new(25, &"x".repeat(2_000))),
        };
        let value = r.mint(&key(3));
        assert!(value.len() < 200, "{}", value.len());
        let back = ButtonRef::verify(&value, &key(3)).unwrap();
        assert_eq!(back, r);
        assert!(back.input.as_ref().unwrap().matches(&"x".repeat(2_000)));
        assert!(!back.input.unwrap().matches("y"));
    }

    #[test]
    fn garbage_is_unreadable_never_a_panic() {
        for v in [
            "",
            "rj1",
            "{\"a\":\"app\",\"e\":\"E\",\"s\":\"1\"}",
            "rj2:c:0::a:E:1:00",
            "rj1:c:x::a:E:1:00",
            &"rj1:".repeat(400),
        ] {
            assert!(ButtonRef::verify(v, &key(1)).is_err(), "{v}");
        }
    }

    #[test]
    fn action_ids_map_to_decisions() {
        assert_eq!(
            Decision::of_action_id("reverb.judgment.continue"),
            Some(Decision::Continue)
        );
        assert_eq!(
            Decision::of_action_id("reverb.judgment.continue.12"),
            Some(Decision::Continue)
        );
        assert_eq!(
            Decision::of_action_id("reverb.judgment.stop"),
            Some(Decision::Stop)
        );
        assert_eq!(Decision::of_action_id("reverb.judgment.continue."), None);
        assert_eq!(Decision::of_action_id("reverb.judgment.continuex"), None);
        assert_eq!(Decision::of_action_id("keel"), None);
    }

    #[test]
    fn reserved_service_ids_and_keys() {
        assert!(is_reserved_service_id("reverb"));
        assert!(is_reserved_service_id(" Reverb "));
        assert!(is_reserved_service_id("reverb:judgment"));
        assert!(!is_reserved_service_id("keel"));
        assert!(!is_reserved_service_id("keel:reverb"));
        assert_eq!(judgment_key("E", "1"), "judgment:E:1");
        assert_eq!(
            judgment_ref_key("E", "1", "deploys"),
            "judgment:E:1@deploys"
        );
        assert_eq!(judgment_ref_prefix("E", "1"), "judgment:E:1@");
    }
}
