//! Hardening of the HTTP edge and the store, end to end against the real binary: slow clients
//! are cut off and cannot starve `/health`, reserved routes cannot be reached through Echo by
//! spelling tricks, one process serves a store, the store's files are private, `/health` tells
//! the truth about the store, and request-supplied values cannot forge log lines.
//!
//! Slow clients and odd paths are spoken in raw HTTP/1.1 over a socket: an HTTP client would
//! resolve `..` before sending and never trickles a body.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reverb_e2e::{Reverb, eventually, run_reverb};
use reverb_sandbox::{FakeSlackConfig, start_fake_slack};
use serde_json::{Value, json};

use crate::echo_passthrough::{fake_echo, reverb_in_front_of};

const WAIT: Duration = Duration::from_secs(20);
/// The body timeout the slow-client tests configure.
const BODY_TIMEOUT: Duration = Duration::from_secs(1);
/// A slow client's connection must be closed within this (generous, for a loaded CI box).
const CUT_OFF_WITHIN: Duration = Duration::from_secs(6);
/// Every `/health` answer while slow clients hold connections must come within this.
const HEALTH_BOUND: Duration = Duration::from_millis(500);

/// How the server ended a slow client's request.
#[derive(Debug)]
struct Cutoff {
    /// From the end of the headers to the server's answer, when it answered.
    answered_after: Option<Duration>,
    /// From the end of the headers to the server closing the connection.
    closed_after: Duration,
    /// The answer's status and body, when the server answered before closing.
    status: Option<u16>,
    body: String,
}

/// How a slow client frames its body.
#[derive(Debug, Clone, Copy)]
enum Framing {
    /// `Content-Length: n`, then one byte at a time.
    Length(usize),
    /// `Transfer-Encoding: chunked`, one one-byte chunk at a time, never the last chunk.
    Chunked,
}

/// A client that sends a request head, then one body byte every 50 ms until the server
/// answers or closes the connection.
struct SlowClient {
    reader: std::thread::JoinHandle<Option<Cutoff>>,
    stop: Arc<AtomicBool>,
}

impl SlowClient {
    /// Returns once the head is sent (the trickle goes on in the background).
    fn start(port: u16, path: &str, framing: Framing) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to reverb");
        stream.set_nodelay(true).expect("nodelay");
        let (framing_header, piece): (String, &'static [u8]) = match framing {
            Framing::Length(n) => (format!("Content-Length: {n}"), b" "),
            Framing::Chunked => ("Transfer-Encoding: chunked".to_owned(), b"1\r\n \r\n"),
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             {framing_header}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send the head");
        let sent_at = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let mut writer = stream.try_clone().expect("clone the socket");
        let writing = stop.clone();
        std::thread::spawn(move || {
            while !writing.load(Ordering::Relaxed) && writer.write_all(piece).is_ok() {
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let reading = stop.clone();
        let reader = std::thread::spawn(move || {
            stream
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("read timeout");
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let mut answered_after = None;
            let closed_after = loop {
                if sent_at.elapsed() > CUT_OFF_WITHIN {
                    break None;
                }
                match stream.read(&mut buf) {
                    Ok(0) => break Some(sent_at.elapsed()),
                    Ok(n) => {
                        seen.extend_from_slice(&buf[..n]);
                        if answered_after.is_none() && complete_answer(&seen) {
                            answered_after = Some(sent_at.elapsed());
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    // Reset by the server: cut off as well.
                    Err(_) => break Some(sent_at.elapsed()),
                }
            };
            reading.store(true, Ordering::Relaxed);
            let _ = stream.shutdown(Shutdown::Both);
            closed_after.map(|closed_after| {
                let (status, body) = parse_answer(&seen);
                Cutoff {
                    answered_after,
                    closed_after,
                    status,
                    body,
                }
            })
        });
        Self { reader, stop }
    }

    /// How the server ended it; `None` when the connection was still open after
    /// [`CUT_OFF_WITHIN`].
    fn outcome(self) -> Option<Cutoff> {
        let outcome = self.reader.join().expect("reader thread");
        self.stop.store(true, Ordering::Relaxed);
        outcome
    }
}

/// A whole answer: head and, when it says, `Content-Length` bytes of body.
fn complete_answer(seen: &[u8]) -> bool {
    let Some(head_end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    seen.len() >= head_end + 4 + length
}

fn parse_answer(seen: &[u8]) -> (Option<u16>, String) {
    let text = String::from_utf8_lossy(seen);
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|code| code.parse().ok());
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// One raw request (`Connection: close`) with the path exactly as given; status and body.
async fn raw_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to reverb");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream.write_all(head.as_bytes()).expect("send");
        let mut seen = Vec::new();
        let _ = stream.read_to_end(&mut seen);
        let (status, body) = parse_answer(&seen);
        (
            status.unwrap_or_else(|| panic!("no answer to {path}: {seen:?}")),
            body,
        )
    })
    .await
    .expect("raw request")
}

async fn timed_health(reverb: &Reverb) -> (u16, Duration) {
    let started = Instant::now();
    let res = reverb
        .http
        .get(reverb.url("/health"))
        .send()
        .await
        .expect("GET /health");
    let status = res.status().as_u16();
    let _ = res.bytes().await;
    (status, started.elapsed())
}

fn slow_config() -> String {
    format!(
        "reverb:\n  server:\n    bodyTimeout: {}s\n",
        BODY_TIMEOUT.as_secs()
    )
}

fn assert_cut_off(outcome: Option<Cutoff>, what: &str) {
    let cut = outcome.unwrap_or_else(|| panic!("{what}: still connected after {CUT_OFF_WITHIN:?}"));
    assert!(
        cut.status.is_none() || cut.status == Some(408),
        "{what}: closed or 408, got {cut:?}"
    );
    if cut.status == Some(408) {
        let body: Value = serde_json::from_str(&cut.body).expect("a JSON error body");
        assert_eq!(body["status"], 408, "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("reverb.server.bodyTimeout")),
            "{body}"
        );
    }
    let ended = cut.answered_after.unwrap_or(cut.closed_after);
    assert!(
        ended >= BODY_TIMEOUT.mul_f32(0.9),
        "{what}: cut off before the body timeout: {cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_are_cut_off_and_health_stays_quick_meanwhile() {
    let reverb = Reverb::start(&slow_config()).await;
    let slow: Vec<SlowClient> = (0..8)
        .map(|i| {
            let path = if i % 2 == 0 { "/" } else { "/notifications" };
            let framing = if i < 6 {
                Framing::Length(1_000_000)
            } else {
                Framing::Chunked
            };
            SlowClient::start(reverb.port, path, framing)
        })
        .collect();
    // While all eight trickle, `/health` and a small event are answered at once.
    for _ in 0..10 {
        let (status, took) = timed_health(&reverb).await;
        assert_eq!(status, 200);
        assert!(
            took < HEALTH_BOUND,
            "/health took {took:?} beside slow clients"
        );
    }
    let started = Instant::now();
    let res = reverb
        .post_json(
            "/",
            r#"{"details":{"type":"build","source":"igor"},"content":{}}"#,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(started.elapsed() < HEALTH_BOUND, "a small event waited");

    for (i, client) in slow.into_iter().enumerate() {
        assert_cut_off(client.outcome(), &format!("slow client {i}"));
    }
    // A route that never reads a body answers at once and closes: the rest of a trickled
    // body cannot keep the connection.
    let unread = SlowClient::start(reverb.port, "/health", Framing::Chunked)
        .outcome()
        .expect("the connection closed after the answer");
    assert!(
        unread.status.is_some_and(|s| (400..500).contains(&s)),
        "a JSON 4xx, then the close: {unread:?}"
    );
    let (status, _) = timed_health(&reverb).await;
    assert_eq!(status, 200, "{}", reverb.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_for_echo_is_cut_off_too() {
    let echo = fake_echo().await;
    let reverb = reverb_in_front_of(&echo, "  server:\n    bodyTimeout: 1s\n").await;
    for framing in [Framing::Length(1_000_000), Framing::Chunked] {
        let client = SlowClient::start(reverb.port, "/webhooks/git/github", framing);
        assert_cut_off(
            client.outcome(),
            &format!("a slow webhook for Echo ({framing:?})"),
        );
    }
    let (status, took) = timed_health(&reverb).await;
    assert_eq!(status, 200);
    assert!(took < HEALTH_BOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segment_paths_never_reach_echo() {
    let echo = fake_echo().await;
    let reverb = reverb_in_front_of(&echo, "").await;
    // Marks this test's requests among Echo's own health checks from Reverb.
    let mark = ("X-Hardening-Test", "dot-segments");
    for path in [
        "/x/../notifications/callbacks/slack",
        "/x/%2e%2e/notifications/callbacks/slack",
        "/webhooks/../health",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/x%2f..%2fmetrics",
        "/x/%252e%252e/health",
    ] {
        let (status, body) = raw_request(reverb.port, "GET", path, &[mark]).await;
        assert_eq!(status, 400, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error body");
        assert_eq!(body["status"], 400, "{path}: {body}");
        assert_eq!(body["error"], "Bad Request", "{path}: {body}");
    }
    // Reserved routes spelled with an encoded slash stay Reverb's.
    let (status, _) = raw_request(
        reverb.port,
        "GET",
        "/notifications%2Fcallbacks/slack",
        &[mark],
    )
    .await;
    assert_eq!(status, 405);
    // A normal path still goes through.
    let (status, _) = raw_request(reverb.port, "GET", "/webhooks/git/github", &[mark]).await;
    assert_eq!(status, 200);
    let ours: Vec<String> = echo
        .requests()
        .into_iter()
        .filter(|r| r.header("x-hardening-test").is_some())
        .map(|r| r.path)
        .collect();
    assert_eq!(
        ours,
        ["/webhooks/git/github"],
        "only the normal path reaches Echo"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_reverb_on_the_same_store_exits_2_and_outbox_commands_still_work() {
    let reverb = Reverb::start("").await;
    let dir = reverb
        .config
        .path()
        .to_str()
        .expect("utf-8 path")
        .to_owned();
    let store = reverb.config.store_path();
    let store_env = store.to_str().expect("utf-8 path").to_owned();
    let env = [
        ("REVERB_STORE_PATH", store_env.as_str()),
        ("SERVER_PORT", "0"),
        ("SERVER_ADDRESS", "127.0.0.1"),
    ];
    let second = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let env = env.map(|(k, v)| (k, v.to_owned()));
        move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            run_reverb(&["--config-dir", &dir, "serve"], &env)
        }
    })
    .await
    .expect("second reverb");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    let pid = reverb.child.id().to_string();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("reverb: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        line.contains(&format!("pid {pid}")) && line.contains(&store_env),
        "the line names the holder and the store: {line}"
    );
    assert!(line.contains("reverb.db.lock"), "{line}");

    // `reverb outbox` beside the running server.
    let list = run_reverb(&["--config-dir", &dir, "outbox", "list"], &env[..1]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(String::from_utf8_lossy(&list.stdout).contains("0 pending, 0 dead"));
    let (status, _) = timed_health(&reverb).await;
    assert_eq!(status, 200, "the first one still serves");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let reverb = Reverb::start("").await;
    let data = reverb.config.path().join("data");
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    };
    // The WAL and its index exist once the first write happened (the health heartbeat).
    eventually(WAIT, "the store's WAL files", || async {
        (mode("reverb.db-wal").is_some() && mode("reverb.db-shm").is_some()).then_some(())
    })
    .await;
    for name in [
        "reverb.db",
        "reverb.db-wal",
        "reverb.db-shm",
        "reverb.db.lock",
    ] {
        assert_eq!(mode(name), Some(0o600), "{name}");
    }
    let folder = std::fs::metadata(&data).expect("data folder");
    assert_eq!(folder.permissions().mode() & 0o777, 0o700, "data folder");
}

async fn health_body(reverb: &Reverb) -> Option<(u16, Value)> {
    let res = reverb.http.get(reverb.url("/health")).send().await.ok()?;
    let status = res.status().as_u16();
    Some((status, res.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_down_while_the_store_takes_no_writes_and_recovers_alone() {
    let reverb = Reverb::start("").await;
    let (status, body) = health_body(&reverb).await.expect("health");
    assert_eq!(
        (status, &body["details"]["store"]["status"]),
        (200, &json!("UP"))
    );

    // Permissions do not stop root, and an open file stays writable anyway; another
    // connection holding SQLite's write lock stops every writer, root or not.
    let path = reverb.config.store_path();
    let blocker = rusqlite::Connection::open(&path).expect("open the store");
    blocker
        .busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");

    let (status, body) = eventually(WAIT, "/health DOWN", || async {
        health_body(&reverb).await.filter(|(s, _)| *s == 503)
    })
    .await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "DOWN", "{body}");
    assert_eq!(body["details"]["store"]["status"], "DOWN", "{body}");
    let reason = body["details"]["store"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("cannot be written") && reason.contains("locked"),
        "{body}"
    );
    let head = reverb
        .http
        .head(reverb.url("/health"))
        .send()
        .await
        .expect("HEAD /health");
    assert_eq!(head.status(), 503, "the probe Halyard uses sees it too");

    blocker.execute_batch("ROLLBACK").expect("release the lock");
    drop(blocker);
    let (_, body) = eventually(WAIT, "/health UP again", || async {
        health_body(&reverb).await.filter(|(s, _)| *s == 200)
    })
    .await;
    assert_eq!(body["status"], "UP", "{body}");
    assert_eq!(body["details"]["store"]["status"], "UP", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echos_address_and_errors_stay_out_of_public_answers() {
    let echo = fake_echo().await;
    let reverb = reverb_in_front_of(&echo, "").await;
    let address = echo.addr().to_string();
    let (_, body) = eventually(WAIT, "Echo UP in /health", || async {
        health_body(&reverb)
            .await
            .filter(|(_, b)| b["details"]["echo"]["status"] == "UP")
    })
    .await;
    let text = body.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains(&address),
        "{text}"
    );

    echo.stop().await;
    let res = reverb
        .http
        .get(reverb.url("/webhooks/git/github"))
        .send()
        .await
        .expect("GET through Reverb");
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.expect("JSON error");
    assert_eq!(body["message"], "Echo is unreachable", "{body}");
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
    let (_, body) = eventually(WAIT, "Echo UNREACHABLE in /health", || async {
        health_body(&reverb)
            .await
            .filter(|(_, b)| b["details"]["echo"]["status"] == "UNREACHABLE")
    })
    .await;
    let text = body.to_string();
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("connect"),
        "no connection error text: {text}"
    );
    // The operator still finds where Echo is in the log.
    assert!(reverb.logs().contains(&address), "{}", reverb.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crlf_in_a_channel_cannot_forge_a_log_line() {
    let slack = start_fake_slack(FakeSlackConfig::default())
        .await
        .expect("fake Slack");
    let yml = format!(
        "slack:\n  enabled: true\n  token: xoxb-hardening\n  baseUrl: {}\n",
        slack.base_url()
    );
    let reverb = Reverb::start(&yml).await;
    let forged = "ops\r\nINFO fake line";
    let notification = json!({
        "notificationType": "SLACK",
        "to": [forged],
        "severity": "NORMAL",
        "source": {"application": "hardening"},
        "additionalContext": {"formatter": "TEXT", "subject": "s", "body": "b"},
    });
    let res = reverb
        .post_json("/notifications", &notification.to_string())
        .await;
    let status = res.status();
    let answer = res.text().await.unwrap_or_default();
    assert!(
        status.is_success() || status.is_client_error(),
        "{status} {answer}"
    );
    // The address shows up in the log once Reverb dealt with it (Slack refuses the channel).
    let logs = eventually(WAIT, "the channel in the log", || async {
        let logs = reverb.logs();
        logs.contains("INFO fake line").then_some(logs)
    })
    .await;
    assert!(
        !logs
            .lines()
            .any(|l| l.trim_start().starts_with("INFO fake line")),
        "a forged line:\n{logs}"
    );
    assert!(!logs.contains('\r'), "a raw CR in the log:\n{logs}");
}
