//! Prometheus sees Reverb as operators do: `/metrics` passes `promtool check metrics`, and a
//! real Prometheus server on loopback scrapes it and answers queries about the notifications
//! Reverb delivered. Needs Debian's `prometheus` package (`make test` installs it).

use std::future::ready;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use reverb_e2e::{Reverb, eventually};
use reverb_sandbox::{FakeSlackConfig, start_fake_slack};
use serde_json::Value;

fn slack_config(slack_url: &str) -> String {
    format!(
        "slack:\n  enabled: true\n  token: xoxb-test\n  baseUrl: {slack_url}\n  signing_secret: s3cret\n"
    )
}

async fn drive_notifications(reverb: &Reverb, count: usize) {
    for n in 0..count {
        let body = format!(
            r##"{{"notificationType":"SLACK","to":["#metrics"],"additionalContext":{{"formatter":"MARKDOWN","subject":"s","body":"message {n}"}}}}"##
        );
        let r = reverb.post_json("/notifications", &body).await;
        assert_eq!(r.status(), 200);
    }
}

/// The port of Prometheus's `msg="Listening on" address=127.0.0.1:N` log line.
fn listening_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("msg=\"Listening on\""))?;
    let address = line
        .split(' ')
        .find_map(|field| field.strip_prefix("address="))?;
    address.rsplit_once(':')?.1.parse().ok()
}

#[tokio::test]
async fn metrics_pass_promtool_check() {
    let slack = start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: 0.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let reverb = Reverb::start(&slack_config(&slack.base_url())).await;
    drive_notifications(&reverb, 3).await;
    // An event and a bad request so that more label sets exist.
    reverb
        .post_json(
            "/",
            r#"{"details":{"type":"orca:pipeline:starting"},"content":{}}"#,
        )
        .await;
    reverb.post_json("/", "{").await;
    eventually(Duration::from_secs(10), "3 deliveries", || async {
        (slack.calls_to("chat.postMessage").len() >= 3).then_some(())
    })
    .await;
    let text = reverb
        .http
        .get(reverb.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "reverb_notifications_accepted_total",
        "reverb_notifications_delivered_total",
        "reverb_slack_api_calls_total",
        "reverb_slack_api_call_duration_seconds_bucket",
        "reverb_outbox_pending_messages",
        "reverb_outbox_oldest_pending_age_seconds",
        "reverb_outbox_dead_letters",
        "reverb_http_requests_total",
        "reverb_events_received_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; `make test` installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real Prometheus scrapes Reverb every second; the delivered counter is read back through
/// Prometheus's query API.
#[tokio::test]
async fn real_prometheus_scrapes_reverb() {
    let slack = start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: 0.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let reverb = Reverb::start(&slack_config(&slack.base_url())).await;
    drive_notifications(&reverb, 5).await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    let log_path = dir.path().join("prometheus.log");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: reverb\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            reverb.port
        ),
    )
    .unwrap();
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        // Port 0: Prometheus logs the port it got ("Listening on" address=127.0.0.1:N).
        .arg("--web.listen-address=127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("prometheus (Debian package `prometheus`; `make test` installs it)");
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = KillOnDrop(prometheus);
    let prom_port = eventually(
        Duration::from_secs(30),
        "Prometheus to log the port it listens on",
        || {
            ready(listening_port(
                &std::fs::read_to_string(&log_path).unwrap_or_default(),
            ))
        },
    )
    .await;

    let query = format!(
        "http://127.0.0.1:{prom_port}/api/v1/query?query=sum(reverb_notifications_delivered_total%7Bjob%3D%22reverb%22%7D)"
    );
    let http = reverb.http.clone();
    let delivered = eventually(
        Duration::from_secs(60),
        "Prometheus to report 5 deliveries",
        || {
            let http = http.clone();
            let query = query.clone();
            async move {
                let body: Value = http.get(&query).send().await.ok()?.json().await.ok()?;
                let value = body["data"]["result"][0]["value"][1]
                    .as_str()?
                    .parse::<f64>()
                    .ok()?;
                (value >= 5.0).then_some(value)
            }
        },
    )
    .await;
    assert_eq!(delivered, 5.0);

    let up = format!("http://127.0.0.1:{prom_port}/api/v1/query?query=up%7Bjob%3D%22reverb%22%7D");
    let body: Value = http.get(&up).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"]["result"][0]["value"][1], "1");
}
