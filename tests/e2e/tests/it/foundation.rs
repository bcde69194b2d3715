//! The server shell and configuration, end to end against the real binary.

use reverb_e2e::{ConfigDir, Reverb, run_reverb};
use serde_json::Value;

const HALYARD_ECHO_YML: &str = "\
slack:
  enabled: true
  botName: spinnakerbot
  token: xoxb-halyard-token
spinnaker:
  baseUrl: ${services.deck.baseUrl:http://localhost:9000}
server:
  port: ${services.echo.port:8089}
  address: ${services.echo.host:localhost}
";

const SEED_ECHO_LOCAL: &str = "\
slack:
  token: xoxb-local-token
  botName: reverbbot
  signing_secret: 8f742231b10e8888abcd99yyyzzz85a5
";

fn config_lines(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "reverb config failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn line_for<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no line for {key} in:\n{text}"))
}

#[test]
fn seed_setup_shows_values_redacted_with_origins() {
    let dir = ConfigDir::new(&[
        (
            "spinnaker.yml",
            "services:\n  deck:\n    baseUrl: https://deck.example.com\n",
        ),
        ("echo.yml", HALYARD_ECHO_YML),
        ("echo-local.yml", SEED_ECHO_LOCAL),
    ]);
    let out = run_reverb(
        &["--config-dir", dir.path().to_str().unwrap(), "config"],
        &[],
    );
    let text = config_lines(&out);
    assert!(
        !text.contains("xoxb-local-token") && !text.contains("8f742231"),
        "secret leaked:\n{text}"
    );
    assert!(line_for(&text, "slack.token").contains("******"));
    assert!(line_for(&text, "slack.token").contains("echo-local.yml"));
    assert!(line_for(&text, "slack.app.signingSecret").contains("******"));
    assert!(line_for(&text, "slack.app.signingSecret").contains("echo-local.yml"));
    assert!(line_for(&text, "slack.botName").contains("reverbbot"));
    assert!(line_for(&text, "slack.enabled").contains("true"));
    assert!(line_for(&text, "spinnaker.baseUrl").contains("https://deck.example.com"));
    assert!(line_for(&text, "server.port").contains("8089"));
}

#[test]
fn layered_dirs_profiles_placeholders_and_env_overrides() {
    let base = ConfigDir::new(&[
        (
            "spinnaker.yml",
            "services:\n  orca:\n    baseUrl: http://orca-from-spinnaker:8083\n",
        ),
        (
            "echo.yml",
            "slack:\n  enabled: false\nspinnaker:\n  baseUrl: http://deck-base\n",
        ),
        (
            "echo-prod.yml",
            "spinnaker:\n  baseUrl: http://deck-prod\n---\nspring:\n  config:\n    activate:\n      on-profile: staging\nspinnaker:\n  baseUrl: http://deck-staging\n",
        ),
    ]);
    let over = ConfigDir::new(&[(
        "echo-local.yml",
        "orca:\n  base-url: ${services.orca.baseUrl}/v2\nkeel:\n  baseUrl: http://${KEEL_HOST:keel}:8087\n",
    )]);
    let args = [
        "--config-dir",
        base.path().to_str().unwrap(),
        "--config-dir",
        over.path().to_str().unwrap(),
        "config",
    ];
    let text = config_lines(&run_reverb(
        &args,
        &[("SPRING_PROFILES_ACTIVE", "prod,local")],
    ));
    assert!(
        line_for(&text, "spinnaker.baseUrl").contains("http://deck-prod"),
        "{text}"
    );
    assert!(
        line_for(&text, "orca.baseUrl").contains("http://orca-from-spinnaker:8083/v2"),
        "{text}"
    );

    let staging = config_lines(&run_reverb(
        &args,
        &[("SPRING_PROFILES_ACTIVE", "prod,staging")],
    ));
    assert!(
        line_for(&staging, "spinnaker.baseUrl").contains("http://deck-staging"),
        "{staging}"
    );

    let env = config_lines(&run_reverb(
        &args,
        &[
            ("SPINNAKER_BASEURL", "http://deck-from-env"),
            ("SERVER_PORT", "9999"),
        ],
    ));
    let line = line_for(&env, "spinnaker.baseUrl");
    assert!(
        line.contains("http://deck-from-env") && line.contains("SPINNAKER_BASEURL"),
        "{line}"
    );
    assert!(line_for(&env, "server.port").contains("9999"));
}

#[test]
fn signing_secret_env_forms_and_relaxed_keys() {
    for (var, _) in [
        ("SLACK_APP_SIGNINGSECRET", ()),
        ("SLACK_APP_SIGNING_SECRET", ()),
    ] {
        let dir = ConfigDir::new(&[("echo.yml", "slack:\n  enabled: true\n  token: xoxb-t\n")]);
        let text = config_lines(&run_reverb(
            &["--config-dir", dir.path().to_str().unwrap(), "config"],
            &[(var, "from-env-secret")],
        ));
        let line = line_for(&text, "slack.app.signingSecret");
        assert!(
            line.contains("******") && line.contains(var),
            "{var}: {line}"
        );
        assert!(!text.contains("from-env-secret"));
    }
    for key in ["signingSecret", "signing-secret", "signing_secret"] {
        let dir = ConfigDir::new(&[(
            "echo.yml",
            &*format!("slack:\n  enabled: true\n  token: xoxb-t\n  app:\n    {key}: abc\n"),
        )]);
        let text = config_lines(&run_reverb(
            &["--config-dir", dir.path().to_str().unwrap(), "config"],
            &[],
        ));
        assert!(
            line_for(&text, "slack.app.signingSecret").contains("******"),
            "{key}: {text}"
        );
    }
}

fn start_error(files: &[(&str, &str)], env: &[(&str, &str)]) -> String {
    let dir = ConfigDir::new(files);
    let out = run_reverb(&["--config-dir", dir.path().to_str().unwrap()], env);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn start_up_errors_name_key_and_file_and_exit_2() {
    let err = start_error(&[("echo.yml", "server:\n  port: eighty\n")], &[]);
    assert!(
        err.contains("server.port") && err.contains("echo.yml"),
        "{err}"
    );

    let err = start_error(&[("echo-local.yml", "slack:\n  enabled: true\n")], &[]);
    assert!(
        err.contains("slack.token") && err.contains("echo-local.yml"),
        "{err}"
    );

    let err = start_error(
        &[(
            "echo.yml",
            "slack:\n  enabled: true\n  token: encrypted:secrets-manager!r:us-west-2!s:slack\n",
        )],
        &[],
    );
    assert!(
        err.contains("slack.token") && err.contains("echo.yml"),
        "{err}"
    );
    assert!(
        !err.contains("secrets-manager"),
        "the reference itself is not echoed: {err}"
    );

    let out = run_reverb(&["--config-dir", "/nonexistent/reverb-config"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/reverb-config"));
}

#[test]
fn port_in_use_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let dir = ConfigDir::new(&[]);
    let store = dir.path().join("r.db");
    let out = run_reverb(
        &["--config-dir", dir.path().to_str().unwrap()],
        &[
            ("SERVER_PORT", &port),
            ("SERVER_ADDRESS", "127.0.0.1"),
            ("REVERB_STORE_PATH", store.to_str().unwrap()),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot listen") && err.contains(&port),
        "{err}"
    );
}

#[tokio::test]
async fn health_get_and_head_with_cors() {
    let reverb = Reverb::start("").await;
    let r = reverb.http.get(reverb.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        r.headers()["access-control-allow-methods"],
        "POST, GET, OPTIONS, DELETE"
    );
    assert_eq!(r.headers()["access-control-max-age"], "3600");
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "x-requested-with,Content-Type"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "UP");

    let head = reverb
        .http
        .head(reverb.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200, "wget --spider sends HEAD");
    assert_eq!(head.headers()["access-control-allow-origin"], "*");

    let preflight = reverb
        .http
        .request(reqwest::Method::OPTIONS, reverb.url("/notifications"))
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    let meta = reverb
        .http
        .get(reverb.url("/notifications/metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(meta.status(), 200);
    assert_eq!(meta.text().await.unwrap(), "[]");
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let reverb = Reverb::start("").await;
    let r = reverb
        .http
        .get(reverb.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["error"], "Not Found");
    assert!(body["message"].as_str().unwrap().contains("/no/such/route"));
    assert!(body["timestamp"].is_string());
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let reverb = Reverb::start("").await;
    reverb.http.get(reverb.url("/health")).send().await.unwrap();
    let r = reverb
        .http
        .get(reverb.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(text.contains("reverb_build_info{version=\""), "{text}");
    let health_line = text
        .lines()
        .find(|l| l.starts_with("reverb_http_requests_total") && l.contains("route=\"/health\""))
        .unwrap_or_else(|| panic!("no /health request counted:\n{text}"));
    let count: f64 = health_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0);
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "unparseable sample: {line}");
    }
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_restart_reuses_the_store() {
    let mut reverb = Reverb::start("").await;
    assert_eq!(reverb.terminate(), Some(0), "logs:\n{}", reverb.logs());
    assert!(reverb.logs().contains("Reverb stopped"));
    let again = Reverb::start_in(reverb.into_config(), &[]).await;
    let r = again.http.get(again.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn oversized_and_malformed_bodies_get_json_4xx() {
    let reverb = Reverb::start("reverb:\n  server:\n    maxRequestBodySize: 1KB\n").await;
    let big = format!(
        r#"{{"details":{{"type":"orca:pipeline:complete"}},"content":{{"x":"{}"}}}}"#,
        "a".repeat(4096)
    );
    let r = reverb.post_json("/", &big).await;
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 413);
    assert!(body["message"].as_str().unwrap().contains("1024"), "{body}");

    let r = reverb.post_json("/", "{\"details\": ").await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "Bad Request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Malformed event JSON"),
        "{body}"
    );

    let r = reverb
        .http
        .post(reverb.url("/notifications"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 415);

    // Still healthy after all that.
    let r = reverb.http.get(reverb.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn slack_manifest_names_the_callback_url_scopes_and_bot() {
    let dir = ConfigDir::new(&[
        ("echo.yml", HALYARD_ECHO_YML),
        ("echo-local.yml", SEED_ECHO_LOCAL),
    ]);
    let out = run_reverb(
        &[
            "--config-dir",
            dir.path().to_str().unwrap(),
            "slack-manifest",
            "--url",
            "https://gate.example.com/notifications/callbacks/slack",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("request_url: \"https://gate.example.com/notifications/callbacks/slack\""),
        "{text}"
    );
    for scope in [
        "chat:write",
        "chat:write.public",
        "users:read",
        "users:read.email",
    ] {
        assert!(
            text.contains(&format!("- {scope}\n")) || text.contains(&format!("- \"{scope}\"")),
            "{scope} missing:\n{text}"
        );
    }
    assert!(text.contains("reverbbot"), "{text}");
    assert!(!text.contains("xoxb-"), "no token in the manifest");
}

#[test]
fn a_broken_template_override_stops_the_start_naming_file_and_line() {
    let dir = ConfigDir::new(&[]);
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("pipeline.tera"),
        "line one\n{{ execution.name \n",
    )
    .unwrap();
    dir.write(
        "echo-local.yml",
        &format!("reverb:\n  templates:\n    dir: {}\n", templates.display()),
    );
    let out = run_reverb(
        &["--config-dir", dir.path().to_str().unwrap()],
        &[(
            "REVERB_STORE_PATH",
            dir.path().join("r.db").to_str().unwrap(),
        )],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pipeline.tera"), "{err}");
    let at = err.find("pipeline.tera:").expect("file named");
    let line = &err[at + "pipeline.tera:".len()..];
    assert!(
        line.starts_with(|c: char| c.is_ascii_digit()),
        "names the line: {err}"
    );
}
