//! Reverb wired to a fake Slack, a fake Orca (and, when asked, a fake Fiat) and a recorder
//! standing in for Keel, plus small readers for what the fakes saw. Used by the events,
//! notifications, judgments, trust and markup tests.

use std::fmt;
use std::future::ready;
use std::time::Duration;

use reverb_e2e::{Reverb, eventually};
use reverb_sandbox::{
    FakeFiat, FakeFiatConfig, FakeOrca, FakeOrcaConfig, FakeSlack, FakeSlackConfig, Recorder,
    SlackCall, SlackStoredMessage, start_fake_fiat, start_fake_orca, start_fake_slack,
    start_recorder,
};
use serde_json::Value;

/// The signing secret shared by the fake Slack and Reverb (when interactivity is on).
pub const SIGNING_SECRET: &str = "e2e-signing-secret-8f742231b10e";
/// Reverb's `slack.token`.
pub const TOKEN: &str = "xoxb-test";
/// `spinnaker.baseUrl` (Deck), the base of the links in messages.
pub const DECK: &str = "http://spinnaker";
pub const EXECUTION_ID: &str = "01HTZ8Q5M3K7V2N9P4R6S8T0WX";
/// Deck's link to the fixtures' execution.
pub const LINK: &str =
    "http://spinnaker/#/applications/myapp/executions/details/01HTZ8Q5M3K7V2N9P4R6S8T0WX";
/// How long anything asynchronous may take before a test gives up.
pub const WAIT: Duration = Duration::from_secs(15);

/// A fixture under `tests/e2e/fixtures/` (e.g. `orca/event-pipeline-complete`).
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// How to configure Reverb for one test.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Give Reverb the signing secret (interactivity, buttons on judgments).
    pub interactive: bool,
    /// `reverb.slack.messageStyle`.
    pub style: &'static str,
    pub threads: bool,
    /// `slack.sendCompactMessages`.
    pub compact: bool,
    pub slack_enabled: bool,
    /// Configure `keel.baseUrl` (the recorder).
    pub keel: bool,
    /// `reverb.server.maxRequestBodySize`.
    pub max_body: Option<&'static str>,
    /// Start the fake Fiat, point Orca at it, and turn Fiat on in Reverb
    /// (`services.fiat.enabled`, `services.fiat.baseUrl`).
    pub fiat: bool,
    /// Extra keys under `reverb.judgments` (YAML, indented by four spaces).
    pub judgments: String,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            interactive: false,
            style: "blocks",
            threads: false,
            compact: false,
            slack_enabled: true,
            keel: true,
            max_body: None,
            fiat: false,
            judgments: String::new(),
        }
    }
}

impl Setup {
    pub fn interactive() -> Self {
        Self {
            interactive: true,
            ..Self::default()
        }
    }

    pub fn style(style: &'static str) -> Self {
        Self {
            style,
            ..Self::default()
        }
    }

    fn echo_local(
        &self,
        slack: &FakeSlack,
        orca: &FakeOrca,
        keel: &Recorder,
        fiat: Option<&FakeFiat>,
    ) -> String {
        let mut yaml = format!(
            "slack:\n  enabled: {}\n  token: {TOKEN}\n  baseUrl: {}\n",
            self.slack_enabled,
            slack.base_url()
        );
        if self.interactive {
            yaml.push_str(&format!("  signing_secret: {SIGNING_SECRET}\n"));
        }
        if self.compact {
            yaml.push_str("  sendCompactMessages: true\n");
        }
        yaml.push_str(&format!(
            "orca:\n  baseUrl: {}\nspinnaker:\n  baseUrl: {DECK}\n",
            orca.base_url()
        ));
        if self.keel {
            yaml.push_str(&format!("keel:\n  baseUrl: {}\n", keel.base_url()));
        }
        if let Some(fiat) = fiat {
            yaml.push_str(&format!(
                "services:\n  fiat:\n    enabled: true\n    baseUrl: {}\n",
                fiat.base_url()
            ));
        }
        yaml.push_str("reverb:\n");
        if !self.judgments.is_empty() {
            yaml.push_str("  judgments:\n");
            yaml.push_str(&self.judgments);
            if !self.judgments.ends_with('\n') {
                yaml.push('\n');
            }
        }
        if let Some(size) = self.max_body {
            yaml.push_str(&format!("  server:\n    maxRequestBodySize: {size}\n"));
        }
        yaml.push_str(&format!(
            "  slack:\n    responseUrlBase: {}\n    messageStyle: {}\n    threads: {}\n",
            slack.base_url(),
            self.style,
            self.threads
        ));
        // Pacing is tested elsewhere; here it would only slow the tests down.
        yaml.push_str(
            "  delivery:\n    channelRate: 200\n    channelBurst: 200\n    initialBackoff: 100ms\n    maxBackoff: 1s\n",
        );
        yaml
    }
}

/// Reverb and its peers, each on a port it chose (port 0).
pub struct Harness {
    pub slack: FakeSlack,
    pub orca: FakeOrca,
    pub keel: Recorder,
    pub fiat: Option<FakeFiat>,
    pub reverb: Reverb,
}

impl Harness {
    pub async fn start(setup: Setup) -> Self {
        let slack = start_fake_slack(FakeSlackConfig {
            channel_rate_per_sec: 0.0,
            signing_secret: SIGNING_SECRET.to_owned(),
            ..FakeSlackConfig::default()
        })
        .await
        .expect("fake Slack");
        let fiat = if setup.fiat {
            Some(
                start_fake_fiat(FakeFiatConfig::default())
                    .await
                    .expect("fake Fiat"),
            )
        } else {
            None
        };
        let orca = start_fake_orca(FakeOrcaConfig {
            fiat: fiat.as_ref().map(FakeFiat::permissions),
            ..FakeOrcaConfig::default()
        })
        .await
        .expect("fake Orca");
        let keel = start_recorder(None).await.expect("recorder");
        let yaml = setup.echo_local(&slack, &orca, &keel, fiat.as_ref());
        let reverb = Reverb::start(&yaml).await;
        let harness = Self {
            slack,
            orca,
            keel,
            fiat,
            reverb,
        };
        harness.connect();
        harness
    }

    /// Point the fakes at Reverb's (current) port.
    pub fn connect(&self) {
        self.slack
            .set_interactivity_url(Some(&self.reverb.url("/notifications/callbacks/slack")));
        self.orca.set_reverb_url(Some(&self.reverb.url("")));
    }

    /// Restart Reverb on the same config folder and store (SIGTERM, then start again), and
    /// point the fakes at its new port.
    pub async fn restart(&mut self) {
        self.reverb.restart(&[]).await;
        self.connect();
    }

    /// `kill -9` Reverb, then start it again on the same config folder and store.
    pub async fn crash_and_restart(&mut self) {
        self.reverb.crash_and_restart(&[]).await;
        self.connect();
    }

    /// POST a JSON body; the status and the body text.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, String) {
        let response = self.reverb.post_json(path, &body.to_string()).await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// POST `/` as Orca does, expecting Echo's answer: 200 with an empty body.
    pub async fn event(&self, event: &Value) {
        let (status, body) = self.post("/", event).await;
        assert_eq!(
            (status, body.as_str()),
            (200, ""),
            "event answer; logs:\n{}",
            self.reverb.logs()
        );
    }

    /// POST `/notifications`; the status and the body text.
    pub async fn notify(&self, notification: &Value) -> (u16, String) {
        self.post("/notifications", notification).await
    }

    /// Wait until the outbox holds nothing pending: everything accepted so far was delivered
    /// (or given up, which [`Harness::settle`] refuses).
    pub async fn settle(&self) {
        let reverb = &self.reverb;
        let dead = eventually(WAIT, "the outbox to drain", || async {
            let health: Value = reverb
                .http
                .get(reverb.url("/health"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let outbox = &health["details"]["outbox"];
            (outbox["pending"].as_u64()? == 0).then(|| outbox["deadLetters"].as_u64())
        })
        .await;
        assert_eq!(dead, Some(0), "dead letters; logs:\n{}", reverb.logs());
    }

    /// A wait's description that, when the wait times out, also shows what Slack received
    /// and Reverb's log.
    pub fn waiting_for<'a>(&'a self, what: &'a str) -> WaitingFor<'a> {
        WaitingFor {
            what,
            harness: self,
        }
    }

    /// One line per request the fake Slack received.
    pub fn call_summary(&self) -> String {
        self.slack
            .calls()
            .iter()
            .map(|c| {
                format!(
                    "  {} {} channel={:?} ts={:?} -> {} {}",
                    c.id,
                    c.method,
                    c.arg_str("channel"),
                    c.arg_str("ts"),
                    c.status,
                    c.response
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Wait until `channel` shows at least `count` messages; returns them.
    pub async fn wait_posted(&self, channel: &str, count: usize) -> Vec<SlackStoredMessage> {
        let what = format!("{count} message(s) in {channel}");
        eventually(WAIT, self.waiting_for(&what), || {
            let messages = self.slack.posted(channel);
            ready((messages.len() >= count).then_some(messages))
        })
        .await
    }

    /// Wait until some message of `channel` satisfies `check`; returns it.
    pub async fn wait_message(
        &self,
        channel: &str,
        what: &str,
        check: impl Fn(&SlackStoredMessage) -> bool,
    ) -> SlackStoredMessage {
        eventually(WAIT, self.waiting_for(what), || {
            ready(self.slack.posted(channel).into_iter().find(|m| check(m)))
        })
        .await
    }

    /// Wait for an ephemeral message to `user` in `channel` that satisfies `check`.
    pub async fn wait_ephemeral(
        &self,
        channel: &str,
        user: &str,
        check: impl Fn(&str) -> bool,
    ) -> SlackStoredMessage {
        let what = format!("an ephemeral message to {user}");
        eventually(WAIT, self.waiting_for(&what), || {
            ready(
                self.slack
                    .ephemerals(channel)
                    .into_iter()
                    .find(|m| m.visible_to.as_deref() == Some(user) && check(&m.all_text())),
            )
        })
        .await
    }

    /// Every `chat.postMessage` call the fake Slack received.
    pub fn posts(&self) -> Vec<SlackCall> {
        self.slack.calls_to("chat.postMessage")
    }
}

/// What a [`Harness`] wait is for; formatted only when it times out.
pub struct WaitingFor<'a> {
    what: &'a str,
    harness: &'a Harness,
}

impl fmt::Display for WaitingFor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\nSlack calls:\n{}\nReverb log:\n{}",
            self.what,
            self.harness.call_summary(),
            self.harness.reverb.logs()
        )
    }
}

/// The first attachment of a message as Slack stores it.
pub fn attachment(message: &SlackStoredMessage) -> &serde_json::Map<String, Value> {
    message
        .attachments
        .as_ref()
        .and_then(|a| a.get(0))
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no attachment in {message:#?}"))
}

/// The first attachment of a Web API call's arguments.
pub fn call_attachment(call: &SlackCall) -> &serde_json::Map<String, Value> {
    call.args["attachments"][0]
        .as_object()
        .unwrap_or_else(|| panic!("no attachment in {:#?}", call.args))
}

/// Blocks style: the mrkdwn text of the first section block of the first attachment.
pub fn section_text(attachment: &serde_json::Map<String, Value>) -> &str {
    attachment["blocks"]
        .as_array()
        .and_then(|blocks| blocks.iter().find(|b| b["type"] == "section"))
        .and_then(|b| b["text"]["text"].as_str())
        .unwrap_or_else(|| panic!("no section block in {attachment:#?}"))
}

/// Echo's text of a message in either style: `text` of the attachment, else its section block.
pub fn echo_text(attachment: &serde_json::Map<String, Value>) -> &str {
    match attachment.get("text").and_then(Value::as_str) {
        Some(text) => text,
        None => section_text(attachment),
    }
}

/// Blocks style: the elements of the actions block (the judgment buttons), if any.
pub fn block_buttons(message: &SlackStoredMessage) -> Vec<Value> {
    let mut found = Vec::new();
    let as_list =
        |value: Option<&Value>| value.and_then(Value::as_array).cloned().unwrap_or_default();
    let mut blocks = as_list(message.blocks.as_ref());
    for attachment in as_list(message.attachments.as_ref()) {
        blocks.extend(as_list(attachment.get("blocks")));
    }
    for block in &blocks {
        if block["type"] == "actions" {
            found.extend(as_list(block.get("elements")));
        }
    }
    found
}

/// The labels of block buttons.
pub fn labels(buttons: &[Value]) -> Vec<String> {
    buttons
        .iter()
        .map(|b| b["text"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Percent-decoding of a form value (`+` is a space).
pub fn form_decode(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 form value")
}

/// Java's `URLEncoder.encode(s, "UTF-8")`, as Spring (and so Gate) rebuilds a form body: letters,
/// digits and `.-*_` stay literal, a space is `+`, everything else is `%XX` upper-case.
pub fn java_url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}
