//! Binding the merged properties to [`Settings`]: each key Reverb reads is looked up once,
//! typed, checked, and its origin recorded for `reverb config`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::convert::{parse_bool, parse_duration, parse_port, parse_size};
use crate::error::{ConfigError, Origin};
use crate::resolve::{RawConfig, ResolvedValue};
use crate::secret::Secret;
use crate::settings::{
    DEFAULT_ADDRESS, DEFAULT_FIAT_BASE_URL, DEFAULT_MAX_BUFFERED_BODY_BYTES,
    DEFAULT_MAX_REQUEST_BODY_BYTES, DEFAULT_ORCA_BASE_URL, DEFAULT_PORT, DEFAULT_RESPONSE_URL_BASE,
    DEFAULT_SPINNAKER_BASE_URL, DEFAULT_STORE_PATH, DeliverySettings, IdentityFallback,
    JudgmentSettings, LogFormat, MessageStyle, ReverbSettings, SLACK_CHAT_BASE_URL,
    SLACK_WEBHOOK_BASE_URL, ServerSettings, Settings, SlackClientSettings, SlackSettings,
    SpinnakerUserRule,
};

/// kork-secrets references; Reverb has no decryption engines, so these cannot be used.
const ENCRYPTED_PREFIXES: [&str; 2] = ["encrypted:", "encryptedFile:"];

pub(crate) fn is_encrypted_reference(value: &str) -> bool {
    let value = value.trim_start();
    ENCRYPTED_PREFIXES
        .iter()
        .any(|prefix| value.starts_with(prefix))
}

/// Types every key Reverb reads; the first unusable value is the error.
pub(crate) fn bind(
    raw: RawConfig,
    profiles: Vec<String>,
    sources: Vec<PathBuf>,
) -> Result<Settings, ConfigError> {
    let mut binder = Binder {
        raw: &raw,
        origins: BTreeMap::new(),
    };
    let server = binder.server()?;
    let spinnaker_base_url = binder.url_or("spinnaker.baseUrl", DEFAULT_SPINNAKER_BASE_URL)?;
    let orca_base_url = binder.url_or("orca.baseUrl", DEFAULT_ORCA_BASE_URL)?;
    let fiat_base_url = if binder.flag("services.fiat.enabled", false)? {
        Some(binder.url_or("services.fiat.baseUrl", DEFAULT_FIAT_BASE_URL)?)
    } else {
        None
    };
    let slack = binder.slack()?;
    let reverb = binder.reverb()?;
    let origins = binder.origins;
    Ok(Settings {
        server,
        spinnaker_base_url,
        orca_base_url,
        fiat_base_url,
        slack,
        reverb,
        profiles,
        sources,
        raw,
        origins,
    })
}

struct Binder<'a> {
    raw: &'a RawConfig,
    origins: BTreeMap<String, Origin>,
}

impl Binder<'_> {
    /// The first of `keys` holding a non-blank value, recorded under `record_as`.
    /// Every key consulted is one Reverb reads, so an `encrypted:` reference there is an error.
    fn first_set(
        &mut self,
        record_as: &str,
        keys: &[&str],
    ) -> Result<Option<ResolvedValue>, ConfigError> {
        for key in keys {
            let Some(found) = self.raw.get(key)? else {
                continue;
            };
            if is_encrypted_reference(&found.value) {
                return Err(ConfigError::invalid(
                    key,
                    "is an encrypted: secret reference, which Reverb cannot decrypt; give the plain value \
                     (for example through an environment variable)",
                    &found.origin,
                ));
            }
            if found.value.trim().is_empty() {
                continue;
            }
            self.origins
                .insert(record_as.to_owned(), found.origin.clone());
            return Ok(Some(found));
        }
        Ok(None)
    }

    fn get(&mut self, key: &str) -> Result<Option<ResolvedValue>, ConfigError> {
        self.first_set(key, &[key])
    }

    /// `key`, or `default_text` with its placeholders resolved.
    fn get_or(&mut self, key: &str, default_text: &str) -> Result<ResolvedValue, ConfigError> {
        if let Some(found) = self.get(key)? {
            return Ok(found);
        }
        let resolved = self.raw.resolve(key, default_text, &Origin::Default)?;
        if resolved.origin != Origin::Default {
            self.origins.insert(key.to_owned(), resolved.origin.clone());
        }
        Ok(resolved)
    }

    fn text(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.get(key)?.map(|found| found.value.trim().to_owned()))
    }

    fn secret(&mut self, record_as: &str, keys: &[&str]) -> Result<Option<Secret>, ConfigError> {
        Ok(self
            .first_set(record_as, keys)?
            .map(|found| Secret::new(found.value.trim().to_owned())))
    }

    /// Parses the first set key of `keys` with `parse`, or gives `default`.
    fn typed<T>(
        &mut self,
        record_as: &str,
        keys: &[&str],
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        match self.first_set(record_as, keys)? {
            None => Ok(default),
            Some(found) => parse(&found.value).ok_or_else(|| {
                ConfigError::invalid(
                    record_as,
                    format!("{:?} is not {expected}", found.value),
                    &found.origin,
                )
            }),
        }
    }

    fn flag(&mut self, key: &str, default: bool) -> Result<bool, ConfigError> {
        self.typed(
            key,
            &[key],
            default,
            "a boolean (true or false)",
            parse_bool,
        )
    }

    fn duration(&mut self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        let duration = self.typed(
            key,
            &[key],
            default,
            "a duration (like 500ms, 30s, 5m, 24h, 2d or PT24H)",
            parse_duration,
        )?;
        if duration.is_zero() {
            return Err(self.invalid_here(key, "must be longer than zero"));
        }
        Ok(duration)
    }

    /// A count of at least one.
    fn count<T>(&mut self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + From<u8>,
    {
        let parse = |text: &str| {
            text.trim()
                .parse::<T>()
                .ok()
                .filter(|count| *count >= T::from(1))
        };
        self.typed(key, &[key], default, "a whole number of at least 1", parse)
    }

    /// An http(s) URL without trailing slash, defaulting to `default_text` (placeholders allowed).
    fn url_or(&mut self, key: &str, default_text: &str) -> Result<String, ConfigError> {
        let found = self.get_or(key, default_text)?;
        checked_url(key, &found)
    }

    fn optional_url(
        &mut self,
        record_as: &str,
        keys: &[&str],
    ) -> Result<Option<String>, ConfigError> {
        match self.first_set(record_as, keys)? {
            Some(found) => checked_url(record_as, &found).map(Some),
            None => Ok(None),
        }
    }

    /// An error about `key`'s current value, naming where it was set.
    fn invalid_here(&self, key: &str, problem: &str) -> ConfigError {
        let origin = self.origins.get(key).cloned().unwrap_or(Origin::Default);
        ConfigError::invalid(key, problem, &origin)
    }

    fn server(&mut self) -> Result<ServerSettings, ConfigError> {
        let address = self
            .text("server.address")?
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
        let port = self.typed(
            "server.port",
            &["server.port"],
            DEFAULT_PORT,
            "a port number",
            parse_port,
        )?;
        let key = "reverb.server.maxRequestBodySize";
        let parse_body_size = |text: &str| {
            parse_size(text)
                .filter(|bytes| *bytes > 0)
                .and_then(|bytes| usize::try_from(bytes).ok())
        };
        let max_request_body_bytes = self.typed(
            key,
            &[key],
            DEFAULT_MAX_REQUEST_BODY_BYTES,
            "a positive size (like 16MiB, 64MB or a number of bytes)",
            parse_body_size,
        )?;
        let buffered_key = "reverb.server.maxBufferedBodySize";
        let max_buffered_body_bytes = self.typed(
            buffered_key,
            &[buffered_key],
            DEFAULT_MAX_BUFFERED_BODY_BYTES.max(max_request_body_bytes),
            "a positive size (like 48MiB, 64MB or a number of bytes)",
            parse_body_size,
        )?;
        if max_buffered_body_bytes < max_request_body_bytes {
            return Err(self.invalid_here(
                buffered_key,
                "must be at least reverb.server.maxRequestBodySize",
            ));
        }
        let defaults = ServerSettings::default();
        let body_timeout = self.duration("reverb.server.bodyTimeout", defaults.body_timeout)?;
        let header_timeout =
            self.duration("reverb.server.headerTimeout", defaults.header_timeout)?;
        let idle_timeout = self.duration("reverb.server.idleTimeout", defaults.idle_timeout)?;
        let max_connections =
            self.count("reverb.server.maxConnections", defaults.max_connections)?;
        Ok(ServerSettings {
            address,
            port,
            max_request_body_bytes,
            max_buffered_body_bytes,
            body_timeout,
            header_timeout,
            idle_timeout,
            max_connections,
        })
    }

    fn slack(&mut self) -> Result<SlackSettings, ConfigError> {
        let enabled = self.flag("slack.enabled", false)?;
        if !enabled {
            // As in Echo, Slack properties are not bound at all while Slack is off, so
            // whatever Halyard left there cannot stop the service.
            return Ok(SlackSettings::default());
        }
        let bot_name = self.text("slack.botName")?;
        let legacy = self.slack_client("slack", None)?;
        let app = self.slack_client("slack.app", Some("slack"))?;
        let signing_secret = self.secret(
            "slack.app.signingSecret",
            &["slack.app.signingSecret", "slack.signingSecret"],
        )?;
        let verification_token = self.secret(
            "slack.app.verificationToken",
            &["slack.app.verificationToken", "slack.verificationToken"],
        )?;
        if legacy.token.is_none() && app.token.is_none() {
            // Name the file that switched Slack on: that is where the token belongs.
            let origin = self
                .origins
                .get("slack.enabled")
                .cloned()
                .unwrap_or(Origin::Default);
            return Err(ConfigError::invalid(
                "slack.token",
                "not set (nor slack.app.token), but slack.enabled is true",
                &origin,
            ));
        }
        Ok(SlackSettings {
            enabled,
            bot_name,
            legacy,
            app,
            signing_secret,
            verification_token,
        })
    }

    /// The client settings under `prefix`, each unset field taken from `fallback` if given.
    fn slack_client(
        &mut self,
        prefix: &str,
        fallback: Option<&str>,
    ) -> Result<SlackClientSettings, ConfigError> {
        let keys = |field: &str| -> (String, Vec<String>) {
            let own = format!("{prefix}.{field}");
            let mut keys = vec![own.clone()];
            keys.extend(fallback.map(|fallback| format!("{fallback}.{field}")));
            (own, keys)
        };
        let (record_as, candidates) = keys("token");
        let token = self.secret(&record_as, &as_strs(&candidates))?;
        let (record_as, candidates) = keys("baseUrl");
        let explicit_base_url = self.optional_url(&record_as, &as_strs(&candidates))?;
        let (record_as, candidates) = keys("forceUseIncomingWebhook");
        let forced = self.typed(
            &record_as,
            &as_strs(&candidates),
            false,
            "a boolean (true or false)",
            parse_bool,
        )?;
        let (record_as, candidates) = keys("sendCompactMessages");
        let send_compact_messages = self.typed(
            &record_as,
            &as_strs(&candidates),
            false,
            "a boolean (true or false)",
            parse_bool,
        )?;
        let (record_as, candidates) = keys("expandUserNames");
        let expand_user_names = self.typed(
            &record_as,
            &as_strs(&candidates),
            false,
            "a boolean (true or false)",
            parse_bool,
        )?;

        let incoming_webhook = forced
            || token
                .as_ref()
                .is_some_and(|token| is_webhook_path(token.expose()));
        let base_url = explicit_base_url.unwrap_or_else(|| {
            if incoming_webhook {
                SLACK_WEBHOOK_BASE_URL
            } else {
                SLACK_CHAT_BASE_URL
            }
            .to_owned()
        });
        Ok(SlackClientSettings {
            token,
            base_url,
            incoming_webhook,
            send_compact_messages,
            expand_user_names,
        })
    }

    fn reverb(&mut self) -> Result<ReverbSettings, ConfigError> {
        let store_path = PathBuf::from(
            self.text("reverb.store.path")?
                .unwrap_or_else(|| DEFAULT_STORE_PATH.to_owned()),
        );
        let templates_dir = self.text("reverb.templates.dir")?.map(PathBuf::from);
        let message_style = self.typed(
            "reverb.slack.messageStyle",
            &["reverb.slack.messageStyle"],
            MessageStyle::Blocks,
            "a message style (blocks or attachments)",
            |text| text.parse::<MessageStyle>().ok(),
        )?;
        let threads = self.flag("reverb.slack.threads", false)?;
        let response_url_base = self
            .optional_url(
                "reverb.slack.responseUrlBase",
                &["reverb.slack.responseUrlBase"],
            )?
            .unwrap_or_else(|| DEFAULT_RESPONSE_URL_BASE.to_owned());
        let log_format = self.typed(
            "reverb.logging.format",
            &["reverb.logging.format"],
            LogFormat::Text,
            "a log format (text or json)",
            |text| match text.trim().to_ascii_lowercase().as_str() {
                "text" => Some(LogFormat::Text),
                "json" => Some(LogFormat::Json),
                _ => None,
            },
        )?;
        let log_level = self.text("reverb.logging.level")?;
        let judgments = self.judgments()?;
        let delivery = self.delivery()?;
        let echo_base_url = self.optional_url("reverb.echo.baseUrl", &["reverb.echo.baseUrl"])?;
        Ok(ReverbSettings {
            store_path,
            templates_dir,
            message_style,
            threads,
            response_url_base,
            log_format,
            log_level,
            judgments,
            delivery,
            echo_base_url,
        })
    }

    fn judgments(&mut self) -> Result<JudgmentSettings, ConfigError> {
        let identity_fallback = self.typed(
            "reverb.judgments.identityFallback",
            &["reverb.judgments.identityFallback"],
            IdentityFallback::None,
            "an identity fallback (none, or the unsafe username)",
            |text| match text.trim().to_ascii_lowercase().as_str() {
                "username" => Some(IdentityFallback::Username),
                "none" => Some(IdentityFallback::None),
                _ => None,
            },
        )?;
        let spinnaker_user = self.typed(
            "reverb.judgments.spinnakerUser",
            &["reverb.judgments.spinnakerUser"],
            SpinnakerUserRule::Email,
            "a Spinnaker user rule (email or localPart)",
            |text| match text.trim().to_ascii_lowercase().as_str() {
                "email" => Some(SpinnakerUserRule::Email),
                "localpart" | "local-part" | "local_part" => Some(SpinnakerUserRule::LocalPart),
                _ => None,
            },
        )?;
        let users_file = match self.text("reverb.judgments.usersFile")? {
            Some(path) if !path.is_empty() => {
                Some(crate::users_file::UsersFile::load(&PathBuf::from(path))?)
            }
            _ => None,
        };
        Ok(JudgmentSettings {
            interactive: self.flag("reverb.judgments.interactive", true)?,
            identity_fallback,
            spinnaker_user,
            users_file,
            allow_guests: self.flag("reverb.judgments.allowGuests", false)?,
            allow_external_users: self.flag("reverb.judgments.allowExternalUsers", false)?,
        })
    }

    fn delivery(&mut self) -> Result<DeliverySettings, ConfigError> {
        let defaults = DeliverySettings::default();
        let max_age = self.duration("reverb.delivery.maxAge", defaults.max_age)?;
        let concurrency = self.count("reverb.delivery.concurrency", defaults.concurrency)?;
        let rate_key = "reverb.delivery.channelRate";
        let channel_rate = self.typed(
            rate_key,
            &[rate_key],
            defaults.channel_rate,
            "a rate above zero (messages per second)",
            |text| {
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|rate| rate.is_finite() && *rate > 0.0)
            },
        )?;
        let channel_burst = self.count("reverb.delivery.channelBurst", defaults.channel_burst)?;
        let request_timeout =
            self.duration("reverb.delivery.requestTimeout", defaults.request_timeout)?;
        let initial_backoff =
            self.duration("reverb.delivery.initialBackoff", defaults.initial_backoff)?;
        let max_backoff = self.duration("reverb.delivery.maxBackoff", defaults.max_backoff)?;
        let max_retry_after =
            self.duration("reverb.delivery.maxRetryAfter", defaults.max_retry_after)?;
        if initial_backoff > max_backoff {
            return Err(self.invalid_here(
                "reverb.delivery.initialBackoff",
                "must not exceed reverb.delivery.maxBackoff",
            ));
        }
        Ok(DeliverySettings {
            max_age,
            concurrency,
            channel_rate,
            channel_burst,
            request_timeout,
            initial_backoff,
            max_backoff,
            max_retry_after,
        })
    }
}

fn as_strs(keys: &[String]) -> Vec<&str> {
    keys.iter().map(String::as_str).collect()
}

/// Echo's rule: a non-blank token with at least two `/` is an incoming-webhook path.
fn is_webhook_path(token: &str) -> bool {
    !token.trim().is_empty() && token.matches('/').count() >= 2
}

/// Accepts `http://` and `https://` URLs with a host; trims trailing slashes.
fn checked_url(key: &str, found: &ResolvedValue) -> Result<String, ConfigError> {
    let url = found.value.trim().trim_end_matches('/');
    let host_part = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match host_part {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(url.to_owned()),
        _ => Err(ConfigError::invalid(
            key,
            format!("{:?} is not an http(s) URL", found.value),
            &found.origin,
        )),
    }
}
