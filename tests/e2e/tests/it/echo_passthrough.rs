//! "Reverb in front of Echo", end to end: the real binary with `reverb.echo.baseUrl` pointing at
//! a recording fake Echo. Everything Reverb does not handle itself must reach Echo unchanged,
//! events must survive Echo being down (and Reverb being killed), and loops must be refused.

use std::time::Duration;

use reverb_e2e::{ConfigDir, Reverb, eventually, metric_sample, run_reverb};
use reverb_sandbox::{Recorder, start_recorder};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
/// Echo's backoff is capped at 30 s; its health check wakes the forwarder once Echo is back.
const RECOVERY: Duration = Duration::from_secs(45);

/// A recording fake Echo whose `/health` is UP.
pub(crate) async fn fake_echo() -> Recorder {
    let echo = start_recorder(None).await.expect("fake Echo");
    echo.respond("/health", 200, r#"{"status":"UP"}"#, "application/json");
    echo
}

/// Reverb with `reverb.echo.baseUrl` pointing at `echo`; `extra` adds keys under `reverb:`.
pub(crate) async fn reverb_in_front_of(echo: &Recorder, extra: &str) -> Reverb {
    let yml = format!(
        "reverb:\n  echo:\n    baseUrl: {}\n{extra}",
        echo.base_url()
    );
    Reverb::start(&yml).await
}

/// The bodies Echo received on `POST /`, each once, in order of arrival: a retried event
/// appears several times in a row while Echo is down, never after a later one.
fn delivered_bodies(echo: &Recorder) -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for request in echo.requests_to("/") {
        if request.method == "POST" && bodies.last() != Some(&request.body) {
            bodies.push(request.body);
        }
    }
    bodies
}

async fn post_event(reverb: &Reverb, body: &[u8]) {
    let res = reverb
        .http
        .post(reverb.url("/"))
        .header("content-type", "application/json")
        .header("x-spinnaker-user", "jane@example.com")
        .body(body.to_vec())
        .send()
        .await
        .expect("POST /");
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

/// A sample of `/metrics`; `None` while Reverb has none (or cannot be asked).
async fn metric(reverb: &Reverb, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = reverb
        .http
        .get(reverb.url("/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    metric_sample(&text, name, labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_echo_byte_for_byte_with_spinnaker_headers() {
    let echo = fake_echo().await;
    let reverb = reverb_in_front_of(&echo, "").await;
    // The fixture as a file: pretty-printed, key order as Orca wrote it. Not one byte may change.
    let body = std::fs::read(format!(
        "{}/fixtures/orca/event-pipeline-complete.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let res = reverb
        .http
        .post(reverb.url("/"))
        .header("content-type", "application/json; charset=UTF-8")
        .header("X-SPINNAKER-USER", "jane@example.com")
        .header("X-SPINNAKER-ACCOUNTS", "prod,staging")
        .header("X-SPINNAKER-EXECUTION-ID", "01HTZ8Q5M3K7V2N9P4R6S8T0WX")
        .body(body.clone())
        .send()
        .await
        .expect("POST /");
    assert_eq!(res.status(), 200);

    let got = eventually(WAIT, "the event at Echo", || async {
        echo.requests_to("/").into_iter().next()
    })
    .await;
    assert_eq!(got.method, "POST");
    assert!(
        got.body == body,
        "the event body changed on its way to Echo"
    );
    assert_eq!(
        got.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(got.header("x-spinnaker-user"), Some("jane@example.com"));
    assert_eq!(got.header("x-spinnaker-accounts"), Some("prod,staging"));
    assert_eq!(
        got.header("x-spinnaker-execution-id"),
        Some("01HTZ8Q5M3K7V2N9P4R6S8T0WX")
    );
    assert_eq!(got.header("x-reverb-forwarded"), Some("1"));
    let forwarded = eventually(WAIT, "the forwarded counter", || async {
        metric(
            &reverb,
            "reverb_echo_forward_total",
            &[("outcome", "forwarded")],
        )
        .await
        .filter(|n| *n >= 1.0)
    })
    .await;
    assert_eq!(forwarded, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_events_arrive_in_order() {
    let echo = fake_echo().await;
    let reverb = reverb_in_front_of(&echo, "").await;
    let expected: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            format!(r#"{{"details":{{"type":"build","source":"igor"}},"content":{{"n":{i}}}}}"#)
                .into_bytes()
        })
        .collect();
    for body in &expected {
        post_event(&reverb, body).await;
    }
    eventually(WAIT, "50 events at Echo", || async {
        (echo.requests_to("/").len() >= 50).then_some(())
    })
    .await;
    assert_eq!(delivered_bodies(&echo), expected);
    assert_eq!(
        echo.requests_to("/").len(),
        50,
        "each event exactly once while Echo is up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_down_and_reverb_killed_lose_nothing() {
    let echo = fake_echo().await;
    echo.set_down(true);
    let reverb = reverb_in_front_of(&echo, "").await;
    let events: Vec<Vec<u8>> = (0..20)
        .map(|i| format!(r#"{{"content":{{"n":{i}}}}}"#).into_bytes())
        .collect();
    for body in &events[..10] {
        post_event(&reverb, body).await;
    }
    // Reverb tried and Echo said 503: the events wait in Reverb's store.
    eventually(WAIT, "a retried forward", || async {
        metric(
            &reverb,
            "reverb_echo_forward_total",
            &[("outcome", "retried")],
        )
        .await
        .filter(|n| *n >= 1.0)
    })
    .await;
    let pending = metric(&reverb, "reverb_echo_forward_pending", &[]).await;
    assert_eq!(pending, Some(10.0));

    // kill -9 while Echo is down; the restarted Reverb still owes Echo all ten.
    let config = reverb.kill9();
    let reverb = Reverb::start_in(config, &[]).await;
    for body in &events[10..] {
        post_event(&reverb, body).await;
    }
    eventually(WAIT, "twenty events pending after the restart", || async {
        metric(&reverb, "reverb_echo_forward_pending", &[])
            .await
            .filter(|n| *n == 20.0)
    })
    .await;

    echo.set_down(false);
    eventually(RECOVERY, "the backlog drained", || async {
        metric(&reverb, "reverb_echo_forward_pending", &[])
            .await
            .filter(|n| *n == 0.0)
    })
    .await;
    assert_eq!(
        delivered_bodies(&echo),
        events,
        "every event, once each, in order"
    );
    let rejected = metric(
        &reverb,
        "reverb_echo_forward_total",
        &[("outcome", "rejected")],
    )
    .await;
    assert_eq!(rejected, Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jira_notification_gets_echos_status_and_body() {
    let echo = fake_echo().await;
    let issue = r#"{"value":{"id":"10001","key":"OPS-42","self":"https://jira.example.com/rest/api/2/issue/10001"}}"#;
    echo.respond("/notifications", 200, issue, "application/json");
    let reverb = reverb_in_front_of(&echo, "").await;
    // What Orca's JiraService.createJiraIssue posts; Echo's answer goes back as it is.
    let jira = json!({
        "notificationType": "JIRA",
        "to": ["jane"],
        "source": {"user": "jane"},
        "additionalContext": {"issueContext": {
            "fields": {"project": {"key": "OPS"}, "summary": "Deploy failed", "issuetype": {"name": "Task"}},
            "update": {}
        }}
    });
    let body = serde_json::to_vec(&jira).expect("json");
    let res = reverb
        .http
        .post(reverb.url("/notifications"))
        .header("content-type", "application/json")
        .header("x-spinnaker-user", "jane")
        .body(body.clone())
        .send()
        .await
        .expect("POST /notifications");
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.expect("JSON answer");
    assert_eq!(answer, serde_json::from_str::<Value>(issue).expect("json"));
    let sent = echo.requests_to("/notifications");
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].body == body,
        "the notification changed on its way to Echo"
    );
    assert_eq!(sent[0].header("x-spinnaker-user"), Some("jane"));
    assert_eq!(sent[0].header("x-reverb-forwarded"), Some("1"));

    // Jira failures are Echo's 400; Orca sees that status.
    echo.respond(
        "/notifications",
        400,
        r#"{"status":400,"message":"Jira said no"}"#,
        "application/json",
    );
    let res = reverb.post_json("/notifications", &jira.to_string()).await;
    assert_eq!(res.status(), 400);
    let answer: Value = res.json().await.expect("JSON answer");
    assert_eq!(answer["message"], "Jira said no");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_cron_validation_are_proxied_with_query_and_headers() {
    let echo = fake_echo().await;
    echo.respond(
        "/webhooks",
        200,
        r#"{"eventProcessed":true,"eventId":"3f1c"}"#,
        "application/json",
    );
    echo.respond(
        "/validateCronExpression",
        200,
        r#"{"response":"Cron expression is valid"}"#,
        "application/json",
    );
    let reverb = reverb_in_front_of(&echo, "").await;

    let push =
        r#"{"ref":"refs/heads/main","repository":{"full_name":"acme/app"},"after":"abc123"}"#;
    let res = reverb
        .http
        .post(reverb.url("/webhooks/git/github"))
        .header("content-type", "application/json")
        .header(
            "X-Hub-Signature",
            "sha1=5d61605c3feea9799210ddcb71307d4ba264225f",
        )
        .header("X-GitHub-Event", "push")
        .header("Accept", "application/json")
        .body(push)
        .send()
        .await
        .expect("POST /webhooks/git/github");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.text().await.expect("body"),
        r#"{"eventProcessed":true,"eventId":"3f1c"}"#
    );
    let hook = &echo.requests_to("/webhooks/git/github")[0];
    assert_eq!(hook.method, "POST");
    assert_eq!(hook.body_text(), push);
    assert_eq!(
        hook.header("x-hub-signature"),
        Some("sha1=5d61605c3feea9799210ddcb71307d4ba264225f")
    );
    assert_eq!(hook.header("x-github-event"), Some("push"));
    assert_eq!(hook.header("x-reverb-forwarded"), Some("1"));

    let res = reverb
        .http
        .get(reverb.url("/validateCronExpression?cronExpression=0%200%2012%20*%20*%20%3F"))
        .header("X-SPINNAKER-USER", "jane")
        .send()
        .await
        .expect("GET /validateCronExpression");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.expect("body"),
        r#"{"response":"Cron expression is valid"}"#
    );
    let cron = &echo.requests_to("/validateCronExpression")[0];
    assert_eq!(cron.method, "GET");
    assert_eq!(cron.query, "cronExpression=0%200%2012%20*%20*%20%3F");
    assert_eq!(cron.header("x-spinnaker-user"), Some("jane"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_large_bodies_are_proxied_intact() {
    let echo = fake_echo().await;
    echo.respond("/some", 202, "accepted", "text/plain");
    let reverb = reverb_in_front_of(&echo, "").await;

    let res = reverb
        .http
        .delete(reverb.url("/some/unknown/path?x=1&y=2"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(res.status(), 202);
    assert_eq!(res.text().await.expect("body"), "accepted");
    let got = &echo.requests_to("/some/unknown/path")[0];
    assert_eq!(
        (got.method.as_str(), got.query.as_str()),
        ("DELETE", "x=1&y=2")
    );

    let large: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let res = reverb
        .http
        .post(reverb.url("/some/upload"))
        .header("content-type", "application/octet-stream")
        .body(large.clone())
        .send()
        .await
        .expect("5 MB POST");
    assert_eq!(res.status(), 202);
    let got = &echo.requests_to("/some/upload")[0];
    assert_eq!(got.body.len(), large.len());
    assert!(
        got.body == large,
        "the 5 MB body changed on its way to Echo"
    );

    // And the other way: a 5 MB answer from Echo comes back whole.
    let big_answer = "y".repeat(5 * 1024 * 1024);
    echo.respond("/pubsub/publishers", 200, &big_answer, "application/json");
    let res = reverb
        .http
        .get(reverb.url("/pubsub/publishers"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200);
    assert_eq!(res.content_length(), Some(big_answer.len() as u64));
    assert!(
        res.text().await.expect("body") == big_answer,
        "Echo's 5 MB answer changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_echos_merged_with_reverbs() {
    let echo = fake_echo().await;
    let plugins = r#"[{"notificationType":"teams-plugin","parameters":[{"name":"webhookUrl","label":"Webhook URL","defaultValue":"","description":"Where to post","type":"string"}],"uiType":"BASIC"}]"#;
    echo.respond("/notifications/metadata", 200, plugins, "application/json");
    let reverb = reverb_in_front_of(&echo, "").await;
    let res = reverb
        .http
        .get(reverb.url("/notifications/metadata"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.expect("JSON");
    assert_eq!(got, serde_json::from_str::<Value>(plugins).expect("json"));

    // Echo failing: Reverb's own list (empty), never an error for Deck.
    echo.respond("/notifications/metadata", 500, "boom", "text/plain");
    let res = reverb
        .http
        .get(reverb.url("/notifications/metadata"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("JSON"), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_are_refused_and_slack_callbacks_stay_with_reverb() {
    let echo = fake_echo().await;
    let reverb = reverb_in_front_of(&echo, "").await;
    let res = reverb
        .http
        .post(reverb.url("/webhooks/git/github"))
        .header("x-reverb-forwarded", "1")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 508);
    let body: Value = res.json().await.expect("JSON error");
    assert_eq!(body["status"], 508);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("X-Reverb-Forwarded"),
        "{body}"
    );

    let res = reverb
        .http
        .post(reverb.url("/notifications/callbacks/slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("payload=%7B%7D")
        .send()
        .await
        .expect("POST callback");
    assert_ne!(res.status(), 508);
    let reached_echo: Vec<String> = echo
        .requests()
        .into_iter()
        .filter(|r| r.path != "/health")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(reached_echo.is_empty(), "reached Echo: {reached_echo:?}");
}

#[test]
fn pointing_at_itself_stops_the_start_with_exit_code_2() {
    // Only a configuration value: the check refuses the start before anything listens, so the
    // port need not be free (were the check missing, the run would serve, or fail to bind, and
    // the assertions below would fail either way).
    let port = "18089";
    let config = ConfigDir::new(&[(
        "echo-local.yml",
        &format!("reverb:\n  echo:\n    baseUrl: http://localhost:{port}/\n"),
    )]);
    let dir = config.path().to_str().expect("utf-8 path");
    let store = config.path().join("reverb.db");
    let output = run_reverb(
        &["--config-dir", dir],
        &[
            ("SERVER_PORT", port),
            ("SERVER_ADDRESS", "127.0.0.1"),
            ("HOME", dir),
            ("REVERB_STORE_PATH", store.to_str().expect("utf-8 path")),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("reverb.echo.baseUrl"), "stderr: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_shows_echo_but_stays_up_without_it() {
    let echo = fake_echo().await;
    let reverb = reverb_in_front_of(&echo, "").await;
    let health = || async {
        let res = reverb.http.get(reverb.url("/health")).send().await.ok()?;
        let code = res.status().as_u16();
        Some((code, res.json::<Value>().await.ok()?))
    };
    let (code, body) = eventually(WAIT, "Echo UP in /health", || async {
        health()
            .await
            .filter(|(_, b)| b["details"]["echo"]["status"] == "UP")
    })
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "UP");
    // A status word only: where Echo lives stays out of public answers.
    assert!(body["details"]["echo"].get("baseUrl").is_none(), "{body}");

    echo.stop().await;
    let (code, body) = eventually(WAIT, "Echo unreachable in /health", || async {
        health()
            .await
            .filter(|(_, b)| b["details"]["echo"]["status"] == "UNREACHABLE")
    })
    .await;
    assert_eq!(code, 200, "Reverb's health never depends on Echo's");
    assert_eq!(body["status"], "UP");
    assert!(body["details"]["echo"].get("error").is_none(), "{body}");
}
