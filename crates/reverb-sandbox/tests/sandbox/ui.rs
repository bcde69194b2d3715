//! The browser pages over real HTTP: what they serve, and that the page's click path sends a
//! correctly signed interactivity request.

use std::time::Duration;

use reverb_sandbox::{FakeOrcaConfig, eventually, sign, start_fake_orca, start_recorder};
use serde_json::{Value, json};

use crate::support::{call_json, client, unlimited_slack};

const CALLBACK_PATH: &str = "/notifications/callbacks/slack";

/// Reverb's judgment message: Block Kit inside one coloured attachment.
fn judgment_message() -> Value {
    let value = r#"{"a":"myapp","e":"01HEXEC","s":"2"}"#;
    json!({
        "channel": "#deploy-approvals",
        "text": "myapp: Approve production is awaiting manual judgment",
        "attachments": [{"color": "#2f80ed", "fallback": "judgment", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Approve production* <script>alert(1)</script>"}},
            {"type": "actions", "block_id": "reverb.judgment", "elements": [
                {"type": "button", "action_id": "reverb.judgment.continue", "text": {"type": "plain_text", "text": "Approve"}, "value": value, "style": "primary"},
                {"type": "button", "action_id": "reverb.judgment.stop", "text": {"type": "plain_text", "text": "Reject"}, "value": value, "style": "danger",
                 "confirm": {"title": {"type": "plain_text", "text": "Reject?"}, "text": {"type": "plain_text", "text": "Sure?"},
                             "confirm": {"type": "plain_text", "text": "Reject"}, "deny": {"type": "plain_text", "text": "Cancel"}}}
            ]}
        ]}]
    })
}

async fn get_text(url: &str) -> (u16, String, String) {
    let response = client().get(url).send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

/// The value of `attribute` on the first element whose markup contains `marker`.
fn attribute_near(html: &str, marker: &str, attribute: &str) -> String {
    let at = html.find(marker).expect("marker in page");
    let start = html[..at].rfind('<').expect("element start");
    let end = at + html[at..].find('>').expect("element end");
    let element = &html[start..end];
    let key = format!("{attribute}=\"");
    let from = element.find(&key).expect("attribute") + key.len();
    let to = from + element[from..].find('"').expect("closing quote");
    element[from..to].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_page_renders_channels_and_escaped_messages_without_logging_a_call() {
    let slack = unlimited_slack().await;
    let (status, _) = call_json(&slack, "chat.postMessage", &judgment_message()).await;
    assert_eq!(status, 200);
    let calls_before = slack.calls().len();

    let (status, content_type, page) = get_text(&format!("{}/", slack.base_url())).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        page.contains("#deploy-approvals"),
        "opens on the approvals channel"
    );
    assert!(page.contains(r#"<option value="U0JANE0001" selected>jane (Jane Doe)</option>"#));
    assert!(page.contains(r#"data-action="reverb.judgment.continue""#));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        !page.contains("<script>alert(1)"),
        "message markup is escaped"
    );
    assert!(page.contains("Buttons send a signed interactivity request to not set"));

    let (status, _, by_name) = get_text(&format!("{}/channels/deploys", slack.base_url())).await;
    assert_eq!(status, 200);
    assert!(by_name.contains(r#"data-channel="C0DEPLOYS01""#));
    let (status, _, missing) =
        get_text(&format!("{}/channels/%3Cscript%3E", slack.base_url())).await;
    assert_eq!(status, 404);
    assert!(missing.contains("&lt;script&gt;") && !missing.contains("<script>"));

    let view: Value = client()
        .get(format!(
            "{}/_sandbox/ui/view?channel=C0DEPLOY01&as=mallory",
            slack.base_url()
        ))
        .send()
        .await
        .expect("view")
        .json()
        .await
        .expect("json");
    assert_eq!(view["viewer"], "U0MALLORY1");
    assert_eq!(view["count"], 1);
    assert!(
        view["messages"]
            .as_str()
            .expect("html")
            .contains("Approve production")
    );

    // Pages and their polling are not Slack traffic.
    assert_eq!(slack.calls().len(), calls_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_picker_offers_every_person_who_can_click() {
    let slack = unlimited_slack().await;
    let (status, _, page) = get_text(&format!("{}/", slack.base_url())).await;
    assert_eq!(status, 200);
    for (id, label) in [
        ("U0VIEWER01", "viewer (Vic Viewer)"),
        ("U0ADMIN001", "admin (Ada Admin)"),
        ("U0GUEST001", "guest (Guest User)"),
        ("U0SGUEST01", "sguest (Single-Channel Guest)"),
        ("U0EXTERN01", "extern (External Person)"),
        ("U0WEIRD001", "jane.doe (Jane Doe (odd e-mail))"),
        ("U0UNICOD01", "john.u (Jöhn Ümlaut)"),
    ] {
        let option = format!(r#"<option value="{id}">{label}</option>"#);
        assert!(page.contains(&option), "{option} missing");
    }
    // Deleted users and bots cannot click.
    for id in ["U0GONE0001", "U0BOT00001", "U0REVERB01"] {
        assert!(!page.contains(&format!(r#"value="{id}""#)), "{id} offered");
    }
    let view: Value = client()
        .get(format!(
            "{}/_sandbox/ui/view?channel=C0DEPLOY01&as=U0EXTERN01",
            slack.base_url()
        ))
        .send()
        .await
        .expect("view")
        .json()
        .await
        .expect("json");
    assert_eq!(view["viewer"], "U0EXTERN01");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_click_path_sends_a_signed_block_actions_request() {
    let recorder = start_recorder(None).await.expect("recorder");
    let slack = unlimited_slack().await;
    slack.set_interactivity_url(Some(&format!("{}{CALLBACK_PATH}", recorder.base_url())));
    call_json(&slack, "chat.postMessage", &judgment_message()).await;

    // What the page's script reads from the Reject button and posts.
    let view: Value = client()
        .get(format!(
            "{}/_sandbox/ui/view?channel=C0DEPLOY01&as=jane",
            slack.base_url()
        ))
        .send()
        .await
        .expect("view")
        .json()
        .await
        .expect("json");
    let html = view["messages"].as_str().expect("html");
    let action = attribute_near(html, ">Reject</button>", "data-action");
    let ts = attribute_near(html, ">Reject</button>", "data-ts");
    let channel = attribute_near(html, ">Reject</button>", "data-channel");
    assert_eq!(action, "reverb.judgment.stop");
    assert_eq!(
        attribute_near(html, ">Reject</button>", "data-confirm-ok"),
        "Reject"
    );

    let answer: Value = client()
        .post(format!("{}/_sandbox/click", slack.base_url()))
        .json(&json!({"channel": channel, "ts": ts, "action": action, "user": view["viewer"]}))
        .send()
        .await
        .expect("click")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["status"], 200);

    let requests = recorder.requests_to(CALLBACK_PATH);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let timestamp = request
        .header("x-slack-request-timestamp")
        .expect("timestamp");
    assert_eq!(
        request.header("x-slack-signature"),
        Some(
            sign(
                slack.state().signing_secret(),
                timestamp.parse().expect("secs"),
                &request.body
            )
            .as_str()
        )
    );
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).expect("form");
    let payload: Value = serde_json::from_str(&fields[0].1).expect("payload");
    assert_eq!(payload["type"], "block_actions");
    assert_eq!(payload["user"]["id"], "U0JANE0001");
    assert_eq!(payload["actions"][0]["action_id"], "reverb.judgment.stop");
    assert_eq!(payload["actions"][0]["block_id"], "reverb.judgment");
    // Blocks inside an attachment: Slack says so in the container.
    assert_eq!(payload["container"]["type"], "message_attachment");
    assert_eq!(payload["container"]["attachment_id"], 1);
    assert_eq!(payload["container"]["message_ts"], ts.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn orca_page_lists_executions_and_judges_through_deck() {
    let orca = start_fake_orca(FakeOrcaConfig::default())
        .await
        .expect("orca");
    let (status, content_type, page) = get_text(&format!("{}/", orca.base_url())).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("No executions yet"));
    assert!(page.contains(r#"id="start-plain""#));

    let started: Value = client()
        .post(format!("{}/_sandbox/pipelines", orca.base_url()))
        .json(&json!({"judgmentInputs": ["ship", "hold"]}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let id = started["id"].as_str().expect("id").to_owned();

    // The page works while Orca itself is down (the controls are never down).
    orca.set_down(true);
    let view: Value = client()
        .get(format!("{}/_sandbox/ui/view", orca.base_url()))
        .send()
        .await
        .expect("view")
        .json()
        .await
        .expect("json");
    orca.set_down(false);
    let html = view["executions"].as_str().expect("html");
    assert!(
        html.contains(&format!(r#"data-execution="{id}""#)),
        "{html}"
    );
    assert!(html.contains(r#"data-decision="continue""#), "{html}");
    assert!(
        html.contains(r#"<option value="ship">ship</option>"#),
        "{html}"
    );

    // The page's Continue button: the judge control with the user field's value.
    let response = client()
        .post(format!("{}/_sandbox/pipelines/{id}/judge", orca.base_url()))
        .json(&json!({"decision": "continue", "user": "jane@example.com", "input": "ship"}))
        .send()
        .await
        .expect("judge");
    assert_eq!(response.status().as_u16(), 200);
    let finished = eventually(Duration::from_secs(10), || {
        orca.execution(&id)
            .filter(|execution| execution["status"] == "SUCCEEDED")
    })
    .await;
    assert!(
        finished.is_some(),
        "the pipeline finishes after a Deck judgment"
    );
    let (_, _, page) = get_text(&format!("{}/", orca.base_url())).await;
    assert!(
        page.contains("judged <b>continue</b> by jane@example.com (input <b>ship</b>)"),
        "{page}"
    );
    assert!(
        page.contains("&#8592; Deck"),
        "the activity log shows the PATCH"
    );
}
