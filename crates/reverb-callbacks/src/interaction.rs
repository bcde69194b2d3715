//! Slack's interactivity payloads, parsed into one shape for both ways clicks arrive (the HTTP
//! Request URL today, Socket Mode later).

use serde_json::Value;

/// Why a callback body was refused. The HTTP layer answers 400 for every variant.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("Missing payload field in Slack callback request.")]
    MissingPayload,
    #[error("Slack callback payload is not valid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    #[error("Unsupported Slack callback type: {0}")]
    UnsupportedType(String),
    #[error(
        "Slack callback_id and user not present. Cannot route the request to originating Spinnaker service."
    )]
    MissingRouting,
    #[error("Spinnaker currently only supports Slack button actions.")]
    NotAButton,
    #[error("Slack callback carries no action.")]
    NoAction,
    #[error("Slack callback carries no user id.")]
    MissingUser,
    /// Echo's answer when `<serviceId>.baseUrl` is not configured.
    #[error("Base URL for service {0} not found in the configuration.")]
    UnknownService(String),
}

/// The two payload types Reverb accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionKind {
    /// Legacy attachment buttons (what Echo and Keel use).
    InteractiveMessage,
    /// Block Kit buttons (what Reverb posts).
    BlockActions,
}

/// The clicking Slack user as the payload names them. Never an identity by itself: Reverb asks
/// Slack's `users.info` for the e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlackUserRef {
    pub id: Option<String>,
    /// `user.name` (or `user.username` in Block Kit payloads).
    pub name: Option<String>,
}

/// One clicked action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InteractionAction {
    /// Block Kit `action_id`.
    pub action_id: Option<String>,
    /// Legacy attachment action `name`.
    pub name: Option<String>,
    /// `button`, `static_select`, ...
    pub kind: String,
    pub value: Option<String>,
    /// The button's label when the payload carries it (a string in legacy payloads, `text.text`
    /// in Block Kit).
    pub text: Option<String>,
}

/// A verified, parsed click.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub kind: InteractionKind,
    /// `callback_id` of legacy attachment buttons (`"<serviceId>:<messageId>"`).
    pub callback_id: Option<String>,
    pub user: SlackUserRef,
    pub channel_id: Option<String>,
    pub response_url: Option<String>,
    pub actions: Vec<InteractionAction>,
    /// The message that carried the button: `original_message` (legacy) or `message` (Block Kit).
    pub original_message: Option<Value>,
    /// The whole payload, for anything not lifted out above.
    pub payload: Value,
}

/// Parse an HTTP callback body: a form with a `payload` field holding URL-encoded JSON.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, CallbackError> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| CallbackError::MissingPayload)?;
    let payload = fields
        .into_iter()
        .find_map(|(name, value)| (name == "payload").then_some(value))
        .ok_or(CallbackError::MissingPayload)?;
    let json: Value = serde_json::from_str(&payload).map_err(CallbackError::InvalidJson)?;
    Interaction::from_payload(json)
}

impl Interaction {
    /// Build from the payload JSON itself (what Socket Mode envelopes carry).
    pub fn from_payload(payload: Value) -> Result<Self, CallbackError> {
        let kind = match payload.get("type").and_then(Value::as_str) {
            Some("interactive_message") => InteractionKind::InteractiveMessage,
            Some("block_actions") => InteractionKind::BlockActions,
            Some(other) => return Err(CallbackError::UnsupportedType(other.to_string())),
            None => return Err(CallbackError::UnsupportedType("null".to_string())),
        };
        let user = SlackUserRef {
            id: text_at(&payload, "/user/id"),
            name: text_at(&payload, "/user/name").or_else(|| text_at(&payload, "/user/username")),
        };
        let actions: Vec<InteractionAction> = payload
            .get("actions")
            .and_then(Value::as_array)
            .map(|list| list.iter().map(parse_action).collect())
            .unwrap_or_default();
        let callback_id = text_at(&payload, "/callback_id");
        match kind {
            InteractionKind::InteractiveMessage => {
                // Echo's rules, in Echo's order.
                if callback_id.is_none() || user.name.is_none() {
                    return Err(CallbackError::MissingRouting);
                }
                let first = actions.first().ok_or(CallbackError::NoAction)?;
                if actions.len() > 1 {
                    tracing::warn!(
                        count = actions.len(),
                        "expected a single selected action from Slack"
                    );
                }
                if first.kind != "button" {
                    return Err(CallbackError::NotAButton);
                }
            }
            InteractionKind::BlockActions => {
                if user.id.is_none() {
                    return Err(CallbackError::MissingUser);
                }
                if actions.is_empty() {
                    return Err(CallbackError::NoAction);
                }
            }
        }
        let original_message = match kind {
            InteractionKind::InteractiveMessage => payload.get("original_message"),
            InteractionKind::BlockActions => payload.get("message"),
        }
        .filter(|m| m.is_object())
        .cloned();
        Ok(Self {
            kind,
            callback_id,
            channel_id: text_at(&payload, "/channel/id")
                .or_else(|| text_at(&payload, "/container/channel_id")),
            response_url: text_at(&payload, "/response_url"),
            user,
            actions,
            original_message,
            payload,
        })
    }

    /// The first clicked action (parsing guarantees there is one).
    pub fn action(&self) -> Option<&InteractionAction> {
        self.actions.first()
    }
}

fn parse_action(action: &Value) -> InteractionAction {
    InteractionAction {
        action_id: text_at(action, "/action_id"),
        name: text_at(action, "/name"),
        kind: text_at(action, "/type").unwrap_or_default(),
        value: action
            .get("value")
            .and_then(Value::as_str)
            .map(str::to_string),
        text: text_at(action, "/text").or_else(|| text_at(action, "/text/text")),
    }
}

/// A non-empty string at a JSON pointer.
fn text_at(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const INTERACTIVE: &str = include_str!("../tests/fixtures/callback-interactive-message.json");
    const BLOCK_ACTIONS: &str = include_str!("../tests/fixtures/callback-block-actions.json");

    /// Form-encode like Slack: `payload=` + the JSON with everything but `A-Za-z0-9-_.` escaped.
    fn slack_form(json: &str) -> Vec<u8> {
        let mut out = b"payload=".to_vec();
        for byte in json.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(byte),
                b' ' => out.push(b'+'),
                _ => out.extend_from_slice(format!("%{byte:02X}").as_bytes()),
            }
        }
        out
    }

    #[test]
    fn parses_echos_legacy_fixture() {
        let i = parse_interaction(&slack_form(INTERACTIVE)).unwrap();
        assert_eq!(i.kind, InteractionKind::InteractiveMessage);
        assert_eq!(
            i.callback_id.as_deref(),
            Some("keel:01DYNYK94DE4901K9P802DB4ZT")
        );
        assert_eq!(i.user.id.as_deref(), Some("USJ9YG2DT"));
        assert_eq!(i.user.name.as_deref(), Some("john.doe"));
        assert_eq!(i.channel_id.as_deref(), Some("C0123456789"));
        assert_eq!(
            i.response_url.as_deref(),
            Some("https://hooks.slack.com/actions/T00000000/0123456789/abcdefgh1234567")
        );
        let action = i.action().unwrap();
        assert_eq!(action.name.as_deref(), Some("manual-judgement"));
        assert_eq!(action.value.as_deref(), Some("OVERRIDE_PASS"));
        assert_eq!(action.kind, "button");
        assert_eq!(action.text, None);
        assert!(
            i.original_message
                .as_ref()
                .unwrap()
                .get("attachments")
                .is_some()
        );
    }

    #[test]
    fn parses_block_actions_fixture() {
        let i = parse_interaction(&slack_form(BLOCK_ACTIONS)).unwrap();
        assert_eq!(i.kind, InteractionKind::BlockActions);
        assert_eq!(i.callback_id, None);
        assert_eq!(i.user.id.as_deref(), Some("U0JANE0001"));
        assert_eq!(i.user.name.as_deref(), Some("jane"));
        assert_eq!(i.channel_id.as_deref(), Some("C0DEPLOY01"));
        let action = i.action().unwrap();
        assert_eq!(action.action_id.as_deref(), Some("judgment.continue"));
        assert_eq!(action.text.as_deref(), Some("Approve"));
    }

    #[test]
    fn java_urlencoder_body_parses_the_same() {
        // Gate's rebuilt body: `*` literal, otherwise identical.
        let slack = slack_form(INTERACTIVE);
        let gate = String::from_utf8(slack.clone())
            .unwrap()
            .replace("%2A", "*");
        assert_eq!(
            parse_interaction(gate.as_bytes()).unwrap(),
            parse_interaction(&slack).unwrap()
        );
    }

    #[test]
    fn body_without_payload_field_is_refused() {
        let err = parse_interaction(b"content=suspicious").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Missing payload field in Slack callback request."
        );
        assert!(matches!(
            parse_interaction(b""),
            Err(CallbackError::MissingPayload)
        ));
    }

    #[test]
    fn malformed_json_is_refused() {
        assert!(matches!(
            parse_interaction(b"payload=%7Bnot-json"),
            Err(CallbackError::InvalidJson(_))
        ));
    }

    #[test]
    fn other_types_are_refused_by_name() {
        let body = slack_form(r#"{"type":"view_submission","user":{"id":"U1","name":"a"}}"#);
        let err = parse_interaction(&body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unsupported Slack callback type: view_submission"
        );
    }

    #[test]
    fn echos_rules_for_legacy_payloads() {
        let mut payload: Value = serde_json::from_str(INTERACTIVE).unwrap();
        payload["callback_id"] = json!("");
        assert!(matches!(
            Interaction::from_payload(payload),
            Err(CallbackError::MissingRouting)
        ));

        let mut payload: Value = serde_json::from_str(INTERACTIVE).unwrap();
        payload["user"] = json!({"id": "U1"});
        assert!(matches!(
            Interaction::from_payload(payload),
            Err(CallbackError::MissingRouting)
        ));

        let mut payload: Value = serde_json::from_str(INTERACTIVE).unwrap();
        payload["actions"][0]["type"] = json!("select");
        let err = Interaction::from_payload(payload).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Spinnaker currently only supports Slack button actions."
        );

        let mut payload: Value = serde_json::from_str(INTERACTIVE).unwrap();
        payload["actions"] = json!([]);
        assert!(matches!(
            Interaction::from_payload(payload),
            Err(CallbackError::NoAction)
        ));
    }

    #[test]
    fn block_actions_need_a_user_and_an_action() {
        let mut payload: Value = serde_json::from_str(BLOCK_ACTIONS).unwrap();
        payload["user"] = json!({"name": "jane"});
        assert!(matches!(
            Interaction::from_payload(payload),
            Err(CallbackError::MissingUser)
        ));
        let mut payload: Value = serde_json::from_str(BLOCK_ACTIONS).unwrap();
        payload["actions"] = json!([]);
        assert!(matches!(
            Interaction::from_payload(payload),
            Err(CallbackError::NoAction)
        ));
    }
}
