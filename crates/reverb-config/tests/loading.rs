//! Loading real files from temporary directories through the public API.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reverb_config::{
    ConfigError, IdentityFallback, LoadOptions, LogFormat, MessageStyle, Origin, Settings, load,
};
use tempfile::TempDir;

fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn options(dirs: &[&Path], env: &[(&str, &str)]) -> LoadOptions {
    let mut opts = LoadOptions::isolated(dirs.iter().map(|dir| dir.to_path_buf()).collect());
    opts.env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<BTreeMap<_, _>>();
    opts
}

fn load_dir(files: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = dir_with(files);
    load(&options(&[dir.path()], env))
}

fn raw(settings: &Settings, key: &str) -> Option<String> {
    settings
        .raw
        .get(key)
        .unwrap()
        .map(|resolved| resolved.value)
}

#[test]
fn nothing_to_read_gives_the_defaults() {
    let settings = load_dir(&[], &[]).unwrap();
    let defaults = Settings::default();
    assert_eq!(settings.server, defaults.server);
    assert_eq!(settings.server.port, 8089);
    assert_eq!(settings.server.address, "0.0.0.0");
    assert_eq!(settings.server.max_request_body_bytes, 16 * 1024 * 1024);
    assert_eq!(settings.spinnaker_base_url, "http://localhost:9000");
    assert_eq!(settings.orca_base_url, "http://localhost:8083");
    assert_eq!(settings.slack, defaults.slack);
    assert_eq!(settings.reverb, defaults.reverb);
    assert_eq!(settings.reverb.store_path, PathBuf::from("data/reverb.db"));
    assert_eq!(
        settings.reverb.delivery.max_age,
        Duration::from_secs(86_400)
    );
    assert_eq!(
        settings.reverb.delivery.max_backoff,
        Duration::from_secs(300)
    );
    assert_eq!(settings.profiles, vec!["local"]);
    assert!(settings.sources.is_empty());
    assert!(!settings.interactive_judgments());
}

#[test]
fn files_layer_across_directories_names_and_profiles() {
    let first = dir_with(&[
        (
            "spinnaker.yml",
            "k: {a: spinnaker, b: spinnaker, c: spinnaker, d: spinnaker, e: spinnaker, f: spinnaker}\n",
        ),
        (
            "echo.yml",
            "k: {b: echo, c: echo, d: echo, e: echo, f: echo}\n",
        ),
        (
            "spinnaker-one.yml",
            "k: {c: spinnaker-one, d: spinnaker-one, e: spinnaker-one, f: spinnaker-one}\n",
        ),
        (
            "echo-one.yaml",
            "k: {d: echo-one, e: echo-one, f: echo-one}\n",
        ),
        ("echo-two.yml", "k: {e: echo-two, f: echo-two}\n"),
        (
            "echo-inactive.yml",
            "k: {a: inactive, b: inactive, c: inactive, d: inactive, e: inactive, f: inactive}\n",
        ),
    ]);
    let second = dir_with(&[("echo.yml", "k: {f: second-dir}\n")]);
    let mut opts = options(&[first.path(), second.path()], &[]);
    opts.profiles = Some(vec!["one".to_owned(), "two".to_owned()]);
    let settings = load(&opts).unwrap();

    let expected = [
        ("k.a", "spinnaker"),
        ("k.b", "echo"),
        ("k.c", "spinnaker-one"),
        ("k.d", "echo-one"),
        ("k.e", "echo-two"),
        ("k.f", "second-dir"),
    ];
    for (key, value) in expected {
        assert_eq!(raw(&settings, key).as_deref(), Some(value), "{key}");
    }
    let read: Vec<PathBuf> = vec![
        first.path().join("spinnaker.yml"),
        first.path().join("echo.yml"),
        first.path().join("spinnaker-one.yml"),
        first.path().join("echo-one.yaml"),
        first.path().join("echo-two.yml"),
        second.path().join("echo.yml"),
    ];
    assert_eq!(settings.sources, read);
    assert_eq!(settings.profiles, vec!["one", "two"]);
}

#[test]
fn profiles_default_to_spring_profiles_active_from_the_environment() {
    let dir = dir_with(&[
        ("echo-local.yml", "who: local\n"),
        ("echo-worker.yml", "who: worker\n"),
    ]);
    let settings = load(&options(&[dir.path()], &[])).unwrap();
    assert_eq!(raw(&settings, "who").as_deref(), Some("local"));
    let settings = load(&options(
        &[dir.path()],
        &[("SPRING_PROFILES_ACTIVE", "local, worker")],
    ))
    .unwrap();
    assert_eq!(raw(&settings, "who").as_deref(), Some("worker"));
    assert_eq!(settings.profiles, vec!["local", "worker"]);
}

#[test]
fn multi_document_files_apply_only_documents_for_active_profiles() {
    let echo = "\
server.port: 1000
---
spring:
  profiles: local
server.port: 2000
---
spring.config.activate.on-profile: prod
server.port: 3000
reverb.slack.threads: true
---
spring:
  profiles: '!prod'
reverb.logging.format: json
---
spring:
  profiles: prod, staging
reverb.logging.format: text
";
    let dir = dir_with(&[("echo.yml", echo)]);
    let local = load(&options(&[dir.path()], &[])).unwrap();
    assert_eq!(local.server.port, 2000);
    assert!(!local.reverb.threads);
    assert_eq!(local.reverb.log_format, LogFormat::Json);

    let prod = load(&options(
        &[dir.path()],
        &[("SPRING_PROFILES_ACTIVE", "prod")],
    ))
    .unwrap();
    assert_eq!(prod.server.port, 3000);
    assert!(prod.reverb.threads);
    assert_eq!(prod.reverb.log_format, LogFormat::Text);
}

#[test]
fn lists_from_a_higher_source_replace_lower_lists_whole() {
    let settings = load_dir(
        &[
            ("spinnaker.yml", "hosts: [a, b, c]\nmap: {x: 1, y: 1}\n"),
            ("echo.yml", "hosts: [z]\nmap: {y: 2}\n"),
        ],
        &[],
    )
    .unwrap();
    let hosts: Vec<String> = settings
        .raw
        .get_list("hosts")
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|item| item.value)
        .collect();
    assert_eq!(hosts, vec!["z"]);
    assert_eq!(raw(&settings, "map.x").as_deref(), Some("1"));
    assert_eq!(raw(&settings, "map.y").as_deref(), Some("2"));
}

#[test]
fn placeholders_resolve_nested_in_lists_with_defaults_and_from_the_environment() {
    let spinnaker = "\
services:
  deck: {baseUrl: 'http://deck.example/'}
  echo: {host: 10.0.0.1, port: 8090}
";
    let echo = "\
server:
  port: ${services.echo.port:8089}
  address: ${services.echo.host:localhost}
url: http://${services.echo.host}:${services.echo.port}/x
nested: ${missing.one:${missing.two:${services.echo.port}}}
plain-default: ${missing.three:fallback}
list: ['${services.echo.host}', '${missing.four:d}', lit]
from-env: ${MY_VAR}
from-spring-env: ${some.service.baseUrl}
";
    let settings = load_dir(
        &[("spinnaker.yml", spinnaker), ("echo.yml", echo)],
        &[("MY_VAR", "exact"), ("SOME_SERVICE_BASEURL", "spring-form")],
    )
    .unwrap();
    assert_eq!(settings.server.port, 8090);
    assert_eq!(settings.server.address, "10.0.0.1");
    assert_eq!(
        settings.spinnaker_base_url, "http://deck.example",
        "Echo's default placeholder, slash trimmed"
    );
    assert_eq!(
        raw(&settings, "url").as_deref(),
        Some("http://10.0.0.1:8090/x")
    );
    assert_eq!(raw(&settings, "nested").as_deref(), Some("8090"));
    assert_eq!(raw(&settings, "plainDefault").as_deref(), Some("fallback"));
    let list: Vec<String> = settings
        .raw
        .get_list("list")
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|v| v.value)
        .collect();
    assert_eq!(list, vec!["10.0.0.1", "d", "lit"]);
    assert_eq!(raw(&settings, "from-env").as_deref(), Some("exact"));
    assert_eq!(
        raw(&settings, "fromSpringEnv").as_deref(),
        Some("spring-form")
    );
}

#[test]
fn orca_base_url_follows_services_orca_base_url_from_the_environment() {
    let settings = load_dir(&[], &[("SERVICES_ORCA_BASEURL", "http://spin-orca:8083/")]).unwrap();
    assert_eq!(settings.orca_base_url, "http://spin-orca:8083");
    let described = settings.describe();
    let orca = described
        .iter()
        .find(|entry| entry.key == "orca.baseUrl")
        .unwrap();
    assert_eq!(orca.origin, "environment variable SERVICES_ORCA_BASEURL");
}

#[test]
fn an_unresolvable_placeholder_fails_only_in_a_key_reverb_reads() {
    let dir = dir_with(&[("echo.yml", "server:\n  port: ${no.such.port}\n")]);
    let message = load(&options(&[dir.path()], &[])).unwrap_err().to_string();
    let file = dir.path().join("echo.yml");
    assert_eq!(
        message,
        format!(
            "server.port: cannot resolve placeholder ${{no.such.port}} (no such key or environment variable) (from {})",
            file.display()
        )
    );
    let settings = load_dir(&[("echo.yml", "someone.else: ${no.such.key}\n")], &[]).unwrap();
    assert!(settings.raw.get("someone.else").is_err());
}

#[test]
fn keys_bind_relaxed() {
    let echo = "\
slack:
  ENABLED: 'TRUE'
  token: xoxb-legacy
  send-compact-messages: true
  app:
    signing_secret: s1
    VERIFICATION-TOKEN: v1
    expand_user_names: true
reverb:
  slack:
    message_style: ATTACHMENTS
  judgments:
    identity-fallback: none
  server:
    max-request-body-size: 64MB
";
    let settings = load_dir(&[("echo.yml", echo)], &[]).unwrap();
    assert!(settings.slack.enabled);
    assert!(settings.slack.legacy.send_compact_messages);
    assert!(
        settings.slack.app.send_compact_messages,
        "app falls back to slack.sendCompactMessages"
    );
    assert!(settings.slack.app.expand_user_names);
    assert!(!settings.slack.legacy.expand_user_names);
    assert_eq!(
        settings.slack.signing_secret.as_ref().map(|s| s.expose()),
        Some("s1")
    );
    assert_eq!(
        settings
            .slack
            .verification_token
            .as_ref()
            .map(|s| s.expose()),
        Some("v1")
    );
    assert_eq!(settings.reverb.message_style, MessageStyle::Attachments);
    assert_eq!(
        settings.reverb.judgments.identity_fallback,
        IdentityFallback::None
    );
    assert_eq!(settings.server.max_request_body_bytes, 64 * 1024 * 1024);
}

#[test]
fn environment_overrides_beat_files_in_both_forms() {
    let echo = "server.port: 1000\nslack: {enabled: true, token: t, app: {signingSecret: file}}\n";
    let dir = dir_with(&[("echo.yml", echo)]);

    let joined = load(&options(
        &[dir.path()],
        &[
            ("SLACK_APP_SIGNINGSECRET", "joined"),
            ("SERVER_PORT", "2000"),
        ],
    ))
    .unwrap();
    assert_eq!(
        joined.slack.signing_secret.as_ref().unwrap().expose(),
        "joined"
    );
    assert_eq!(joined.server.port, 2000);
    assert_eq!(
        joined.origin_of("server.port"),
        Origin::Env("SERVER_PORT".to_owned())
    );

    let split = load(&options(
        &[dir.path()],
        &[("SLACK_APP_SIGNING_SECRET", "split")],
    ))
    .unwrap();
    assert_eq!(
        split.slack.signing_secret.as_ref().unwrap().expose(),
        "split"
    );
    assert_eq!(split.server.port, 1000);
    assert_eq!(
        split.origin_of("server.port"),
        Origin::File(dir.path().join("echo.yml"))
    );
}

/// Echo's `SlackConfigSpec` and `SlackConfigTest` cases.
#[test]
fn slack_client_mode_and_base_url_follow_echo() {
    struct Case {
        token: &'static str,
        base_url: Option<&'static str>,
        force: bool,
        webhook: bool,
        expected_base_url: &'static str,
    }
    let chat = "https://slack.com";
    let hooks = "https://hooks.slack.com/services";
    let webhook_token = "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
    let cases = [
        Case {
            token: "myOldFashionToken",
            base_url: None,
            force: false,
            webhook: false,
            expected_base_url: chat,
        },
        Case {
            token: webhook_token,
            base_url: None,
            force: false,
            webhook: true,
            expected_base_url: hooks,
        },
        Case {
            token: "OLD/FASHION",
            base_url: None,
            force: false,
            webhook: false,
            expected_base_url: chat,
        },
        Case {
            token: "",
            base_url: None,
            force: false,
            webhook: false,
            expected_base_url: chat,
        },
        Case {
            token: "myOldFashionToken",
            base_url: Some("https://example.com"),
            force: false,
            webhook: false,
            expected_base_url: "https://example.com",
        },
        Case {
            token: webhook_token,
            base_url: Some("https://example.com"),
            force: false,
            webhook: true,
            expected_base_url: "https://example.com",
        },
        Case {
            token: "OLD/FASHION",
            base_url: Some("https://example.com/"),
            force: false,
            webhook: false,
            expected_base_url: "https://example.com",
        },
        Case {
            token: "",
            base_url: Some("https://example.com"),
            force: false,
            webhook: false,
            expected_base_url: "https://example.com",
        },
        Case {
            token: "myOldFashionToken",
            base_url: None,
            force: true,
            webhook: true,
            expected_base_url: hooks,
        },
        Case {
            token: "OLD/FASHION",
            base_url: None,
            force: true,
            webhook: true,
            expected_base_url: hooks,
        },
        Case {
            token: "",
            base_url: None,
            force: true,
            webhook: true,
            expected_base_url: hooks,
        },
        Case {
            token: "myOldFashionToken",
            base_url: Some("http://localhost/slack"),
            force: false,
            webhook: false,
            expected_base_url: "http://localhost/slack",
        },
        Case {
            token: "myOldFashionToken",
            base_url: Some("http://localhost"),
            force: false,
            webhook: false,
            expected_base_url: "http://localhost",
        },
    ];
    for case in cases {
        let mut echo = format!(
            "slack:\n  enabled: true\n  token: '{}'\n  forceUseIncomingWebhook: {}\n  app:\n    token: app-token\n",
            case.token, case.force
        );
        if let Some(base_url) = case.base_url {
            echo.push_str(&format!("  baseUrl: '{base_url}'\n"));
        }
        let settings = load_dir(&[("echo.yml", &echo)], &[]).unwrap();
        let legacy = &settings.slack.legacy;
        let label = format!(
            "token {:?}, baseUrl {:?}, force {}",
            case.token, case.base_url, case.force
        );
        assert_eq!(legacy.incoming_webhook, case.webhook, "{label}");
        assert_eq!(legacy.base_url, case.expected_base_url, "{label}");
        assert_eq!(
            legacy.token.as_ref().map(|t| t.expose()),
            (!case.token.is_empty()).then_some(case.token),
            "{label}"
        );
    }
}

#[test]
fn slack_base_url_must_be_http() {
    let dir = dir_with(&[(
        "echo.yml",
        "slack: {enabled: true, token: t, baseUrl: 'ftp://x'}\n",
    )]);
    let message = load(&options(&[dir.path()], &[])).unwrap_err().to_string();
    assert!(
        message.starts_with("slack.baseUrl: \"ftp://x\" is not an http(s) URL (from "),
        "{message}"
    );
}

#[test]
fn the_app_client_falls_back_to_the_legacy_settings() {
    let echo = "\
slack:
  enabled: true
  token: xoxb-legacy
  baseUrl: http://slack.internal/
  expandUserNames: true
";
    let settings = load_dir(&[("echo.yml", echo)], &[]).unwrap();
    let app = &settings.slack.app;
    assert_eq!(app.token.as_ref().unwrap().expose(), "xoxb-legacy");
    assert_eq!(app.base_url, "http://slack.internal");
    assert!(app.expand_user_names);

    let echo_local =
        "slack:\n  app:\n    token: xoxb-app\n    baseUrl: ''\n    expandUserNames: false\n";
    let settings = load_dir(&[("echo.yml", echo), ("echo-local.yml", echo_local)], &[]).unwrap();
    let app = &settings.slack.app;
    assert_eq!(app.token.as_ref().unwrap().expose(), "xoxb-app");
    assert_eq!(
        app.base_url, "http://slack.internal",
        "a blank app.baseUrl counts as unset"
    );
    assert!(!app.expand_user_names);
    assert_eq!(
        settings.slack.legacy.token.as_ref().unwrap().expose(),
        "xoxb-legacy"
    );
}

#[test]
fn encrypted_references_in_read_keys_fail_naming_key_and_file() {
    let dir = dir_with(&[(
        "echo.yml",
        "slack:\n  enabled: true\n  token: encrypted:s3!r:us-west-2!b:bucket!f:tokens!k:slack\n",
    )]);
    let error = load(&options(&[dir.path()], &[])).unwrap_err();
    let message = error.to_string();
    let file = dir.path().join("echo.yml");
    assert!(
        message.starts_with("slack.token: is an encrypted: secret reference"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("(from {})", file.display())),
        "{message}"
    );
    assert!(
        !message.contains("bucket"),
        "the reference itself is not echoed: {message}"
    );
    assert!(matches!(error, ConfigError::InvalidValue { ref key, .. } if key == "slack.token"));
}

#[test]
fn values_reverb_does_not_read_may_hold_anything() {
    let echo = "\
slack:
  enabled: false
  token: encrypted:vault!e:secret!p:slack
github-status:
  enabled: false
  token: encrypted:s3!b:x
spectator: {applicationName: echo, webEndpoint: {enabled: false}}
scheduler.enabled: ${services.echo.cron.enabled:true}
pubsub: {enabled: false, google: {enabled: false, subscriptions: []}}
artifacts: {gcs: {enabled: false, accounts: []}}
";
    let settings = load_dir(&[("echo.yml", echo)], &[]).unwrap();
    assert!(!settings.slack.enabled);
    assert!(
        settings.slack.legacy.token.is_none(),
        "Slack keys are not bound while Slack is off"
    );
}

#[test]
fn a_bad_port_names_key_value_and_file() {
    let dir = dir_with(&[("echo.yml", "server:\n  port: eighty\n")]);
    let message = load(&options(&[dir.path()], &[])).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "server.port: \"eighty\" is not a port number (from {})",
            dir.path().join("echo.yml").display()
        )
    );
    let message = load_dir(&[], &[("SERVER_PORT", "70000")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "server.port: \"70000\" is not a port number (from environment variable SERVER_PORT)"
    );
}

#[test]
fn slack_enabled_without_any_token_names_slack_token_and_the_enabling_file() {
    let base = dir_with(&[("echo.yml", "slack:\n  token: ''\n")]);
    let overlay = dir_with(&[(
        "echo-local.yml",
        "slack:\n  enabled: true\n  botName: spinnakerbot\n",
    )]);
    let message = load(&options(&[base.path(), overlay.path()], &[]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!(
            "slack.token: not set (nor slack.app.token), but slack.enabled is true (from {})",
            overlay.path().join("echo-local.yml").display()
        )
    );
    let settings = load(&options(
        &[base.path(), overlay.path()],
        &[("SLACK_APP_TOKEN", "xoxb-app")],
    ))
    .unwrap();
    assert!(settings.slack.legacy.token.is_none());
    assert_eq!(
        settings.slack.app.token.as_ref().unwrap().expose(),
        "xoxb-app"
    );
}

#[test]
fn secrets_never_appear_in_debug_or_describe() {
    let echo = "\
slack:
  enabled: true
  token: xoxb-legacy-SECRET
  app: {token: xoxb-app-SECRET, signingSecret: signing-SECRET, verificationToken: verify-SECRET}
";
    let settings = load_dir(
        &[("echo.yml", echo)],
        &[("SLACK_WEBHOOK_TOKEN", "env-SECRET")],
    )
    .unwrap();
    let debug = format!("{settings:?}");
    assert!(!debug.contains("SECRET"), "{debug}");
    let described = settings.describe();
    for entry in &described {
        assert!(!entry.value.contains("SECRET"), "{entry:?}");
    }
    let signing = described
        .iter()
        .find(|entry| entry.key == "slack.app.signingSecret")
        .unwrap();
    assert_eq!(signing.value, "******");
    let token = described
        .iter()
        .find(|entry| entry.key == "slack.token")
        .unwrap();
    assert_eq!(token.value, "******");
}

#[test]
fn describe_lists_every_read_key_with_its_origin() {
    let dir = dir_with(&[(
        "echo.yml",
        "server.port: 9000\nslack: {enabled: true, token: 'T0/B0/X'}\n",
    )]);
    let settings = load(&options(
        &[dir.path()],
        &[("REVERB_DELIVERY_MAX_AGE", "PT1H")],
    ))
    .unwrap();
    let described = settings.describe();
    let find = |key: &str| {
        described
            .iter()
            .find(|entry| entry.key == key)
            .unwrap_or_else(|| panic!("{key}"))
    };
    let file = dir.path().join("echo.yml").display().to_string();
    assert_eq!(
        (
            find("server.port").value.as_str(),
            find("server.port").origin.as_str()
        ),
        ("9000", file.as_str())
    );
    assert_eq!(find("server.address").origin, "default");
    assert_eq!(find("reverb.delivery.maxAge").value, "1h");
    assert_eq!(
        find("reverb.delivery.maxAge").origin,
        "environment variable REVERB_DELIVERY_MAX_AGE"
    );
    assert_eq!(
        find("slack.baseUrl").value,
        "https://hooks.slack.com/services"
    );
    assert_eq!(
        find("slack.baseUrl").origin,
        "derived (incoming-webhook mode)"
    );
    assert_eq!(
        find("slack.app.token").origin,
        file,
        "the app token came from slack.token in this file"
    );
    for key in [
        "reverb.server.maxRequestBodySize",
        "spinnaker.baseUrl",
        "slack.botName",
        "reverb.store.path",
        "reverb.templates.dir",
        "reverb.slack.messageStyle",
        "reverb.slack.threads",
        "reverb.logging.format",
        "reverb.logging.level",
        "reverb.judgments.interactive",
        "reverb.judgments.identityFallback",
        "reverb.delivery.concurrency",
        "reverb.delivery.channelRate",
        "reverb.delivery.channelBurst",
        "reverb.delivery.requestTimeout",
        "reverb.delivery.initialBackoff",
        "reverb.delivery.maxBackoff",
        "reverb.echo.baseUrl",
    ] {
        find(key);
    }
}

#[test]
fn reverb_settings_parse_durations_sizes_rates_and_flags() {
    let echo = "\
reverb:
  store: {path: /var/lib/reverb/reverb.db}
  templates: {dir: /etc/reverb/templates}
  slack: {threads: 'True'}
  logging: {format: json, level: debug}
  judgments: {interactive: 'false'}
  delivery:
    maxAge: 2d
    concurrency: 4
    channelRate: 0.5
    channelBurst: 1
    requestTimeout: 500ms
    initialBackoff: 2
    maxBackoff: PT10M
  echo: {baseUrl: 'http://echo:8089/'}
  server: {maxRequestBodySize: 1048576}
";
    let settings = load_dir(&[("echo.yml", echo)], &[]).unwrap();
    let reverb = &settings.reverb;
    assert_eq!(
        reverb.store_path,
        PathBuf::from("/var/lib/reverb/reverb.db")
    );
    assert_eq!(
        reverb.templates_dir,
        Some(PathBuf::from("/etc/reverb/templates"))
    );
    assert!(reverb.threads);
    assert_eq!(reverb.log_format, LogFormat::Json);
    assert_eq!(reverb.log_level.as_deref(), Some("debug"));
    assert!(!reverb.judgments.interactive);
    assert_eq!(reverb.delivery.max_age, Duration::from_secs(2 * 86_400));
    assert_eq!(reverb.delivery.concurrency, 4);
    assert!((reverb.delivery.channel_rate - 0.5).abs() < f64::EPSILON);
    assert_eq!(reverb.delivery.channel_burst, 1);
    assert_eq!(reverb.delivery.request_timeout, Duration::from_millis(500));
    assert_eq!(reverb.delivery.initial_backoff, Duration::from_secs(2));
    assert_eq!(reverb.delivery.max_backoff, Duration::from_secs(600));
    assert_eq!(reverb.echo_base_url.as_deref(), Some("http://echo:8089"));
    assert_eq!(settings.server.max_request_body_bytes, 1_048_576);
}

#[test]
fn invalid_reverb_values_are_named() {
    let cases = [
        (
            "reverb.delivery.channelRate: 0\n",
            "reverb.delivery.channelRate: \"0\" is not a rate above zero",
        ),
        (
            "reverb.delivery.concurrency: 0\n",
            "reverb.delivery.concurrency: \"0\" is not a whole number of at least 1",
        ),
        (
            "reverb.delivery.maxAge: forever\n",
            "reverb.delivery.maxAge: \"forever\" is not a duration",
        ),
        (
            "reverb.delivery.requestTimeout: 0s\n",
            "reverb.delivery.requestTimeout: must be longer than zero",
        ),
        (
            "reverb.delivery.initialBackoff: 10m\n",
            "reverb.delivery.initialBackoff: must not exceed reverb.delivery.maxBackoff",
        ),
        (
            "reverb.slack.messageStyle: fancy\n",
            "reverb.slack.messageStyle: \"fancy\" is not a message style",
        ),
        (
            "reverb.logging.format: xml\n",
            "reverb.logging.format: \"xml\" is not a log format",
        ),
        (
            "reverb.judgments.identityFallback: email\n",
            "reverb.judgments.identityFallback: \"email\" is not an identity fallback",
        ),
        (
            "reverb.slack.threads: sometimes\n",
            "reverb.slack.threads: \"sometimes\" is not a boolean",
        ),
        (
            "reverb.server.maxRequestBodySize: huge\n",
            "reverb.server.maxRequestBodySize: \"huge\" is not a positive size",
        ),
        (
            "slack.enabled: maybe\n",
            "slack.enabled: \"maybe\" is not a boolean",
        ),
        (
            "orca.baseUrl: orca:8083\n",
            "orca.baseUrl: \"orca:8083\" is not an http(s) URL",
        ),
    ];
    for (yaml, expected_start) in cases {
        let message = load_dir(&[("echo.yml", yaml)], &[])
            .unwrap_err()
            .to_string();
        assert!(message.starts_with(expected_start), "{yaml}: {message}");
        assert!(message.ends_with("echo.yml)"), "{yaml}: {message}");
    }
}

#[test]
fn the_halyard_seed_setup_loads_with_the_signing_secret_set() {
    let echo = "\
slack:
  enabled: true
  botName: spinnakerbot
  token: xoxb-from-halyard
";
    let echo_local = "\
slack:
  token: xoxb-from-echo-local
  signing_secret: 0123456789abcdef
";
    let settings = load_dir(&[("echo.yml", echo), ("echo-local.yml", echo_local)], &[]).unwrap();
    assert!(settings.slack.enabled);
    assert_eq!(settings.slack.bot_name.as_deref(), Some("spinnakerbot"));
    assert_eq!(
        settings.slack.legacy.token.as_ref().unwrap().expose(),
        "xoxb-from-echo-local"
    );
    assert_eq!(
        settings.slack.app.token.as_ref().unwrap().expose(),
        "xoxb-from-echo-local"
    );
    assert_eq!(
        settings.slack.signing_secret.as_ref().unwrap().expose(),
        "0123456789abcdef"
    );
    assert_eq!(settings.slack.legacy.base_url, "https://slack.com");
    assert!(settings.interactive_judgments());
    let described = settings.describe();
    let signing = described
        .iter()
        .find(|entry| entry.key == "slack.app.signingSecret")
        .unwrap();
    assert_eq!(signing.value, "******");
    assert!(signing.origin.ends_with("echo-local.yml"), "{signing:?}");
}

#[test]
fn the_docs_halyard_example_loads() {
    let doc = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let echo = yaml_block_after(&doc, "`/opt/spinnaker/config/echo.yml`");
    let echo_local = yaml_block_after(&doc, "`/opt/spinnaker/config/echo-local.yml`");
    let settings = load_dir(&[("echo.yml", &echo), ("echo-local.yml", &echo_local)], &[]).unwrap();
    assert!(settings.slack.enabled);
    assert!(settings.slack.signing_secret.is_some());
    assert!(settings.interactive_judgments());
}

/// The first ```yaml block after `marker` in a Markdown text.
fn yaml_block_after(doc: &str, marker: &str) -> String {
    let after = &doc[doc
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in docs"))..];
    let start = after.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = after[start..].find("```").unwrap();
    after[start..start + end].to_owned()
}

#[test]
fn interactivity_needs_a_signing_secret_and_the_switch() {
    let with_secret = "slack: {enabled: true, token: t, app: {signingSecret: s}}\n";
    assert!(
        load_dir(&[("echo.yml", with_secret)], &[])
            .unwrap()
            .interactive_judgments()
    );
    let switched_off = load_dir(
        &[("echo.yml", with_secret)],
        &[("REVERB_JUDGMENTS_INTERACTIVE", "false")],
    )
    .unwrap();
    assert!(!switched_off.interactive_judgments());
    let no_secret = load_dir(&[("echo.yml", "slack: {enabled: true, token: t}\n")], &[]).unwrap();
    assert!(!no_secret.interactive_judgments());
}

#[test]
fn service_base_urls_are_looked_up_by_service_id() {
    let settings = load_dir(
        &[
            (
                "spinnaker.yml",
                "services: {keel: {baseUrl: 'http://keel:8087'}}\n",
            ),
            ("echo.yml", "keel:\n  base-url: ${services.keel.baseUrl}/\n"),
        ],
        &[("IGOR_BASEURL", "http://igor:8088")],
    )
    .unwrap();
    assert_eq!(
        settings.service_base_url("keel").as_deref(),
        Some("http://keel:8087")
    );
    assert_eq!(
        settings.service_base_url("igor").as_deref(),
        Some("http://igor:8088")
    );
    assert_eq!(settings.service_base_url("front50"), None);
}

#[test]
fn a_missing_config_dir_is_an_error_but_a_missing_reverb_config_dir_is_skipped() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("nope");
    let message = load(&options(&[missing.as_path()], &[]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!(
            "--config-dir {}: directory does not exist",
            missing.display()
        )
    );
    let missing_text = missing.display().to_string();
    assert!(load(&options(&[], &[("REVERB_CONFIG_DIR", &missing_text)])).is_ok());
}

#[test]
fn reverb_config_dir_is_read_after_the_command_line_dirs() {
    let cli = dir_with(&[("echo.yml", "server.port: 1000\n")]);
    let from_env = dir_with(&[("echo.yml", "server.port: 2000\n")]);
    let env_dir = from_env.path().display().to_string();
    let settings = load(&options(&[cli.path()], &[("REVERB_CONFIG_DIR", &env_dir)])).unwrap();
    assert_eq!(settings.server.port, 2000);
    assert_eq!(
        settings.sources,
        vec![
            cli.path().join("echo.yml"),
            from_env.path().join("echo.yml")
        ]
    );
}

#[test]
fn invalid_yaml_names_the_file() {
    let dir = dir_with(&[("echo.yml", "slack: [unclosed\n")]);
    let message = load(&options(&[dir.path()], &[])).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!(
            "{}: invalid YAML",
            dir.path().join("echo.yml").display()
        )),
        "{message}"
    );
}
