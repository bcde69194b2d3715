//! The fake Slack's Web API: envelope, errors, token styles, edits, users, faults, webhooks.

use std::time::Duration;

use reverb_sandbox::slack::WEBHOOK_TOKEN;
use reverb_sandbox::{Failure, SlackAuth};
use serde_json::{Value, json};

use crate::support::{
    TOKEN, call_form, call_json, client, is_slack_ts, post_text, unlimited_slack,
};

#[tokio::test(flavor = "multi_thread")]
async fn post_message_answers_slacks_envelope_and_is_recorded() {
    let slack = unlimited_slack().await;
    let (status, answer) = post_text(&slack, "#deploys", "hello").await;
    assert_eq!(status, 200);
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["channel"], "C0DEPLOYS01");
    let ts = answer["ts"].as_str().expect("ts");
    assert!(is_slack_ts(ts), "{ts}");
    assert_eq!(answer["message"]["text"], "hello");
    assert_eq!(answer["message"]["ts"], ts);

    let posted = slack.posted("deploys");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].ts, ts);
    assert_eq!(slack.posted("C0DEPLOYS01"), posted);
    assert_eq!(slack.posted("#deploys"), posted);

    let calls = slack.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "chat.postMessage");
    assert_eq!(calls[0].auth, Some(SlackAuth::Bearer(TOKEN.into())));
    assert_eq!(
        calls[0].content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        calls[0].args,
        json!({"channel": "#deploys", "text": "hello"})
    );
    assert_eq!(calls[0].status, 200);
    assert_eq!(calls[0].ok(), Some(true));
    assert!(calls[0].received_at_system <= std::time::SystemTime::now());
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_style_form_with_token_field_and_attachments_json_string() {
    let slack = unlimited_slack().await;
    let attachments = r##"[ {
  "title" : "Stage failed for MYAPP",
  "text" : "Whatever's pipeline has failed",
  "fallback" : "Whatever's pipeline has failed",
  "color" : "#B82525",
  "callback_id" : null,
  "actions" : [ ],
  "footer" : "Spinnaker",
  "mrkdwn_in" : [ "text" ]
} ]"##;
    let (status, answer) = call_form(
        &slack,
        "chat.postMessage",
        &[
            ("token", TOKEN),
            ("attachments", attachments),
            ("channel", "deploy-approvals"),
            ("as_user", "true"),
            ("link_names", "0"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["channel"], "C0DEPLOY01");

    let call = &slack.calls()[0];
    assert_eq!(call.auth, Some(SlackAuth::FormToken(TOKEN.into())));
    assert_eq!(
        call.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        call.args["attachments"][0]["title"],
        "Stage failed for MYAPP"
    );
    assert_eq!(call.arg_str("as_user"), Some("true"));

    let posted = slack.posted("#deploy-approvals");
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0].attachments.as_ref().expect("attachments")[0]["color"],
        "#B82525"
    );
    assert!(
        posted[0]
            .all_text()
            .contains("Whatever's pipeline has failed")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_info_by_get_with_query_token_matches_the_fixture() {
    let slack = unlimited_slack().await;
    let response = client()
        .get(format!(
            "{}/api/users.info?token={TOKEN}&user=U0JANE0001",
            slack.base_url()
        ))
        .send()
        .await
        .expect("request");
    let answer: Value = response.json().await.expect("json");
    // `users.info` as Slack answers it, role flags and `profile.team` too (docs/echo-contract.md).
    let fixture = json!({
      "ok": true,
      "user": {
        "id": "U0JANE0001", "team_id": "T00000000", "name": "jane", "deleted": false, "real_name": "Jane Doe",
        "is_admin": false, "is_owner": false, "is_primary_owner": false,
        "is_restricted": false, "is_ultra_restricted": false,
        "is_bot": false, "is_app_user": false, "has_2fa": true,
        "profile": {"real_name": "Jane Doe", "display_name": "jane", "email": "jane@example.com", "team": "T00000000"}
      }
    });
    assert_eq!(answer, fixture);
    assert_eq!(
        slack.calls()[0].auth,
        Some(SlackAuth::QueryToken(TOKEN.into()))
    );

    let (_, missing) = call_form(
        &slack,
        "users.info",
        &[("token", TOKEN), ("user", "U0NOBODY00")],
    )
    .await;
    assert_eq!(missing, json!({"ok": false, "error": "user_not_found"}));
    let (_, no_email) = call_form(
        &slack,
        "users.info",
        &[("token", TOKEN), ("user", "U0NOEMAIL1")],
    )
    .await;
    assert_eq!(no_email["ok"], true);
    assert!(no_email["user"]["profile"].get("email").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn users_lookup_by_email() {
    let slack = unlimited_slack().await;
    let (_, john) = call_form(
        &slack,
        "users.lookupByEmail",
        &[("token", TOKEN), ("email", "john@doe.com")],
    )
    .await;
    assert_eq!(john["user"]["id"], "U0JOHN0001");
    assert_eq!(john["user"]["name"], "john.doe");
    let (_, mallory) = call_form(
        &slack,
        "users.lookupByEmail",
        &[("token", TOKEN), ("email", "Mallory@Example.com")],
    )
    .await;
    assert_eq!(mallory["user"]["id"], "U0MALLORY1");
    let (_, nobody) = call_form(
        &slack,
        "users.lookupByEmail",
        &[("token", TOKEN), ("email", "nobody@example.com")],
    )
    .await;
    assert_eq!(nobody, json!({"ok": false, "error": "users_not_found"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_bad_tokens_are_refused_with_http_200() {
    let slack = unlimited_slack().await;
    let (status, answer) = call_form(
        &slack,
        "chat.postMessage",
        &[("channel", "general"), ("text", "x")],
    )
    .await;
    assert_eq!(
        (status, answer),
        (200, json!({"ok": false, "error": "not_authed"}))
    );
    let (_, answer) = call_form(
        &slack,
        "chat.postMessage",
        &[("token", "bogus"), ("channel", "general"), ("text", "x")],
    )
    .await;
    assert_eq!(answer, json!({"ok": false, "error": "invalid_auth"}));
    // A JSON body cannot carry the token.
    let response = client()
        .post(format!("{}/api/chat.postMessage", slack.base_url()))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(json!({"token": TOKEN, "channel": "general", "text": "x"}).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"ok": false, "error": "not_authed"})
    );
    assert!(slack.posted("general").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn channel_resolution_and_destination_errors() {
    let slack = unlimited_slack().await;
    let (_, answer) = post_text(&slack, "#does-not-exist", "x").await;
    assert_eq!(answer, json!({"ok": false, "error": "channel_not_found"}));
    let (_, answer) = post_text(&slack, "archived", "x").await;
    assert_eq!(answer["error"], "is_archived");
    let (_, answer) = post_text(&slack, "#private-noinvite", "x").await;
    assert_eq!(answer["error"], "not_in_channel");
    let (_, answer) = post_text(&slack, "C0UNKNOWN01", "x").await;
    assert_eq!(answer["error"], "channel_not_found");

    let (_, dm) = post_text(&slack, "U0JANE0001", "psst").await;
    assert_eq!(dm["channel"], "D0JANE0001");
    assert_eq!(slack.posted("U0JANE0001")[0].text, "psst");

    let (_, created) = post_text(&slack, "#team-rocket", "auto").await;
    assert_eq!(created["ok"], true);
    let id = created["channel"].as_str().expect("id");
    assert!(id.starts_with('C'));
    assert_eq!(slack.posted("team-rocket")[0].channel, id);

    let (_, thread) = call_json(
        &slack,
        "chat.postMessage",
        &json!({"channel": "general", "text": "root"}),
    )
    .await;
    let root = thread["ts"].as_str().expect("ts");
    call_json(
        &slack,
        "chat.postMessage",
        &json!({"channel": "general", "text": "reply", "thread_ts": root}),
    )
    .await;
    let posted = slack.posted("general");
    assert_eq!(posted[0].thread_ts, None);
    assert_eq!(posted[1].thread_ts.as_deref(), Some(root));
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_update_needs_the_channel_id_and_applies_edits() {
    let slack = unlimited_slack().await;
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*waiting*"}}]);
    let (_, posted) = call_json(
        &slack,
        "chat.postMessage",
        &json!({"channel": "#deploy-approvals", "text": "waiting", "blocks": blocks}),
    )
    .await;
    let ts = posted["ts"].as_str().expect("ts").to_owned();

    let (_, by_name) = call_json(
        &slack,
        "chat.update",
        &json!({"channel": "#deploy-approvals", "ts": ts, "text": "x"}),
    )
    .await;
    assert_eq!(by_name, json!({"ok": false, "error": "channel_not_found"}));
    let (_, wrong_ts) = call_json(
        &slack,
        "chat.update",
        &json!({"channel": "C0DEPLOY01", "ts": "1.000001", "text": "x"}),
    )
    .await;
    assert_eq!(wrong_ts, json!({"ok": false, "error": "message_not_found"}));

    let (_, updated) = call_json(
        &slack,
        "chat.update",
        &json!({"channel": "C0DEPLOY01", "ts": ts, "text": "approved"}),
    )
    .await;
    assert_eq!(updated["ok"], true);
    assert_eq!(updated["channel"], "C0DEPLOY01");
    assert_eq!(updated["ts"], ts.as_str());
    let message = &slack.posted("deploy-approvals")[0];
    assert_eq!(message.text, "approved");
    assert_eq!(message.edit_count, 1);
    // Omitted blocks are kept...
    assert_eq!(message.blocks.as_ref(), Some(&blocks));
    // ...an empty list removes them.
    call_json(
        &slack,
        "chat.update",
        &json!({"channel": "C0DEPLOY01", "ts": ts, "blocks": []}),
    )
    .await;
    let message = &slack.posted("deploy-approvals")[0];
    assert_eq!(message.blocks, None);
    assert_eq!(message.edit_count, 2);
    assert_eq!(slack.posted("deploy-approvals").len(), 1);

    let long = "x".repeat(4001);
    let (_, too_long) = call_json(
        &slack,
        "chat.update",
        &json!({"channel": "C0DEPLOY01", "ts": ts, "text": long}),
    )
    .await;
    assert_eq!(too_long["error"], "msg_too_long");
}

#[tokio::test(flavor = "multi_thread")]
async fn content_errors_and_the_charset_warning() {
    let slack = unlimited_slack().await;
    let (_, empty) = call_json(&slack, "chat.postMessage", &json!({"channel": "general"})).await;
    assert_eq!(empty["error"], "no_text");
    let long_section =
        json!([{"type": "section", "text": {"type": "mrkdwn", "text": "a".repeat(3001)}}]);
    let (_, invalid) = call_json(
        &slack,
        "chat.postMessage",
        &json!({"channel": "general", "text": "t", "blocks": long_section}),
    )
    .await;
    assert_eq!(invalid["error"], "invalid_blocks");
    assert_eq!(
        invalid["response_metadata"]["messages"],
        json!(["[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"])
    );

    let response = client()
        .post(format!("{}/api/chat.postMessage", slack.base_url()))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(json!({"channel": "general", "text": "no charset"}).to_string())
        .send()
        .await
        .expect("request");
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["warning"], "missing_charset");
    assert_eq!(
        answer["response_metadata"]["warnings"],
        json!(["missing_charset"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn other_methods_auth_test_conversations_and_ephemeral() {
    let slack = unlimited_slack().await;
    let (_, auth) = call_form(&slack, "auth.test", &[("token", TOKEN)]).await;
    assert_eq!(auth["ok"], true);
    assert_eq!(auth["user_id"], "U0REVERB01");
    assert_eq!(auth["team_id"], "T00000000");
    let (_, info) = call_form(
        &slack,
        "conversations.info",
        &[("token", TOKEN), ("channel", "C0ALERTS01")],
    )
    .await;
    assert_eq!(info["channel"]["name"], "alerts");
    let (_, by_name) = call_form(
        &slack,
        "conversations.info",
        &[("token", TOKEN), ("channel", "alerts")],
    )
    .await;
    assert_eq!(by_name["error"], "channel_not_found");
    let (_, ephemeral) = call_json(
        &slack,
        "chat.postEphemeral",
        &json!({"channel": "C0DEPLOY01", "user": "U0MALLORY1", "text": "not allowed"}),
    )
    .await;
    assert_eq!(ephemeral["ok"], true);
    assert!(ephemeral["message_ts"].is_string());
    assert!(slack.posted("deploy-approvals").is_empty());
    let ephemerals = slack.ephemerals("deploy-approvals");
    assert_eq!(ephemerals[0].visible_to.as_deref(), Some("U0MALLORY1"));
    let (_, unknown) = call_form(&slack, "chat.scheduleMessage", &[("token", TOKEN)]).await;
    assert_eq!(unknown["error"], "unknown_method");
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_next_http_error_slack_error_and_delay() {
    let slack = unlimited_slack().await;
    slack.fail_next("chat.postMessage", 2, Failure::Http(503));
    slack.fail_next(
        "chat.postMessage",
        1,
        Failure::slack_error("internal_error"),
    );
    slack.fail_next("users.info", 1, Failure::Http(500));

    for _ in 0..2 {
        let response = client()
            .post(format!("{}/api/chat.postMessage", slack.base_url()))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .json(&json!({"channel": "general", "text": "x"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 503);
    }
    let (status, answer) = post_text(&slack, "general", "x").await;
    assert_eq!(
        (status, answer),
        (200, json!({"ok": false, "error": "internal_error"}))
    );
    assert!(slack.posted("general").is_empty(), "faults have no effect");
    let (_, ok) = post_text(&slack, "general", "finally").await;
    assert_eq!(ok["ok"], true);
    let statuses: Vec<u16> = slack
        .calls_to("chat.postMessage")
        .iter()
        .map(|call| call.status)
        .collect();
    assert_eq!(statuses, vec![503, 503, 200, 200]);

    // A delayed answer: the client gives up, but the message was posted (like a real timeout).
    slack.fail_next(
        "chat.postMessage",
        1,
        Failure::Delay(Duration::from_millis(1500)),
    );
    let impatient = client()
        .post(format!("{}/api/chat.postMessage", slack.base_url()))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .json(&json!({"channel": "general", "text": "slow"}))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(impatient.expect_err("client timeout").is_timeout());
    assert_eq!(
        slack.posted("general").last().map(|m| m.text.clone()),
        Some("slow".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn incoming_webhook_answers_plain_ok() {
    let slack = unlimited_slack().await;
    let response = client()
        .post(format!("{}/{WEBHOOK_TOKEN}", slack.webhook_base_url()))
        .json(&json!({"attachments": [{"text": "deployed", "color": "#769D3E"}], "channel": "#deploys"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("text"), "ok");
    let posted = slack.posted("deploys");
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0].attachments.as_ref().expect("attachments")[0]["text"],
        "deployed"
    );
    let call = &slack.calls()[0];
    assert_eq!(call.method, "webhook");
    assert_eq!(call.path, format!("/services/{WEBHOOK_TOKEN}"));

    let empty = client()
        .post(format!("{}/{WEBHOOK_TOKEN}", slack.webhook_base_url()))
        .json(&json!({"channel": "#deploys"}))
        .send()
        .await
        .expect("request");
    assert_eq!(empty.status().as_u16(), 400);
    assert_eq!(empty.text().await.expect("text"), "no_text");
}

#[tokio::test(flavor = "multi_thread")]
async fn control_api_faults_stats_messages_and_reset() {
    let slack = unlimited_slack().await;
    let http = client();
    let base = slack.base_url();
    let queued: Value = http
        .post(format!("{base}/_sandbox/faults"))
        .json(&json!({"method": "chat.postMessage", "times": 1, "error": "fatal_error"}))
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    assert_eq!(queued["queued"], 1);
    let (_, failed) = post_text(&slack, "alerts", "x").await;
    assert_eq!(failed["error"], "fatal_error");
    let (_, ok) = post_text(&slack, "alerts", "fire").await;
    assert_eq!(ok["ok"], true);

    let stats: Value = http
        .get(format!("{base}/_sandbox/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats, json!({"calls": 2, "rateLimited": 0}));
    let calls: Value = http
        .get(format!("{base}/_sandbox/calls"))
        .send()
        .await
        .expect("calls")
        .json()
        .await
        .expect("json");
    assert_eq!(calls[1]["method"], "chat.postMessage");
    assert_eq!(calls[1]["auth"], json!({"style": "bearer", "token": TOKEN}));
    assert!(calls[1]["receivedAtMs"].as_i64().is_some_and(|ms| ms > 0));
    let messages: Value = http
        .get(format!("{base}/_sandbox/channels/C0ALERTS01/messages"))
        .send()
        .await
        .expect("messages")
        .json()
        .await
        .expect("json");
    assert_eq!(messages["messages"][0]["text"], "fire");
    let channels: Value = http
        .get(format!("{base}/_sandbox/channels"))
        .send()
        .await
        .expect("channels")
        .json()
        .await
        .expect("json");
    assert!(
        channels
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["channel"]["id"] == "C0DEPLOY01")
    );

    let limited = http
        .post(format!("{base}/_sandbox/rate-limit"))
        .json(&json!({"perSec": 1, "burst": 1}))
        .send()
        .await
        .expect("rate-limit");
    assert_eq!(limited.status().as_u16(), 200);
    post_text(&slack, "alerts", "one").await;
    let (status, _) = post_text(&slack, "alerts", "two").await;
    assert_eq!(status, 429);

    http.post(format!("{base}/_sandbox/reset"))
        .send()
        .await
        .expect("reset");
    assert!(slack.calls().is_empty());
    assert!(slack.posted("alerts").is_empty());
    assert_eq!(slack.rate_limited_count(), 0);
}
