//! A Slack app manifest for Reverb: paste it into "Create New App → From an app manifest".

/// Bot token scopes, each with what it is for (docs/slack-app.md explains what breaks without).
pub const BOT_SCOPES: &[(&str, &str)] = &[
    ("chat:write", "post and update messages"),
    (
        "chat:write.public",
        "post to public channels the bot has not joined",
    ),
    ("users:read", "look up the clicking user"),
    (
        "users:read.email",
        "read the clicking user's e-mail, their Spinnaker identity",
    ),
];

/// Slack's limit for `display_information.name`.
const MAX_APP_NAME_CHARS: usize = 35;
/// Slack's limit for `features.bot_user.display_name`.
const MAX_BOT_NAME_CHARS: usize = 80;
const DEFAULT_BOT_NAME: &str = "spinnaker";

/// The YAML manifest: the bot user, its scopes, and interactivity pointed at `request_url`
/// (normally `https://<gate>/notifications/callbacks/slack`).
pub fn slack_app_manifest(request_url: &str, bot_name: &str) -> String {
    let bot_name = match bot_name.trim() {
        "" => DEFAULT_BOT_NAME,
        name => name,
    };
    let app_name: String = bot_name.chars().take(MAX_APP_NAME_CHARS).collect();
    let display_name: String = bot_name.chars().take(MAX_BOT_NAME_CHARS).collect();
    let scopes: String = BOT_SCOPES
        .iter()
        .map(|(scope, _)| format!("      - {scope}\n"))
        .collect();
    format!(
        "_metadata:
  major_version: 1
  minor_version: 1
display_information:
  name: {app_name}
  description: Spinnaker notifications and manual judgments
features:
  bot_user:
    display_name: {display_name}
    always_online: true
oauth_config:
  scopes:
    bot:
{scopes}settings:
  interactivity:
    is_enabled: true
    request_url: {request_url}
  org_deploy_enabled: false
  socket_mode_enabled: false
  token_rotation_enabled: false
",
        app_name = yaml_string(&app_name),
        display_name = yaml_string(&display_name),
        request_url = yaml_string(request_url.trim()),
    )
}

/// A double-quoted YAML scalar: safe whatever the text holds.
fn yaml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_norway::Value;

    fn parse(text: &str) -> Value {
        serde_norway::from_str(text).expect("valid YAML")
    }

    #[test]
    fn manifest_has_scopes_interactivity_and_flags() {
        let text = slack_app_manifest(
            "https://gate.example.com/notifications/callbacks/slack",
            "spinnakerbot",
        );
        let m = parse(&text);
        assert_eq!(
            m["display_information"]["name"],
            Value::from("spinnakerbot")
        );
        assert_eq!(
            m["features"]["bot_user"]["display_name"],
            Value::from("spinnakerbot")
        );
        let scopes: Vec<&str> = m["oauth_config"]["scopes"]["bot"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(
            scopes,
            [
                "chat:write",
                "chat:write.public",
                "users:read",
                "users:read.email"
            ]
        );
        let settings = &m["settings"];
        assert_eq!(settings["interactivity"]["is_enabled"], Value::from(true));
        assert_eq!(
            settings["interactivity"]["request_url"],
            Value::from("https://gate.example.com/notifications/callbacks/slack")
        );
        for flag in [
            "org_deploy_enabled",
            "socket_mode_enabled",
            "token_rotation_enabled",
        ] {
            assert_eq!(settings[flag], Value::from(false), "{flag}");
        }
    }

    #[test]
    fn odd_names_stay_valid_yaml_and_fit_slacks_limits() {
        let name = "Spin: \"bot\" # with a very long name that goes on and on";
        let m = parse(&slack_app_manifest("https://g/x?a=1&b=#frag", name));
        let app_name = m["display_information"]["name"].as_str().unwrap();
        assert_eq!(app_name.chars().count(), 35);
        assert!(name.starts_with(app_name));
        assert_eq!(m["features"]["bot_user"]["display_name"], Value::from(name));
        assert_eq!(
            m["settings"]["interactivity"]["request_url"],
            Value::from("https://g/x?a=1&b=#frag")
        );
        let blank = parse(&slack_app_manifest("https://g", "  "));
        assert_eq!(
            blank["features"]["bot_user"]["display_name"],
            Value::from("spinnaker")
        );
    }
}
