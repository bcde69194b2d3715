//! Echo's `Notification` (what `POST /notifications` receives) and its interactive parts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Echo's `Notification`. Unknown fields are ignored, as Spring's Jackson mapper does.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    #[serde(default)]
    pub notification_type: Option<String>,
    #[serde(default)]
    pub to: Option<Vec<String>>,
    #[serde(default)]
    pub cc: Option<Vec<String>>,
    #[serde(default)]
    pub template_group: Option<String>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub source: Option<NotificationSource>,
    #[serde(default, deserialize_with = "null_as_empty_map")]
    pub additional_context: Map<String, Value>,
    #[serde(default)]
    pub interactive_actions: Option<InteractiveActions>,
    #[serde(default, deserialize_with = "null_as_false")]
    pub use_interactive_bot: bool,
}

impl Notification {
    /// Echo's `isInteractive()`: the interactive bot was asked for, or there are actions.
    pub fn is_interactive(&self) -> bool {
        self.use_interactive_bot
            || self
                .interactive_actions
                .as_ref()
                .is_some_and(|a| !a.actions.is_empty())
    }

    /// The notification type upper-cased, as every Echo service compares it.
    pub fn type_upper(&self) -> Option<String> {
        self.notification_type.as_ref().map(|t| t.to_uppercase())
    }

    /// A string value of `additionalContext`, `None` when absent or null.
    pub fn context_str(&self, key: &str) -> Option<&str> {
        self.additional_context.get(key).and_then(Value::as_str)
    }
}

/// `severity`: Jackson accepts exactly these two names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Severity {
    #[serde(rename = "NORMAL")]
    Normal,
    #[serde(rename = "HIGH")]
    High,
}

/// `Notification.source`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSource {
    #[serde(default)]
    pub execution_type: Option<String>,
    #[serde(default)]
    pub execution_id: Option<String>,
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

/// `Notification.interactiveActions`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractiveActions {
    #[serde(default)]
    pub callback_service_id: Option<String>,
    #[serde(default)]
    pub callback_message_id: Option<String>,
    #[serde(default = "default_color")]
    pub color: String,
    #[serde(default)]
    pub actions: Vec<InteractiveAction>,
}

fn default_color() -> String {
    "#cccccc".to_string()
}

/// Jackson decodes `InteractiveAction` polymorphically on `type`; `button` is the only subtype,
/// and any other (or a missing) type fails the whole request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type")]
pub enum InteractiveAction {
    #[serde(rename = "button")]
    Button(ButtonFields),
}

/// The fields of a `ButtonAction` besides its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct ButtonFields {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
}

/// `ButtonAction` as Echo serialises it inside a callback: `type` is always `"button"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ButtonAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub value: Option<String>,
    pub label: Option<String>,
}

/// What Echo POSTs to `<serviceId>.baseUrl/notifications/callback` after a click.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractiveActionCallback {
    pub action_performed: ButtonAction,
    pub service_id: String,
    pub message_id: String,
    pub user: Option<String>,
}

/// `EchoResponse`: `{"value":null}` for every Slack send.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EchoResponse {
    pub value: Option<Value>,
}

fn null_as_empty_map<'de, D>(d: D) -> Result<Map<String, Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

fn null_as_false<'de, D>(d: D) -> Result<bool, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactive_when_actions_present_or_bot_forced() {
        let n: Notification = serde_json::from_str(
            r#"{"notificationType":"slack","interactiveActions":{"actions":[{"type":"button","name":"a","value":"b","label":"c"}]}}"#,
        )
        .unwrap();
        assert!(n.is_interactive());
        assert_eq!(n.interactive_actions.as_ref().unwrap().color, "#cccccc");
        let forced: Notification = serde_json::from_str(r#"{"useInteractiveBot":true}"#).unwrap();
        assert!(forced.is_interactive());
        let plain: Notification =
            serde_json::from_str(r#"{"interactiveActions":{"actions":[]}}"#).unwrap();
        assert!(!plain.is_interactive());
    }

    #[test]
    fn non_button_actions_are_rejected_like_jackson() {
        let err = serde_json::from_str::<Notification>(
            r#"{"interactiveActions":{"actions":[{"type":"select","name":"a"}]}}"#,
        );
        assert!(err.is_err());
        let missing = serde_json::from_str::<Notification>(
            r#"{"interactiveActions":{"actions":[{"name":"a"}]}}"#,
        );
        assert!(missing.is_err());
    }

    #[test]
    fn severity_must_be_known() {
        assert!(serde_json::from_str::<Notification>(r#"{"severity":"LOW"}"#).is_err());
        assert!(serde_json::from_str::<Notification>(r#"{"severity":"HIGH"}"#).is_ok());
    }

    #[test]
    fn echo_response_keeps_null_value() {
        assert_eq!(
            serde_json::to_string(&EchoResponse::default()).unwrap(),
            r#"{"value":null}"#
        );
    }
}
