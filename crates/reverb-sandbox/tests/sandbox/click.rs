//! Clicks: payload shapes, Slack's body encoding and signature, response_url semantics.

use std::collections::BTreeSet;

use reverb_sandbox::{ClickRequest, FakeSlack, Recorder, SandboxError, sign, start_recorder};
use ring::hmac;
use serde_json::{Value, json};

use crate::support::{TOKEN, call_form, call_json, client, unlimited_slack};

const CALLBACK_PATH: &str = "/notifications/callbacks/slack";

async fn slack_with_recorder() -> (FakeSlack, Recorder) {
    let recorder = start_recorder(None).await.expect("recorder");
    let slack = unlimited_slack().await;
    slack.set_interactivity_url(Some(&format!("{}{CALLBACK_PATH}", recorder.base_url())));
    (slack, recorder)
}

fn judgment_blocks() -> Value {
    json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Approve production* for myapp / deploy-prod"}},
        {"type": "actions", "block_id": "judgment", "elements": [
            {"type": "static_select", "action_id": "judgment.input", "placeholder": {"type": "plain_text", "text": "Choose"},
             "options": [
                {"text": {"type": "plain_text", "text": "ship"}, "value": "ship"},
                {"text": {"type": "plain_text", "text": "hold"}, "value": "hold"}
             ]},
            {"type": "button", "action_id": "judgment.continue", "text": {"type": "plain_text", "text": "Approve", "emoji": true},
             "value": "01HTZ8Q5M3K7V2N9P4R6S8T0WX/01HTZ8Q5N1B4C6D8E0F2G4H6J8", "style": "primary"},
            {"type": "button", "action_id": "judgment.stop", "text": {"type": "plain_text", "text": "Reject", "emoji": true},
             "value": "01HTZ8Q5M3K7V2N9P4R6S8T0WX/01HTZ8Q5N1B4C6D8E0F2G4H6J8", "style": "danger"}
        ]}
    ])
}

async fn post_judgment(slack: &FakeSlack) -> String {
    let (_, answer) = call_json(
        slack,
        "chat.postMessage",
        &json!({"channel": "#deploy-approvals", "text": "Approve production is awaiting manual judgment", "blocks": judgment_blocks()}),
    )
    .await;
    answer["ts"].as_str().expect("ts").to_owned()
}

/// Verifies like a Slack app does: HMAC over `v0:{timestamp}:{raw body}`.
fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_part) = signature.strip_prefix("v0=") else {
        return false;
    };
    let Ok(expected) = (0..hex_part.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex_part[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let message = [b"v0:", timestamp.as_bytes(), b":", body].concat();
    hmac::verify(&key, &message, &expected).is_ok()
}

fn decode_payload(body: &[u8]) -> Value {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).expect("form");
    assert_eq!(fields.len(), 1, "a single form field");
    assert_eq!(fields[0].0, "payload");
    serde_json::from_str(&fields[0].1).expect("payload JSON")
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().expect("object").keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn block_actions_click_is_shaped_and_signed_like_slack() {
    let (slack, recorder) = slack_with_recorder().await;
    let ts = post_judgment(&slack).await;

    let response = slack
        .click("deploy-approvals", &ts, "judgment.continue", "U0JANE0001")
        .await
        .expect("click");
    assert_eq!(response.status().as_u16(), 200);

    let requests = recorder.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, CALLBACK_PATH);
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let timestamp = request
        .header("x-slack-request-timestamp")
        .expect("timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(timestamp.parse::<u64>().expect("secs").abs_diff(now) < 60);
    let signature = request.header("x-slack-signature").expect("signature");
    assert!(verify(
        slack.state().signing_secret(),
        timestamp,
        &request.body,
        signature
    ));
    assert!(!verify(
        "another-secret",
        timestamp,
        &request.body,
        signature
    ));

    // Slack's encoding: `*` as %2A, `/` escaped in the JSON (\/ → %5C%2F), spaces as `+`.
    let raw = request.body_text();
    assert!(raw.starts_with("payload=%7B%22"), "{raw}");
    assert!(raw.contains("%22type%22%3A%22block_actions%22"), "{raw}");
    assert!(
        !raw.contains('*') && raw.contains("%2AApprove+production%2A"),
        "{raw}"
    );
    assert!(raw.contains("%5C%2F"), "{raw}");

    let payload = decode_payload(&request.body);
    // Every key of Slack's `block_actions` payload (docs/echo-contract.md, "Payloads") is there.
    let fixture_keys: BTreeSet<String> = [
        "type",
        "user",
        "api_app_id",
        "token",
        "container",
        "trigger_id",
        "team",
        "enterprise",
        "is_enterprise_install",
        "channel",
        "message",
        "state",
        "response_url",
        "actions",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert!(fixture_keys.is_subset(&keys(&payload)), "{payload}");
    assert_eq!(payload["type"], "block_actions");
    assert_eq!(
        payload["user"],
        json!({"id": "U0JANE0001", "username": "jane", "name": "jane", "team_id": "T00000000"})
    );
    assert_eq!(
        payload["container"],
        json!({"type": "message", "message_ts": ts, "channel_id": "C0DEPLOY01", "is_ephemeral": false})
    );
    assert_eq!(
        payload["channel"],
        json!({"id": "C0DEPLOY01", "name": "deploy-approvals"})
    );
    assert_eq!(payload["message"]["ts"], ts.as_str());
    assert_eq!(payload["message"]["blocks"], judgment_blocks());
    let action = &payload["actions"][0];
    assert_eq!(action["action_id"], "judgment.continue");
    assert_eq!(action["block_id"], "judgment");
    assert_eq!(action["type"], "button");
    assert_eq!(action["style"], "primary");
    assert_eq!(
        action["value"],
        "01HTZ8Q5M3K7V2N9P4R6S8T0WX/01HTZ8Q5N1B4C6D8E0F2G4H6J8"
    );
    assert_eq!(
        action["text"],
        json!({"type": "plain_text", "text": "Approve", "emoji": true})
    );
    assert!(
        action["action_ts"]
            .as_str()
            .is_some_and(crate::support::is_slack_ts)
    );
    assert_eq!(
        payload["state"]["values"]["judgment"]["judgment.input"]["selected_option"],
        Value::Null
    );
    let response_url = payload["response_url"].as_str().expect("response_url");
    assert!(
        response_url.starts_with("https://hooks.slack.com/actions/T00000000/"),
        "{response_url}"
    );

    // The same request signed by hand with the public helper.
    assert_eq!(
        sign(
            slack.state().signing_secret(),
            timestamp.parse().expect("ts"),
            &request.body
        ),
        signature
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn response_url_replaces_or_answers_ephemerally_and_wears_out() {
    let (slack, recorder) = slack_with_recorder().await;
    let ts = post_judgment(&slack).await;
    slack
        .click("#deploy-approvals", &ts, "Reject", "U0JOHN0001")
        .await
        .expect("click");
    let payload = decode_payload(&recorder.requests()[0].body);
    assert_eq!(
        payload["actions"][0]["action_id"], "judgment.stop",
        "matched by label"
    );
    let response_url = slack.local_url(payload["response_url"].as_str().expect("url"));
    let http = client();

    // Block Kit: without replace_original a post is a new ephemeral message for the clicker.
    let answer = http
        .post(&response_url)
        .json(&json!({"text": "Working on it"}))
        .send()
        .await
        .expect("post");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        slack.ephemerals("deploy-approvals")[0]
            .visible_to
            .as_deref(),
        Some("U0JOHN0001")
    );
    assert_eq!(slack.posted("deploy-approvals").len(), 1);

    let replaced = json!({"replace_original": true, "text": "Rejected by <@U0JOHN0001>",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Rejected by <@U0JOHN0001>"}}]});
    http.post(&response_url)
        .json(&replaced)
        .send()
        .await
        .expect("post");
    let message = &slack.posted("deploy-approvals")[0];
    assert_eq!(message.ts, ts);
    assert_eq!(message.text, "Rejected by <@U0JOHN0001>");
    assert_eq!(message.edit_count, 1);
    assert!(!message.all_text().contains("Approve"));

    http.post(&response_url)
        .json(&json!({"response_type": "in_channel", "text": "FYI"}))
        .send()
        .await
        .expect("post");
    assert_eq!(slack.posted("deploy-approvals").len(), 2);
    for _ in 0..2 {
        http.post(&response_url)
            .json(&json!({"text": "again"}))
            .send()
            .await
            .expect("post");
    }
    let worn = http
        .post(&response_url)
        .json(&json!({"text": "sixth"}))
        .send()
        .await
        .expect("post");
    assert_eq!(worn.status().as_u16(), 404);
    assert_eq!(
        worn.json::<Value>().await.expect("json")["error"],
        "used_url"
    );
    let calls = slack.calls_to("response_url");
    assert_eq!(calls.len(), 6);
    assert_eq!(calls[5].status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_attachment_button_gives_interactive_message_and_echo_style_replace() {
    let (slack, recorder) = slack_with_recorder().await;
    // What Echo posts for Keel's interactive notification (form, token field, attachments string).
    let attachments = json!([{
        "title": "Manual artifact promotion approval",
        "text": "Manual approval required to deploy *myapp*",
        "fallback": "Manual approval required",
        "color": "fcba03",
        "callback_id": "keel:01DYNYK94DE4901K9P802DB4ZT",
        "actions": [
            {"type": "button", "name": "manual-judgement", "text": "Approve", "value": "OVERRIDE_PASS"},
            {"type": "button", "name": "manual-judgement", "text": "Reject", "value": "OVERRIDE_FAIL"}
        ],
        "footer": "Spinnaker",
        "mrkdwn_in": ["text"]
    }])
    .to_string();
    let (_, answer) = call_form(
        &slack,
        "chat.postMessage",
        &[
            ("token", TOKEN),
            ("attachments", &attachments),
            ("channel", "my-team"),
            ("as_user", "true"),
        ],
    )
    .await;
    let ts = answer["ts"].as_str().expect("ts").to_owned();

    slack
        .click("my-team", &ts, "OVERRIDE_PASS", "U0JOHN0001")
        .await
        .expect("click");
    let request = &recorder.requests()[0];
    let payload = decode_payload(&request.body);
    // Keys of Slack's `interactive_message` payload (docs/echo-contract.md, "Payloads").
    for key in [
        "type",
        "actions",
        "callback_id",
        "team",
        "channel",
        "user",
        "action_ts",
        "message_ts",
        "attachment_id",
        "token",
        "is_app_unfurl",
        "original_message",
        "response_url",
        "trigger_id",
    ] {
        assert!(payload.get(key).is_some(), "missing {key}: {payload}");
    }
    assert_eq!(payload["type"], "interactive_message");
    assert_eq!(
        payload["actions"],
        json!([{"name": "manual-judgement", "type": "button", "value": "OVERRIDE_PASS"}])
    );
    assert_eq!(payload["callback_id"], "keel:01DYNYK94DE4901K9P802DB4ZT");
    assert_eq!(
        payload["user"],
        json!({"id": "U0JOHN0001", "name": "john.doe"})
    );
    assert_eq!(payload["attachment_id"], "1");
    assert_eq!(payload["message_ts"], ts.as_str());
    let original = &payload["original_message"];
    assert_eq!(original["subtype"], "bot_message");
    assert_eq!(original["attachments"][0]["id"], 1);
    assert_eq!(original["attachments"][0]["actions"][1]["id"], "2");
    assert!(verify(
        slack.state().signing_secret(),
        request.header("x-slack-request-timestamp").expect("ts"),
        &request.body,
        request.header("x-slack-signature").expect("sig"),
    ));

    // Echo's rewrite: the original minus actions, text suffixed, no replace_original key.
    let mut rewritten = original.clone();
    rewritten["attachments"][0]
        .as_object_mut()
        .expect("object")
        .remove("actions");
    rewritten["attachments"][0]["text"] = json!(
        "Manual approval required to deploy *myapp*\n\nUser <@U0JOHN0001> clicked the *Approve* action."
    );
    let response_url = slack.local_url(payload["response_url"].as_str().expect("url"));
    client()
        .post(response_url)
        .json(&rewritten)
        .send()
        .await
        .expect("post");
    let message = &slack.posted("my-team")[0];
    assert_eq!(
        message.edit_count, 1,
        "legacy messages are replaced by default"
    );
    assert!(message.all_text().contains("clicked the *Approve* action"));
    assert!(
        message.attachments.as_ref().expect("attachments")[0]
            .get("actions")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn menus_and_prior_selections_appear_in_the_payload() {
    let (slack, recorder) = slack_with_recorder().await;
    let ts = post_judgment(&slack).await;
    slack
        .click_with(
            ClickRequest::new("deploy-approvals", &ts, "judgment.continue", "U0JANE0001")
                .with_option("ship"),
        )
        .await
        .expect("click");
    slack
        .click_with(
            ClickRequest::new("deploy-approvals", &ts, "judgment.input", "U0JANE0001")
                .with_option("hold"),
        )
        .await
        .expect("select");
    let requests = recorder.requests();
    let button = decode_payload(&requests[0].body);
    assert_eq!(
        button["state"]["values"]["judgment"]["judgment.input"]["selected_option"]["value"],
        "ship"
    );
    let menu = decode_payload(&requests[1].body);
    assert_eq!(menu["actions"][0]["type"], "static_select");
    assert_eq!(menu["actions"][0]["selected_option"]["value"], "hold");

    let missing = slack.build_click(&ClickRequest::new(
        "deploy-approvals",
        &ts,
        "judgment.input",
        "U0JANE0001",
    ));
    assert!(matches!(missing, Err(SandboxError::OptionRequired(_))));
    let bad = slack.build_click(
        &ClickRequest::new("deploy-approvals", &ts, "judgment.continue", "U0JANE0001")
            .with_option("yolo"),
    );
    assert!(matches!(bad, Err(SandboxError::OptionNotFound { .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn click_errors_and_overrides() {
    let (slack, recorder) = slack_with_recorder().await;
    let ts = post_judgment(&slack).await;
    assert!(matches!(
        slack
            .click("deploy-approvals", &ts, "nope", "U0JANE0001")
            .await,
        Err(SandboxError::ActionNotFound { .. })
    ));
    assert!(matches!(
        slack
            .click(
                "deploy-approvals",
                "1.000000",
                "judgment.continue",
                "U0JANE0001"
            )
            .await,
        Err(SandboxError::MessageNotFound { .. })
    ));
    assert!(matches!(
        slack
            .click("deploy-approvals", &ts, "judgment.continue", "U0NOBODY00")
            .await,
        Err(SandboxError::UserNotFound(_))
    ));

    let stale = ClickRequest::new("deploy-approvals", &ts, "judgment.continue", "U0MALLORY1")
        .at_timestamp(1_531_420_618)
        .signed_with("wrong-secret");
    let built = slack.build_click(&stale).expect("built");
    assert_eq!(built.timestamp, 1_531_420_618);
    assert_eq!(
        built.signature,
        sign("wrong-secret", 1_531_420_618, built.body.as_bytes())
    );
    slack.click_with(stale).await.expect("sent");
    assert_eq!(
        recorder.requests()[0].header("x-slack-request-timestamp"),
        Some("1531420618")
    );

    slack.set_interactivity_url(None);
    assert!(matches!(
        slack
            .click("deploy-approvals", &ts, "judgment.continue", "U0JANE0001")
            .await,
        Err(SandboxError::NoInteractivityUrl)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_click_route_reports_reverbs_answer() {
    let (slack, recorder) = slack_with_recorder().await;
    recorder.respond(CALLBACK_PATH, 200, "", "text/plain");
    let ts = post_judgment(&slack).await;
    let answer: Value = client()
        .post(format!("{}/_sandbox/click", slack.base_url()))
        .json(&json!({"channel": "C0DEPLOY01", "ts": ts, "action": "judgment.stop", "user": "U0JANE0001"}))
        .send()
        .await
        .expect("click")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["status"], 200);
    assert_eq!(
        answer["payload"]["actions"][0]["action_id"],
        "judgment.stop"
    );
    assert_eq!(recorder.requests().len(), 1);

    let missing = client()
        .post(format!("{}/_sandbox/click", slack.base_url()))
        .json(&json!({"channel": "C0DEPLOY01", "ts": "1.000000", "action": "judgment.stop", "user": "U0JANE0001"}))
        .send()
        .await
        .expect("click");
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clickers_team_and_the_workspace_are_told_apart() {
    let (slack, recorder) = slack_with_recorder().await;
    let ts = post_judgment(&slack).await;
    slack
        .click("deploy-approvals", &ts, "judgment.continue", "U0EXTERN01")
        .await
        .expect("click");
    let payload = decode_payload(&recorder.requests()[0].body);
    assert_eq!(
        payload["user"],
        json!({"id": "U0EXTERN01", "username": "extern", "name": "extern", "team_id": "T0OTHER001"})
    );
    assert_eq!(
        payload["team"],
        json!({"id": "T00000000", "domain": "example"})
    );
    assert_eq!(payload["enterprise"], Value::Null);
    assert_eq!(payload["is_enterprise_install"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_team_value_and_message_binding_are_signed_like_real_clicks() {
    let (slack, recorder) = slack_with_recorder().await;
    let ts = post_judgment(&slack).await;
    let (_, other) = call_json(
        &slack,
        "chat.postMessage",
        &json!({"channel": "#deploys", "text": "another message"}),
    )
    .await;
    let other_ts = other["ts"].as_str().expect("ts").to_owned();
    let request = ClickRequest::new("deploy-approvals", &ts, "judgment.continue", "U0JANE0001")
        .from_team("T0EVIL0001")
        .with_value("01HFORGEDEXECUTION000000000/01HFORGEDSTAGE")
        .claiming_message("#deploys", &other_ts);
    let response = slack.click_with(request).await.expect("click");
    assert_eq!(response.status().as_u16(), 200);
    let sent = &recorder.requests()[0];
    assert!(verify(
        slack.state().signing_secret(),
        sent.header("x-slack-request-timestamp").expect("ts"),
        &sent.body,
        sent.header("x-slack-signature").expect("sig"),
    ));
    let payload = decode_payload(&sent.body);
    assert_eq!(payload["team"]["id"], "T0EVIL0001");
    assert_eq!(payload["user"]["team_id"], "T00000000");
    assert_eq!(
        payload["actions"][0]["value"],
        "01HFORGEDEXECUTION000000000/01HFORGEDSTAGE"
    );
    assert_eq!(payload["actions"][0]["action_id"], "judgment.continue");
    assert_eq!(
        payload["container"],
        json!({"type": "message", "message_ts": other_ts, "channel_id": "C0DEPLOYS01", "is_ephemeral": false})
    );
    assert_eq!(
        payload["channel"],
        json!({"id": "C0DEPLOYS01", "name": "deploys"})
    );
    assert_eq!(payload["message"]["ts"], other_ts.as_str());
    assert_eq!(
        payload["message"]["blocks"],
        judgment_blocks(),
        "the buttons are those of the message clicked"
    );

    // An unknown claimed channel is sent as given.
    let built = slack
        .build_click(
            &ClickRequest::new("deploy-approvals", &ts, "judgment.stop", "U0JANE0001")
                .claiming_message("C0NOWHERE01", "1.000001"),
        )
        .expect("built");
    assert_eq!(built.payload["container"]["channel_id"], "C0NOWHERE01");
    assert_eq!(built.payload["channel"]["id"], "C0NOWHERE01");
    assert_eq!(built.payload["container"]["message_ts"], "1.000001");

    // Slack bound the response_url to the message really clicked.
    let response_url = slack.local_url(payload["response_url"].as_str().expect("url"));
    client()
        .post(response_url)
        .json(&json!({"replace_original": true, "text": "replaced"}))
        .send()
        .await
        .expect("post");
    assert_eq!(slack.posted("deploy-approvals")[0].text, "replaced");
    assert_eq!(slack.posted("deploys")[0].text, "another message");
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_clicks_carry_the_enterprise_fields_and_take_the_same_overrides() {
    let (slack, _recorder) = slack_with_recorder().await;
    let attachments = json!([{
        "text": "Manual approval required", "fallback": "approval", "callback_id": "keel:1",
        "actions": [{"type": "button", "name": "manual-judgement", "text": "Approve", "value": "OVERRIDE_PASS"}]
    }])
    .to_string();
    let (_, answer) = call_form(
        &slack,
        "chat.postMessage",
        &[
            ("token", TOKEN),
            ("attachments", &attachments),
            ("channel", "deploys"),
        ],
    )
    .await;
    let ts = answer["ts"].as_str().expect("ts").to_owned();
    let plain = slack
        .build_click(&ClickRequest::new(
            "deploys",
            &ts,
            "OVERRIDE_PASS",
            "U0JOHN0001",
        ))
        .expect("built");
    assert_eq!(plain.payload["enterprise"], Value::Null);
    assert_eq!(plain.payload["is_enterprise_install"], false);
    assert_eq!(plain.payload["team"]["id"], "T00000000");
    assert_eq!(plain.payload["message_ts"], ts.as_str());
    assert_eq!(plain.payload["original_message"]["ts"], ts.as_str());

    let forged = slack
        .build_click(
            &ClickRequest::new("deploys", &ts, "OVERRIDE_PASS", "U0JOHN0001")
                .from_team("T0EVIL0001")
                .with_value("OVERRIDE_FAIL")
                .claiming_message("general", "1712570401.000300"),
        )
        .expect("built");
    assert_eq!(forged.payload["team"]["id"], "T0EVIL0001");
    assert_eq!(forged.payload["actions"][0]["value"], "OVERRIDE_FAIL");
    assert_eq!(forged.payload["message_ts"], "1712570401.000300");
    assert_eq!(
        forged.payload["channel"],
        json!({"id": "C0GENERAL01", "name": "general"})
    );
    assert_eq!(
        forged.payload["original_message"]["ts"],
        "1712570401.000300"
    );
    assert_eq!(
        forged.payload["original_message"]["attachments"][0]["callback_id"],
        "keel:1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_click_route_takes_the_overrides_too() {
    let (slack, recorder) = slack_with_recorder().await;
    let ts = post_judgment(&slack).await;
    let answer: Value = client()
        .post(format!("{}/_sandbox/click", slack.base_url()))
        .json(&json!({"channel": "C0DEPLOY01", "ts": ts, "action": "judgment.stop", "user": "U0JANE0001",
                      "team": "T0EVIL0001", "value": "forged", "claimTs": "1.000002"}))
        .send()
        .await
        .expect("click")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["ok"], true, "{answer}");
    let payload = decode_payload(&recorder.requests()[0].body);
    assert_eq!(payload["team"]["id"], "T0EVIL0001");
    assert_eq!(payload["actions"][0]["value"], "forged");
    assert_eq!(payload["container"]["message_ts"], "1.000002");
    assert_eq!(payload["container"]["channel_id"], "C0DEPLOY01");
}
