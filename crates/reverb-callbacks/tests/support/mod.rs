//! Fakes of Orca, Slack and Keel over real HTTP, and a harness wiring a `ClickHandler` to them
//! with an in-memory store and a real delivery engine.

#![allow(dead_code)]

pub mod http;

use http::eventually;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
use reverb_slack::{
    DeliveryEngine, DeliveryMetrics, DeliverySettings, SlackClient, SlackClientConfig, SlackClients,
};
use reverb_store::{MessageRef, SqliteStore, Store};
use serde_json::{Value, json};

use http::{FakeServer, Recorded, Reply};

pub const EXECUTION_ID: &str = "01HTZ8Q5M3K7V2N9P4R6S8T0WX";
pub const STAGE_ID: &str = "01HTZ8Q5N1B4C6D8E0F2G4H6J8";
pub const CHANNEL_ID: &str = "C0DEPLOY01";
pub const SIGNING_SECRET: &[u8] = b"test-signing-secret";
pub const WAIT: Duration = Duration::from_secs(10);
/// The bot token's workspace, as the fixtures name it.
pub const TEAM_ID: &str = "T00000000";

/// The installation's button key in these tests.
pub fn test_key() -> ButtonKey {
    ButtonKey::from_bytes(&[42; ButtonKey::LEN])
}

pub const EXECUTION_FIXTURE: &str = include_str!("../fixtures/execution-running.json");
pub const BLOCK_ACTIONS_FIXTURE: &str = include_str!("../fixtures/callback-block-actions.json");
pub const INTERACTIVE_FIXTURE: &str = include_str!("../fixtures/callback-interactive-message.json");
pub const USERS_INFO_FIXTURE: &str = include_str!("../fixtures/users-info.json");

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

// ---------------------------------------------------------------------------------------------
// Fake Orca

/// Orca's behaviour around manual judgments: PATCH writes the context like
/// `CompoundExecutionOperator.updateStage`; the next GET plays `WaitForManualJudgmentTask`
/// (role check → revert, else the stage ends SUCCEEDED/TERMINAL).
pub struct OrcaState {
    pub execution: Value,
    /// GETs answered 503 before Orca "comes up".
    pub unavailable_gets: usize,
    /// `None`: Fiat off, everyone may judge. `Some`: only these users pass the role check.
    pub authorised: Option<HashSet<String>>,
    /// Status for PATCH; 200 applies it.
    pub patch_status: u16,
    /// Orca's empty-200 failure: answer 200 but store nothing.
    pub patch_lost: bool,
    judgment_pending: bool,
}

pub struct FakeOrca {
    pub server: FakeServer,
    pub state: Arc<Mutex<OrcaState>>,
}

impl FakeOrca {
    pub async fn start(execution: Value) -> Self {
        let state = Arc::new(Mutex::new(OrcaState {
            execution,
            unavailable_gets: 0,
            authorised: None,
            patch_status: 200,
            patch_lost: false,
            judgment_pending: false,
        }));
        let shared = state.clone();
        let server = FakeServer::start(Arc::new(move |r: &Recorded| {
            orca_answer(&mut shared.lock().unwrap(), r)
        }))
        .await;
        Self { server, state }
    }

    pub fn patches(&self) -> Vec<Recorded> {
        self.server.matching("PATCH", "/pipelines/")
    }

    pub fn gets(&self) -> Vec<Recorded> {
        self.server.matching("GET", "/pipelines/")
    }

    pub fn with_state(&self, change: impl FnOnce(&mut OrcaState)) {
        change(&mut self.state.lock().unwrap());
    }

    pub fn stage(&self) -> Value {
        self.state.lock().unwrap().execution["stages"][0].clone()
    }
}

fn orca_answer(state: &mut OrcaState, r: &Recorded) -> Reply {
    let execution_path = format!("/pipelines/{EXECUTION_ID}");
    match r.method.as_str() {
        "GET" if r.path() == execution_path => {
            if state.unavailable_gets > 0 {
                state.unavailable_gets -= 1;
                return Reply::status(503, r#"{"error":"Service Unavailable"}"#);
            }
            if state.judgment_pending {
                state.judgment_pending = false;
                run_judgment_task(state);
            }
            Reply::json(state.execution.clone())
        }
        "GET" => Reply::status(
            404,
            r#"{"error":"Not Found","message":"Execution not found"}"#,
        ),
        "PATCH" => {
            if state.patch_status != 200 {
                return Reply::status(
                    state.patch_status,
                    r#"{"error":"Forbidden","message":"Access is denied"}"#,
                );
            }
            if state.patch_lost {
                return Reply::status(200, "");
            }
            let user = r
                .header("X-SPINNAKER-USER")
                .unwrap_or("anonymous")
                .to_string();
            let stage_id = r.path().rsplit('/').next().unwrap_or_default().to_string();
            let Some(stage) = stage_mut(state, &stage_id) else {
                return Reply::status(200, "");
            };
            let context = stage["context"].as_object_mut().unwrap();
            for (k, v) in r.json().as_object().unwrap() {
                context.insert(k.clone(), v.clone());
            }
            context.insert("lastModifiedBy".into(), json!(user));
            stage["lastModified"] =
                json!({"user": user, "allowedAccounts": [], "lastModifiedTime": 1});
            state.judgment_pending = true;
            Reply::json(state.execution.clone())
        }
        _ => Reply::status(405, ""),
    }
}

fn stage_mut<'a>(state: &'a mut OrcaState, stage_id: &str) -> Option<&'a mut Value> {
    state.execution["stages"]
        .as_array_mut()?
        .iter_mut()
        .find(|s| s["id"] == stage_id)
}

fn run_judgment_task(state: &mut OrcaState) {
    let authorised = state.authorised.clone();
    for stage in state.execution["stages"].as_array_mut().unwrap() {
        if stage["type"] != "manualJudgment" || stage["status"] != "RUNNING" {
            continue;
        }
        let status = stage["context"]["judgmentStatus"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        if status.is_empty() {
            continue;
        }
        let user = stage["lastModified"]["user"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if authorised
            .as_ref()
            .is_some_and(|allowed| !allowed.contains(&user))
        {
            stage["context"]["judgmentStatus"] = json!("");
            continue;
        }
        stage["status"] = json!(if status == "continue" {
            "SUCCEEDED"
        } else {
            "TERMINAL"
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Fake Slack

/// How `users.info` answers for a user id.
#[derive(Clone)]
pub enum UserAnswer {
    Found(Value),
    SlackError(&'static str),
    HttpError(u16),
}

pub struct FakeSlack {
    pub server: FakeServer,
    pub users: Arc<Mutex<HashMap<String, UserAnswer>>>,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let users: Arc<Mutex<HashMap<String, UserAnswer>>> = Arc::default();
        let known = users.clone();
        let server = FakeServer::start(Arc::new(move |r: &Recorded| {
            slack_answer(&known.lock().unwrap(), r)
        }))
        .await;
        Self { server, users }
    }

    pub fn user(&self, id: &str, answer: UserAnswer) {
        self.users.lock().unwrap().insert(id.to_string(), answer);
    }

    /// A user whose profile has this e-mail.
    pub fn user_with_email(&self, id: &str, name: &str, email: Option<&str>) {
        let mut user: Value = serde_json::from_str(USERS_INFO_FIXTURE).unwrap();
        user["user"]["id"] = json!(id);
        user["user"]["name"] = json!(name);
        match email {
            Some(e) => user["user"]["profile"]["email"] = json!(e),
            None => {
                user["user"]["profile"]
                    .as_object_mut()
                    .unwrap()
                    .remove("email");
            }
        }
        self.user(id, UserAnswer::Found(user));
    }

    pub fn updates(&self) -> Vec<Value> {
        self.server
            .matching("POST", "/api/chat.update")
            .iter()
            .map(Recorded::json)
            .collect()
    }

    pub fn ephemerals(&self) -> Vec<Value> {
        self.server
            .matching("POST", "/api/chat.postEphemeral")
            .iter()
            .map(Recorded::json)
            .collect()
    }

    pub fn response_url_posts(&self) -> Vec<Recorded> {
        self.server.matching("POST", "/actions/")
    }

    pub fn users_info_calls(&self) -> Vec<Recorded> {
        self.server.matching("GET", "/api/users.info")
    }
}

fn slack_answer(users: &HashMap<String, UserAnswer>, r: &Recorded) -> Reply {
    match (r.method.as_str(), r.path()) {
        ("GET", "/api/users.info") => {
            match r.query("user").and_then(|id| users.get(&id).cloned()) {
                Some(UserAnswer::Found(v)) => Reply::json(v),
                Some(UserAnswer::SlackError(code)) => {
                    Reply::json(json!({"ok": false, "error": code}))
                }
                Some(UserAnswer::HttpError(status)) => Reply::status(status, ""),
                None => Reply::json(json!({"ok": false, "error": "user_not_found"})),
            }
        }
        ("POST", "/api/auth.test") => Reply::json(
            json!({"ok": true, "team_id": TEAM_ID, "user_id": "U0REVERB01", "team": "Example"}),
        ),
        ("POST", "/api/chat.update") => {
            let body = r.json();
            Reply::json(json!({"ok": true, "channel": body["channel"], "ts": body["ts"]}))
        }
        ("POST", "/api/chat.postEphemeral") => {
            Reply::json(json!({"ok": true, "message_ts": "1712570600.000100"}))
        }
        ("POST", p) if p.starts_with("/actions/") => Reply::status(200, "ok"),
        _ => Reply::json(json!({"ok": false, "error": "unknown_method"})),
    }
}

// ---------------------------------------------------------------------------------------------
// Harness

pub struct Options {
    pub identity_fallback: IdentityFallback,
    /// A fake Fiat answering every `GET /authorize/{user}` with this; `None`: Fiat off.
    pub fiat: Option<http::Handler>,
    pub orca_retry_for: Duration,
    pub readback_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            identity_fallback: IdentityFallback::None,
            fiat: None,
            orca_retry_for: Duration::from_secs(5),
            readback_timeout: Duration::from_secs(3),
        }
    }
}

pub struct Harness {
    pub fiat: Option<FakeServer>,
    pub orca: FakeOrca,
    pub slack: FakeSlack,
    pub keel: FakeServer,
    /// Keel answers 503 to this many callbacks before accepting them.
    pub keel_failures: Arc<AtomicUsize>,
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

impl Harness {
    /// The message updates Slack received, once there is at least one.
    pub async fn first_updates(&self) -> Vec<Value> {
        eventually("the message update", WAIT, || {
            let u = self.slack.updates();
            (!u.is_empty()).then_some(u)
        })
        .await
    }

    /// The ephemeral messages Slack received, once there is at least one.
    pub async fn first_ephemerals(&self) -> Vec<Value> {
        eventually("the private note", WAIT, || {
            let e = self.slack.ephemerals();
            (!e.is_empty()).then_some(e)
        })
        .await
    }

    pub async fn start(options: Options) -> Self {
        Self::with_execution(options, serde_json::from_str(EXECUTION_FIXTURE).unwrap()).await
    }

    pub async fn with_execution(options: Options, execution: Value) -> Self {
        install_crypto();
        let orca = FakeOrca::start(execution).await;
        let slack = FakeSlack::start().await;
        let keel_failures = Arc::new(AtomicUsize::new(0));
        let failures = keel_failures.clone();
        let keel = FakeServer::start(Arc::new(move |r: &Recorded| match r.path() {
            "/notifications/callback" => {
                let failing = failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if failing {
                    Reply::status(503, "")
                } else {
                    Reply::status(200, "ok")
                }
            }
            _ => Reply::status(404, ""),
        }))
        .await;
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let http = reqwest::Client::builder().build().unwrap();
        let app = SlackClient::new(
            http.clone(),
            SlackClientConfig {
                base_url: slack.server.url.clone(),
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
            DeliverySettings {
                response_url_base: slack.server.url.clone(),
                initial_backoff: Duration::from_millis(20),
                ..DeliverySettings::default()
            },
            DeliveryMetrics::register(&registry).unwrap(),
        )
        .await
        .unwrap();
        let keel_url = keel.url.clone();
        let mut settings = CallbackSettings::new(
            orca.server.url.clone(),
            "https://deck.example.com",
            test_key(),
        );
        settings.identity.fallback = options.identity_fallback;
        settings.identity.lookup_budget = Duration::from_secs(2);
        let fiat = match options.fiat {
            Some(handler) => Some(FakeServer::start(handler).await),
            None => None,
        };
        settings.fiat_base_url = fiat.as_ref().map(|f| f.url.clone());
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
            keel_failures,
            store,
            handler,
            registry,
        }
    }

    /// Record that Reverb posted the judgment message in the deploy channel.
    pub fn record_posted_message(&self) {
        let key = format!("judgment:{EXECUTION_ID}:1@deploy-approvals");
        let reference = MessageRef {
            channel_id: CHANNEL_ID.into(),
            ts: "1712570401.000300".into(),
        };
        self.store.record_ref(&key, &reference, now_ms()).unwrap();
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

/// Slack's form encoding (`*` as `%2A`; Java's URLEncoder would leave it literal).
pub fn slack_form_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// What arrives over HTTP for a payload: the body and its signature headers.
pub struct SignedRequest {
    pub body: Vec<u8>,
    pub timestamp: String,
    pub signature: String,
}

pub fn sign_payload(payload: &Value) -> SignedRequest {
    let body = format!("payload={}", slack_form_encode(&payload.to_string())).into_bytes();
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
