//! `reverb config`: every effective key with its value and origin, secrets masked.

use std::path::Path;

use crate::convert::format_duration;
use crate::secret::Secret;
use crate::settings::{
    ConfigEntry, IdentityFallback, LogFormat, Settings, SlackClientSettings, SpinnakerUserRule,
};

const NOT_SET: &str = "(not set)";

impl Settings {
    /// Every effective key Reverb reads, as (key, value, origin); secrets shown as `******`.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        let mut lines = Lines {
            settings: self,
            entries: Vec::new(),
        };
        lines.add("server.address", self.server.address.clone());
        lines.add("server.port", self.server.port.to_string());
        lines.add(
            "reverb.server.maxRequestBodySize",
            format!("{} bytes", self.server.max_request_body_bytes),
        );
        lines.add(
            "reverb.server.maxBufferedBodySize",
            format!("{} bytes", self.server.max_buffered_body_bytes),
        );
        lines.add(
            "reverb.server.bodyTimeout",
            format_duration(self.server.body_timeout),
        );
        lines.add(
            "reverb.server.headerTimeout",
            format_duration(self.server.header_timeout),
        );
        lines.add(
            "reverb.server.idleTimeout",
            format_duration(self.server.idle_timeout),
        );
        lines.add(
            "reverb.server.maxConnections",
            self.server.max_connections.to_string(),
        );
        lines.add("spinnaker.baseUrl", self.spinnaker_base_url.clone());
        lines.add("orca.baseUrl", self.orca_base_url.clone());
        lines.add(
            "services.fiat.enabled",
            self.fiat_base_url.is_some().to_string(),
        );
        lines.add(
            "services.fiat.baseUrl",
            optional(self.fiat_base_url.as_deref()),
        );

        let slack = &self.slack;
        lines.add("slack.enabled", slack.enabled.to_string());
        lines.add("slack.botName", optional(slack.bot_name.as_deref()));
        lines.slack_client("slack", &slack.legacy);
        lines.slack_client("slack.app", &slack.app);
        lines.add(
            "slack.app.signingSecret",
            masked(slack.signing_secret.as_ref()),
        );
        lines.add(
            "slack.app.verificationToken",
            masked(slack.verification_token.as_ref()),
        );

        let reverb = &self.reverb;
        lines.add("reverb.store.path", display_path(&reverb.store_path));
        lines.add(
            "reverb.templates.dir",
            optional(reverb.templates_dir.as_deref().map(display_path).as_deref()),
        );
        lines.add(
            "reverb.slack.messageStyle",
            reverb.message_style.as_str().to_owned(),
        );
        lines.add("reverb.slack.threads", reverb.threads.to_string());
        lines.add(
            "reverb.slack.responseUrlBase",
            reverb.response_url_base.clone(),
        );
        let format = match reverb.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        lines.add("reverb.logging.format", format.to_owned());
        lines.add(
            "reverb.logging.level",
            optional(reverb.log_level.as_deref()),
        );
        lines.add(
            "reverb.judgments.interactive",
            reverb.judgments.interactive.to_string(),
        );
        let judgments = &reverb.judgments;
        let fallback = match judgments.identity_fallback {
            IdentityFallback::Username => "username (unsafe: Slack usernames are not verified)",
            IdentityFallback::None => "none",
        };
        lines.add("reverb.judgments.identityFallback", fallback.to_owned());
        let rule = match judgments.spinnaker_user {
            SpinnakerUserRule::Email => "email",
            SpinnakerUserRule::LocalPart => "localPart",
        };
        lines.add("reverb.judgments.spinnakerUser", rule.to_owned());
        lines.add(
            "reverb.judgments.usersFile",
            match &judgments.users_file {
                Some(file) => format!("{} ({} entries)", display_path(&file.path), file.entries()),
                None => NOT_SET.to_owned(),
            },
        );
        lines.add(
            "reverb.judgments.allowGuests",
            judgments.allow_guests.to_string(),
        );
        lines.add(
            "reverb.judgments.allowExternalUsers",
            judgments.allow_external_users.to_string(),
        );
        let delivery = &reverb.delivery;
        lines.add("reverb.delivery.maxAge", format_duration(delivery.max_age));
        lines.add(
            "reverb.delivery.concurrency",
            delivery.concurrency.to_string(),
        );
        lines.add(
            "reverb.delivery.channelRate",
            delivery.channel_rate.to_string(),
        );
        lines.add(
            "reverb.delivery.channelBurst",
            delivery.channel_burst.to_string(),
        );
        lines.add(
            "reverb.delivery.requestTimeout",
            format_duration(delivery.request_timeout),
        );
        lines.add(
            "reverb.delivery.initialBackoff",
            format_duration(delivery.initial_backoff),
        );
        lines.add(
            "reverb.delivery.maxRetryAfter",
            format_duration(delivery.max_retry_after),
        );
        lines.add(
            "reverb.delivery.maxBackoff",
            format_duration(delivery.max_backoff),
        );
        lines.add(
            "reverb.echo.baseUrl",
            optional(reverb.echo_base_url.as_deref()),
        );
        lines.entries
    }
}

struct Lines<'a> {
    settings: &'a Settings,
    entries: Vec<ConfigEntry>,
}

impl Lines<'_> {
    fn add(&mut self, key: &str, value: String) {
        let origin = self.settings.origin_of(key).to_string();
        self.entries.push(ConfigEntry {
            key: key.to_owned(),
            value,
            origin,
        });
    }

    fn add_with_origin(&mut self, key: &str, value: String, origin: String) {
        self.entries.push(ConfigEntry {
            key: key.to_owned(),
            value,
            origin,
        });
    }

    fn slack_client(&mut self, prefix: &str, client: &SlackClientSettings) {
        self.add(&format!("{prefix}.token"), masked(client.token.as_ref()));
        let base_url_key = format!("{prefix}.baseUrl");
        if self.settings.origins.contains_key(&base_url_key) {
            self.add(&base_url_key, client.base_url.clone());
        } else {
            let mode = if client.incoming_webhook {
                "incoming-webhook mode"
            } else {
                "chat API mode"
            };
            self.add_with_origin(
                &base_url_key,
                client.base_url.clone(),
                format!("derived ({mode})"),
            );
        }
        self.add_with_origin(
            &format!("{prefix}.incomingWebhook"),
            client.incoming_webhook.to_string(),
            format!("derived from {prefix}.forceUseIncomingWebhook and {prefix}.token"),
        );
        self.add(
            &format!("{prefix}.sendCompactMessages"),
            client.send_compact_messages.to_string(),
        );
        self.add(
            &format!("{prefix}.expandUserNames"),
            client.expand_user_names.to_string(),
        );
    }
}

fn masked(secret: Option<&Secret>) -> String {
    if secret.is_some() {
        Secret::MASK.to_owned()
    } else {
        NOT_SET.to_owned()
    }
}

fn optional(value: Option<&str>) -> String {
    value.unwrap_or(NOT_SET).to_owned()
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}
