//! A harness wiring a `ClickHandler` to the sandbox's fake Orca, Slack and Fiat (and a recorder
//! standing in for Keel) over real HTTP, with an in-memory store and a real delivery engine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::Registry;
use reverb_callbacks::{
    CallbackSettings, ClickHandler, Decision, Interaction, ResolvedJudgment, parse_interaction,
    sign_v0, verify_signature,
};
use reverb_config::IdentityFallback;
use reverb_model::SlackMessage;
use reverb_model::judgment::{
    ACTION_CONTINUE, ACTION_STOP, ButtonKey, ButtonRef, Decision as ButtonDecision, InputChoice,
};
use reverb_sandbox::{
    FakeFiat, FakeFiatConfig, FakeOrca, FakeOrcaConfig, FakeSlack, FakeSlackConfig,
    FiatPermissions, MessageOrigin, OrcaPatch, OrcaRequest, RecordedRequest, Recorder, SlackCall,
    SlackChannel, SlackStoredMessage, SlackUser, eventually, start_fake_fiat, start_fake_orca,
    start_fake_slack, start_recorder,
};
use reverb_slack::{
    DeliveryEngine, DeliveryMetrics, DeliverySettings, SlackClient, SlackClientConfig, SlackClients,
};
use reverb_store::{MessageRef, SqliteStore, Store};
use serde_json::{Value, json};

pub const EXECUTION_ID: &str = "01HTZ8Q5M3K7V2N9P4R6S8T0WX";
pub const STAGE_ID: &str = "01HTZ8Q5N1B4C6D8E0F2G4H6J8";
/// The fake Slack's `#deploy-approvals`, where the fixtures' judgment message is.
pub const CHANNEL_ID: &str = "C0DEPLOY01";
/// The judgment message the block-actions fixture clicks on.
pub const MESSAGE_TS: &str = "1712570401.000300";
pub const SIGNING_SECRET: &[u8] = b"test-signing-secret";
pub const WAIT: Duration = Duration::from_secs(10);
/// The role the fixture's judgment stage names (`selectedStageRoles`).
pub const STAGE_ROLE: &str = "release-managers";
/// Who these tests click as: with Fiat off, Orca's role check lets exactly these judge unless a
/// test says otherwise ([`Options::judges`]).
pub const JUDGES: &[&str] = &[
    "jane@example.com",
    "john@doe.com",
    "user0@example.com",
    "user1@example.com",
    "user2@example.com",
    "user3@example.com",
    "user4@example.com",
    "user5@example.com",
    // `identityFallback: username`
    "jane",
];

/// The installation's button key in these tests.
pub fn test_key() -> ButtonKey {
    ButtonKey::from_bytes(&[42; ButtonKey::LEN])
}

pub const EXECUTION_FIXTURE: &str = include_str!("../fixtures/execution-running.json");
pub const BLOCK_ACTIONS_FIXTURE: &str = include_str!("../fixtures/callback-block-actions.json");
pub const INTERACTIVE_FIXTURE: &str = include_str!("../fixtures/callback-interactive-message.json");

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A Slack workspace member.
pub fn person(id: &str, name: &str, email: Option<&str>) -> SlackUser {
    SlackUser::new(id, name, name, email)
}

/// Poll `probe` until it answers, or panic naming `what` after [`WAIT`].
pub async fn wait_for<T>(what: &str, probe: impl FnMut() -> Option<T>) -> T {
    eventually(WAIT, probe)
        .await
        .unwrap_or_else(|| panic!("timed out after {WAIT:?} waiting for {what}"))
}

pub struct Options {
    pub identity_fallback: IdentityFallback,
    /// Start the fake Fiat and have Reverb ask it (`fiat_base_url`); Orca does not consult it.
    pub fiat: bool,
    /// The members of the stage's role in Orca's role check (when Orca does not consult Fiat).
    pub judges: Vec<String>,
    /// Fiat's permissions for Orca to consult (its PATCH then needs EXECUTE on the application).
    pub orca_fiat: Option<FiatPermissions>,
    pub orca_retry_for: Duration,
    pub readback_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            identity_fallback: IdentityFallback::None,
            fiat: false,
            judges: JUDGES.iter().map(|j| (*j).to_owned()).collect(),
            orca_fiat: None,
            orca_retry_for: Duration::from_secs(5),
            readback_timeout: Duration::from_secs(3),
        }
    }
}

pub struct Harness {
    pub fiat: Option<FakeFiat>,
    pub orca: FakeOrca,
    pub slack: FakeSlack,
    pub keel: Recorder,
    pub store: Arc<SqliteStore>,
    pub handler: ClickHandler,
    pub registry: Registry,
}

/// The renderer the server would build from templates; here a recognisable line.
pub fn render(r: &ResolvedJudgment) -> SlackMessage {
    SlackMessage {
        text: format!(
            "{} {} by {} (input {}) note {}",
            r.stage_name,
            r.decision.map_or("none", |d| d.as_str()),
            r.judged_by.as_deref().unwrap_or("nobody"),
            r.judgment_input.as_deref().unwrap_or("none"),
            r.note.as_deref().unwrap_or("none"),
        ),
        ..SlackMessage::default()
    }
}

/// A message as the bot posted it earlier, to seed the fake Slack with.
fn bot_message(
    channel: &str,
    ts: &str,
    text: &str,
    attachments: Option<Value>,
) -> SlackStoredMessage {
    SlackStoredMessage {
        channel: channel.to_owned(),
        ts: ts.to_owned(),
        thread_ts: None,
        text: text.to_owned(),
        blocks: None,
        attachments,
        username: None,
        reply_broadcast: false,
        edit_count: 0,
        origin: MessageOrigin::PostMessage,
        visible_to: None,
        args: json!({}),
    }
}

/// The fixtures' click payload fields the fake Slack must know: their channel, message and
/// `response_url`.
fn seed_fixture_clicks(slack: &FakeSlack) {
    let keel: Value = serde_json::from_str(INTERACTIVE_FIXTURE).unwrap();
    let channel = keel["channel"]["id"].as_str().unwrap();
    let name = keel["channel"]["name"].as_str().unwrap();
    slack.add_channel(SlackChannel::public(channel, name));
    let original = &keel["original_message"];
    slack
        .put_message(bot_message(
            channel,
            keel["message_ts"].as_str().unwrap(),
            original["text"].as_str().unwrap(),
            Some(original["attachments"].clone()),
        ))
        .unwrap();
    slack
        .issue_response_url(
            keel["response_url"].as_str().unwrap(),
            channel,
            keel["message_ts"].as_str().unwrap(),
            keel["user"]["id"].as_str().unwrap(),
            true,
        )
        .unwrap();
    let block: Value = serde_json::from_str(BLOCK_ACTIONS_FIXTURE).unwrap();
    slack
        .issue_response_url(
            block["response_url"].as_str().unwrap(),
            CHANNEL_ID,
            MESSAGE_TS,
            block["user"]["id"].as_str().unwrap(),
            false,
        )
        .unwrap();
}

impl Harness {
    pub async fn start(options: Options) -> Self {
        Self::with_execution(options, serde_json::from_str(EXECUTION_FIXTURE).unwrap()).await
    }

    pub async fn with_execution(options: Options, execution: Value) -> Self {
        install_crypto();
        let orca = start_fake_orca(FakeOrcaConfig {
            role_members: HashMap::from([(STAGE_ROLE.to_owned(), options.judges.clone())]),
            fiat: options.orca_fiat.clone(),
            ..FakeOrcaConfig::default()
        })
        .await
        .unwrap();
        orca.put_execution(execution);
        let slack = start_fake_slack(FakeSlackConfig {
            channel_rate_per_sec: 0.0,
            ..FakeSlackConfig::default()
        })
        .await
        .unwrap();
        seed_fixture_clicks(&slack);
        let keel = start_recorder(None).await.unwrap();
        let fiat = match options.fiat {
            true => Some(start_fake_fiat(FakeFiatConfig::default()).await.unwrap()),
            false => None,
        };
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let http = reqwest::Client::builder().build().unwrap();
        let app = SlackClient::new(
            http.clone(),
            SlackClientConfig {
                base_url: slack.base_url(),
                token: Some("xoxb-test".into()),
                incoming_webhook: false,
                timeout: Duration::from_secs(5),
            },
        );
        let registry = Registry::new();
        let delivery = DeliveryEngine::start(
            store.clone(),
            SlackClients {
                legacy: None,
                app: Some(app.clone()),
            },
            slack.base_url(),
            DeliverySettings {
                initial_backoff: Duration::from_millis(20),
                ..DeliverySettings::default()
            },
            DeliveryMetrics::register(&registry).unwrap(),
        )
        .await
        .unwrap();
        let keel_url = keel.base_url();
        let mut settings =
            CallbackSettings::new(orca.base_url(), "https://deck.example.com", test_key());
        settings.identity.rules.identity_fallback = options.identity_fallback;
        settings.identity.lookup_budget = Duration::from_secs(2);
        settings.fiat_base_url = fiat.as_ref().map(FakeFiat::base_url);
        settings.service_base_url = Arc::new(move |id| (id == "keel").then(|| keel_url.clone()));
        settings.orca_retry_for = options.orca_retry_for;
        settings.readback_timeout = options.readback_timeout;
        settings.readback_poll_interval = Duration::from_millis(20);
        settings.request_timeout = Duration::from_secs(2);
        let handler = ClickHandler::new(
            store.clone(),
            delivery,
            app,
            http,
            settings,
            Arc::new(render),
            &registry,
        )
        .unwrap();
        Self {
            fiat,
            orca,
            slack,
            keel,
            store,
            handler,
            registry,
        }
    }

    /// Record that Reverb posted the judgment message in the deploy channel (and put it there).
    pub fn record_posted_message(&self) {
        let key = format!("judgment:{EXECUTION_ID}:1@deploy-approvals");
        let reference = MessageRef {
            channel_id: CHANNEL_ID.into(),
            ts: MESSAGE_TS.into(),
        };
        self.store.record_ref(&key, &reference, now_ms()).unwrap();
        self.slack
            .put_message(bot_message(
                CHANNEL_ID,
                MESSAGE_TS,
                "Approve production is awaiting manual judgment",
                None,
            ))
            .unwrap();
    }

    /// The judgment stage as Orca has it now.
    pub fn stage(&self) -> Value {
        self.orca.stage(EXECUTION_ID, STAGE_ID).unwrap()
    }

    /// Change the execution as Orca stores it (Deck's "restart stage", say).
    pub fn change_execution(&self, change: impl FnOnce(&mut Value)) {
        let mut execution = self.orca.execution(EXECUTION_ID).unwrap();
        change(&mut execution);
        self.orca.put_execution(execution);
    }

    /// The PATCHes Orca received.
    pub fn patches(&self) -> Vec<OrcaPatch> {
        self.orca.patches()
    }

    /// The reads of executions Orca received.
    pub fn orca_gets(&self) -> Vec<OrcaRequest> {
        self.orca
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/pipelines/"))
            .collect()
    }

    /// The arguments of every `chat.update` Slack received.
    pub fn updates(&self) -> Vec<Value> {
        args_of(self.slack.calls_to("chat.update"))
    }

    /// The arguments of every `chat.postEphemeral` Slack received.
    pub fn ephemerals(&self) -> Vec<Value> {
        args_of(self.slack.calls_to("chat.postEphemeral"))
    }

    /// The posts to a `response_url`.
    pub fn response_url_posts(&self) -> Vec<SlackCall> {
        self.slack.calls_to("response_url")
    }

    /// The callbacks relayed to Keel.
    pub fn keel_callbacks(&self) -> Vec<RecordedRequest> {
        self.keel
            .requests_to("/notifications/callback")
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    pub fn users_info_calls(&self) -> Vec<SlackCall> {
        self.slack.calls_to("users.info")
    }

    /// The message updates Slack received, once there is at least one.
    pub async fn first_updates(&self) -> Vec<Value> {
        wait_for("the message update", || {
            let u = self.updates();
            (!u.is_empty()).then_some(u)
        })
        .await
    }

    /// The ephemeral messages Slack received, once there is at least one.
    pub async fn first_ephemerals(&self) -> Vec<Value> {
        wait_for("the private note", || {
            let e = self.ephemerals();
            (!e.is_empty()).then_some(e)
        })
        .await
    }

    pub fn judgment_count(&self, decision: &str, outcome: &str) -> u64 {
        for family in self.registry.gather() {
            if family.name() != "reverb_judgments_total" {
                continue;
            }
            for metric in family.get_metric() {
                let labels: HashMap<&str, &str> = metric
                    .get_label()
                    .iter()
                    .map(|l| (l.name(), l.value()))
                    .collect();
                if labels.get("decision") == Some(&decision)
                    && labels.get("outcome") == Some(&outcome)
                {
                    return metric.get_counter().get_value() as u64;
                }
            }
        }
        0
    }
}

fn args_of(calls: Vec<SlackCall>) -> Vec<Value> {
    calls.into_iter().map(|c| c.args).collect()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The value Reverb mints for a button of the fixture judgment; an input is named by its
/// position in the fixture execution's `judgmentInputs`.
pub fn minted_value(decision: Decision, input: Option<&str>) -> String {
    let decision = match decision {
        Decision::Stop => ButtonDecision::Stop,
        _ => ButtonDecision::Continue,
    };
    let execution: Value = serde_json::from_str(EXECUTION_FIXTURE).unwrap();
    let listed: Vec<String> = execution["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["refId"] == "1")
        .flat_map(|s| {
            s["context"]["judgmentInputs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|i| i["value"].as_str().map(str::to_string))
        .collect();
    ButtonRef {
        decision,
        application: "myapp".into(),
        execution_id: EXECUTION_ID.into(),
        stage_ref_id: "1".into(),
        input: input.map(|text| {
            let index = listed.iter().position(|l| l == text).map_or(99, |i| i + 1);
            InputChoice::new(index, text)
        }),
    }
    .mint(&test_key())
}

/// What arrives over HTTP for a payload: the body and its signature headers.
pub struct SignedRequest {
    pub body: Vec<u8>,
    pub timestamp: String,
    pub signature: String,
}

pub fn sign_payload(payload: &Value) -> SignedRequest {
    let body = format!(
        "payload={}",
        reverb_sandbox::slack_form_encode(&payload.to_string())
    )
    .into_bytes();
    let timestamp = (now_ms() / 1000).to_string();
    let signature = sign_v0(SIGNING_SECRET, &timestamp, &body);
    SignedRequest {
        body,
        timestamp,
        signature,
    }
}

/// What the HTTP route does before handing the click over: verify, then parse.
pub fn receive(request: &SignedRequest) -> Interaction {
    verify_signature(
        SIGNING_SECRET,
        Some(&request.timestamp),
        Some(&request.signature),
        &request.body,
        now_ms() / 1000,
        300,
    )
    .expect("signature verifies");
    parse_interaction(&request.body).expect("payload parses")
}

/// A Block Kit click on Reverb's judgment button by `user_id`.
pub fn block_click(
    user_id: &str,
    user_name: &str,
    decision: Decision,
    input: Option<&str>,
) -> Interaction {
    let mut payload: Value = serde_json::from_str(BLOCK_ACTIONS_FIXTURE).unwrap();
    payload["user"]["id"] = json!(user_id);
    payload["user"]["name"] = json!(user_name);
    payload["user"]["username"] = json!(user_name);
    payload["actions"][0]["action_id"] = json!(match decision {
        Decision::Stop => ACTION_STOP,
        _ => ACTION_CONTINUE,
    });
    payload["actions"][0]["value"] = json!(minted_value(decision, input));
    receive(&sign_payload(&payload))
}

/// A Block Kit click on a judgment button carrying `reference`, minted with the test key.
pub fn block_click_on(user_id: &str, user_name: &str, reference: &ButtonRef) -> Interaction {
    let mut payload: Value = serde_json::from_str(BLOCK_ACTIONS_FIXTURE).unwrap();
    payload["user"]["id"] = json!(user_id);
    payload["user"]["name"] = json!(user_name);
    payload["actions"][0]["action_id"] = json!(match reference.decision {
        ButtonDecision::Stop => ACTION_STOP,
        ButtonDecision::Continue => ACTION_CONTINUE,
    });
    payload["actions"][0]["value"] = json!(reference.mint(&test_key()));
    receive(&sign_payload(&payload))
}

/// Echo's legacy fixture: a Keel approval button.
pub fn keel_click() -> Interaction {
    receive(&sign_payload(
        &serde_json::from_str(INTERACTIVE_FIXTURE).unwrap(),
    ))
}

pub fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}
