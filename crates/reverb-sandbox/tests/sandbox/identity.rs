//! The fake Slack's identity details: auth.test and its scopes, users.info's user objects for
//! every kind of seed user, the e-mail scope, and users.info's failure modes.

use reverb_sandbox::slack::{DEFAULT_SCOPES, OTHER_TEAM_ID};
use reverb_sandbox::{Failure, FakeSlack, FakeSlackConfig, SlackUser, start_fake_slack};
use serde_json::{Value, json};

use crate::support::{TOKEN, call_form, client, unlimited_slack};

/// `(status, response headers, JSON body)` of a form-encoded Web API call.
async fn call_with_headers(
    slack: &FakeSlack,
    method: &str,
    fields: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = client()
        .post(format!("{}/api/{method}", slack.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(serde_urlencoded::to_string(fields).expect("form"))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("json"))
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

async fn user(slack: &FakeSlack, id: &str) -> Value {
    let (_, answer) = call_form(slack, "users.info", &[("token", TOKEN), ("user", id)]).await;
    assert_eq!(answer["ok"], true, "{id}: {answer}");
    answer["user"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_test_answers_like_slack_with_the_granted_scopes() {
    let slack = unlimited_slack().await;
    let (status, headers, answer) = call_with_headers(&slack, "auth.test", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"ok": true, "url": "https://example.slack.com/", "team": "Example", "user": "reverb",
               "team_id": "T00000000", "user_id": "U0REVERB01", "bot_id": "B0123456789",
               "is_enterprise_install": false})
    );
    assert_eq!(
        header(&headers, "x-oauth-scopes"),
        Some(
            "chat:write,chat:write.public,users:read,users:read.email,im:write,channels:read,groups:read"
        )
    );
    assert_eq!(slack.scopes(), DEFAULT_SCOPES);

    slack.set_scopes(&["chat:write", "users:read"]);
    let (_, headers, _) = call_with_headers(&slack, "auth.test", &[]).await;
    assert_eq!(
        header(&headers, "x-oauth-scopes"),
        Some("chat:write,users:read")
    );

    // The control route, and reset back to the configured scopes.
    let set: Value = client()
        .post(format!("{}/_sandbox/scopes", slack.base_url()))
        .json(&json!({"scopes": ["users:read"]}))
        .send()
        .await
        .expect("scopes")
        .json()
        .await
        .expect("json");
    assert_eq!(set["scopes"], json!(["users:read"]));
    assert_eq!(slack.scopes(), ["users:read"]);
    slack.reset();
    assert_eq!(slack.scopes(), DEFAULT_SCOPES);

    // A bad token learns nothing about scopes.
    let response = client()
        .post(format!("{}/api/auth.test", slack.base_url()))
        .header("Authorization", "Bearer bogus")
        .send()
        .await
        .expect("request");
    assert!(response.headers().get("x-oauth-scopes").is_none());
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"ok": false, "error": "invalid_auth"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_scopes_gate_methods_and_the_email_field() {
    let slack = start_fake_slack(FakeSlackConfig {
        channel_rate_per_sec: 0.0,
        scopes: vec!["chat:write".to_owned(), "users:read".to_owned()],
        ..FakeSlackConfig::default()
    })
    .await
    .expect("slack");
    let (_, headers, answer) =
        call_with_headers(&slack, "users.info", &[("user", "U0JANE0001")]).await;
    assert_eq!(answer["ok"], true);
    assert!(
        answer["user"]["profile"].get("email").is_none(),
        "no users:read.email, no email: {answer}"
    );
    assert_eq!(answer["user"]["profile"]["real_name"], "Jane Doe");
    assert_eq!(
        header(&headers, "x-accepted-oauth-scopes"),
        Some("users:read")
    );

    let (status, _, refused) = call_with_headers(
        &slack,
        "users.lookupByEmail",
        &[("email", "jane@example.com")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        refused,
        json!({"ok": false, "error": "missing_scope", "needed": "users:read.email",
               "provided": "chat:write,users:read"})
    );
    let (_, _, info) =
        call_with_headers(&slack, "conversations.info", &[("channel", "C0ALERTS01")]).await;
    assert_eq!(info["error"], "missing_scope");
    assert_eq!(
        info["needed"],
        "channels:read,groups:read,mpim:read,im:read"
    );

    slack.set_scopes(&["users:read", "users:read.email"]);
    let jane = user(&slack, "U0JANE0001").await;
    assert_eq!(jane["profile"]["email"], "jane@example.com");
    let (_, _, post) = call_with_headers(
        &slack,
        "chat.postMessage",
        &[("channel", "general"), ("text", "x")],
    )
    .await;
    assert_eq!(post["error"], "missing_scope");
    assert_eq!(post["needed"], "chat:write");
    assert!(slack.posted("general").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_users_cover_guests_bots_deleted_external_and_odd_emails() {
    let slack = unlimited_slack().await;
    let viewer = user(&slack, "U0VIEWER01").await;
    assert_eq!(viewer["profile"]["email"], "viewer@example.com");
    assert_eq!(viewer["name"], "viewer");
    let admin = user(&slack, "U0ADMIN001").await;
    assert_eq!(admin["profile"]["email"], "admin@example.com");
    assert_eq!(
        admin["is_admin"], false,
        "a Spinnaker admin, not a Slack one"
    );

    let guest = user(&slack, "U0GUEST001").await;
    assert_eq!(
        (
            guest["is_restricted"].clone(),
            guest["is_ultra_restricted"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(guest["profile"]["email"], "guest@example.com");
    let single = user(&slack, "U0SGUEST01").await;
    assert_eq!(
        (
            single["is_restricted"].clone(),
            single["is_ultra_restricted"].clone()
        ),
        (json!(true), json!(true))
    );
    assert_eq!(single["profile"]["email"], "sguest@example.com");

    let gone = user(&slack, "U0GONE0001").await;
    assert_eq!(gone["deleted"], true);
    assert_eq!(gone["profile"]["email"], "gone@example.com");
    let bot = user(&slack, "U0BOT00001").await;
    assert_eq!(bot["is_bot"], true);
    assert!(bot["profile"].get("email").is_none());
    assert_eq!(bot["profile"]["bot_id"], "B0BOT00001");

    let external = user(&slack, "U0EXTERN01").await;
    assert_eq!(external["team_id"], OTHER_TEAM_ID);
    assert_eq!(external["profile"]["team"], OTHER_TEAM_ID);
    assert_eq!(external["profile"]["email"], "extern@other.example");
    assert!(
        external.get("is_stranger").is_none(),
        "in a shared channel with the app: not a stranger, only another team_id"
    );

    let weird = user(&slack, "U0WEIRD001").await;
    assert_eq!(weird["profile"]["email"], "  Jane.Doe@Example.COM ");
    let unicode = user(&slack, "U0UNICOD01").await;
    assert_eq!(unicode["profile"]["email"], "jöhn@exämple.com");
    assert_eq!(unicode["real_name"], "Jöhn Ümlaut");

    // The workspace's own members carry the workspace's team.
    for id in [
        "U0JANE0001",
        "U0JOHN0001",
        "U0MALLORY1",
        "U0NOEMAIL1",
        "U0REVERB01",
    ] {
        assert_eq!(user(&slack, id).await["team_id"], "T00000000", "{id}");
    }
    let (_, found) = call_form(
        &slack,
        "users.lookupByEmail",
        &[("token", TOKEN), ("email", "jane.doe@example.com")],
    )
    .await;
    assert_eq!(found["user"]["id"], "U0WEIRD001");

    // A real stranger (another workspace, no shared channel) is flagged.
    let mut stranger = SlackUser::new("U0STRANGE1", "stranger", "Stranger", None);
    stranger.team_id = "T0FAR00001".to_owned();
    stranger.is_stranger = true;
    slack.add_user(stranger);
    assert_eq!(user(&slack, "U0STRANGE1").await["is_stranger"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_info_can_be_rate_limited_or_lose_the_user() {
    let slack = unlimited_slack().await;
    slack.fail_next("users.info", 2, Failure::rate_limited());
    for _ in 0..2 {
        let (status, headers, answer) =
            call_with_headers(&slack, "users.info", &[("user", "U0JANE0001")]).await;
        assert_eq!(status, 429);
        assert_eq!(header(&headers, "retry-after"), Some("1"));
        assert_eq!(answer, json!({"ok": false, "error": "ratelimited"}));
    }
    slack.fail_next("users.info", 1, Failure::slack_error("user_not_found"));
    let (status, _, answer) =
        call_with_headers(&slack, "users.info", &[("user", "U0JANE0001")]).await;
    assert_eq!(
        (status, answer),
        (200, json!({"ok": false, "error": "user_not_found"}))
    );
    let (_, _, answer) = call_with_headers(&slack, "users.info", &[("user", "U0JANE0001")]).await;
    assert_eq!(answer["ok"], true, "faults are used up");
    let statuses: Vec<u16> = slack
        .calls_to("users.info")
        .iter()
        .map(|call| call.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200, 200]);
    assert_eq!(slack.rate_limited_count(), 2);

    // The same through the control API.
    let queued = client()
        .post(format!("{}/_sandbox/faults", slack.base_url()))
        .json(&json!({"method": "users.info", "times": 1, "http": 429}))
        .send()
        .await
        .expect("faults");
    assert_eq!(queued.status().as_u16(), 200);
    let (status, headers, _) =
        call_with_headers(&slack, "users.info", &[("user", "U0JANE0001")]).await;
    assert_eq!((status, header(&headers, "retry-after")), (429, Some("1")));
}
