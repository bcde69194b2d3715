//! Approving and rejecting manual judgments from Slack, end to end: the fake Orca runs a sample
//! pipeline against the real binary, the fake Slack clicks like a user, and the PATCH Orca
//! receives is compared with Deck's (docs/echo-contract.md, "How Orca records a judgment").
//! Also Echo's legacy `interactive_message` round trip to Keel (docs/compatibility.md, "Echo's
//! interactive path (Keel)") and Slack's request signing (docs/echo-contract.md, "Request
//! signing"), including a body relayed by Gate, which re-encodes the form (docs/compatibility.md,
//! "Slack delivery"), and one signed by Slack's own SDK.

use std::future::ready;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reverb_e2e::eventually;
use reverb_sandbox::{
    ClickRequest, Judgment, SamplePipeline, SignedInteraction, SlackStoredMessage,
};
use serde_json::{Value, json};

use crate::slackops::{
    self, Harness, SIGNING_SECRET, Setup, WAIT, attachment, block_buttons, form_decode,
    java_url_encode, labels, now_secs,
};

const APPROVALS: &str = "#deploy-approvals";
const CALLBACK_PATH: &str = "/notifications/callbacks/slack";
const JANE: &str = "U0JANE0001";
const JOHN: &str = "U0JOHN0001";
const MALLORY: &str = "U0MALLORY1";
const CONTINUE: &str = "reverb.judgment.continue";
const STOP: &str = "reverb.judgment.stop";

/// A running sample pipeline and its judgment message.
struct Pipeline {
    id: String,
    /// The judgment stage's ULID (what the PATCH path names).
    stage_id: String,
    message: SlackStoredMessage,
}

async fn start_pipeline(h: &Harness, options: SamplePipeline) -> Pipeline {
    let id = h.orca.start_sample_pipeline_with(options).await;
    let stage_id = h
        .orca
        .stage(&id, "2")
        .and_then(|s| s["id"].as_str().map(str::to_owned))
        .expect("judgment stage");
    let message = h
        .wait_message(APPROVALS, "the judgment message with buttons", |m| {
            !block_buttons(m).is_empty() && m.all_text().contains(&id)
        })
        .await;
    Pipeline {
        id,
        stage_id,
        message,
    }
}

async fn interactive() -> Harness {
    Harness::start(Setup::interactive()).await
}

/// Click as Slack does and expect Reverb's immediate, empty 200.
async fn click(h: &Harness, ts: &str, action: &str, user: &str) {
    let response = h
        .slack
        .click(APPROVALS, ts, action, user)
        .await
        .expect("click sent");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, ""),
        "logs:\n{}",
        h.reverb.logs()
    );
}

/// Build a signed click now, to send later (the button may be gone by then).
fn build(h: &Harness, ts: &str, action: &str, user: &str) -> SignedInteraction {
    h.slack
        .build_click(&ClickRequest::new(APPROVALS, ts, action, user))
        .expect("click built")
}

/// POST a body to Reverb's callback route with Slack's headers (each optional).
async fn post_callback(
    h: &Harness,
    body: &str,
    timestamp: Option<i64>,
    signature: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = h
        .reverb
        .http
        .post(h.reverb.url(CALLBACK_PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(timestamp) = timestamp {
        request = request.header("X-Slack-Request-Timestamp", timestamp.to_string());
    }
    if let Some(signature) = signature {
        request = request.header("X-Slack-Signature", signature);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("callback request")
}

async fn send(h: &Harness, click: &SignedInteraction) -> reqwest::Response {
    post_callback(
        h,
        &click.body,
        Some(click.timestamp),
        Some(&click.signature),
        &[],
    )
    .await
}

/// Wait for the PATCHes Reverb sent (Deck's are left out).
async fn wait_patches(h: &Harness, count: usize) -> Vec<reverb_sandbox::OrcaPatch> {
    let what = format!("{count} PATCH(es) from Reverb");
    eventually(WAIT, h.waiting_for(&what), || {
        let patches = reverb_patches(h);
        ready((patches.len() >= count).then_some(patches))
    })
    .await
}

fn reverb_patches(h: &Harness) -> Vec<reverb_sandbox::OrcaPatch> {
    h.orca
        .patches()
        .into_iter()
        .filter(|p| !p.via_deck)
        .collect()
}

async fn wait_status(h: &Harness, execution: &str, status: &str) {
    let what = format!("execution {status}");
    eventually(WAIT, h.waiting_for(&what), || {
        ready(
            h.orca
                .execution(execution)
                .filter(|e| e["status"] == status),
        )
    })
    .await;
}

/// The `chat.update` that put the click's view on the judgment message: it names the clicker and
/// shows no buttons. Read from the calls, not the message: Orca's own "judged" notification
/// may edit the message again right after.
async fn wait_click_view(h: &Harness, p: &Pipeline, user_id: &str) -> String {
    let mention = format!("<@{user_id}>");
    let what = format!("a chat.update naming {mention}");
    let args = eventually(WAIT, h.waiting_for(&what), || {
        ready(
            h.slack
                .calls_to("chat.update")
                .into_iter()
                .find(|c| {
                    c.arg_str("ts") == Some(p.message.ts.as_str())
                        && c.args.to_string().contains(&mention)
                })
                .map(|c| c.args.to_string()),
        )
    })
    .await;
    assert!(
        !args.contains("\"actions\"") && !args.contains("reverb.judgment."),
        "buttons gone: {args}"
    );
    args
}

/// The judgment message once edited (buttons gone).
async fn wait_resolved(h: &Harness, p: &Pipeline, needle: &str) -> SlackStoredMessage {
    let ts = p.message.ts.clone();
    h.wait_message(
        APPROVALS,
        &format!("the judgment message to show {needle:?}"),
        |m| {
            m.ts == ts
                && m.edit_count > 0
                && block_buttons(m).is_empty()
                && m.all_text().contains(needle)
        },
    )
    .await
}

fn assert_deck_patch(patch: &reverb_sandbox::OrcaPatch, p: &Pipeline, body: Value, user: &str) {
    assert_eq!(patch.execution_id, p.id);
    assert_eq!(patch.stage_id, p.stage_id, "the stage ULID, not its refId");
    assert_eq!(patch.body, body);
    assert_eq!(patch.user.as_deref(), Some(user));
    assert_eq!(patch.header("x-spinnaker-user"), Some(user));
    assert_eq!(patch.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn approve_from_slack_records_the_judgment_and_the_pipeline_completes() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    assert_eq!(labels(&block_buttons(&p.message)), ["Approve", "Reject"]);

    click(&h, &p.message.ts, CONTINUE, JANE).await;
    let patches = wait_patches(&h, 1).await;
    assert_deck_patch(
        &patches[0],
        &p,
        json!({"judgmentStatus": "continue", "judgmentInput": null}),
        "jane@example.com",
    );

    let text = wait_click_view(&h, &p, JANE).await;
    assert!(
        text.contains("*Approved*: judged to *continue* by <@U0JANE0001> (jane@example.com)"),
        "{text}"
    );

    wait_status(&h, &p.id, "SUCCEEDED").await;
    h.wait_message("#deploys", "the completion message", |m| {
        m.text == "Pipeline complete for MYAPP"
    })
    .await;
    // Orca's own "judged" notification arrives too, as Echo would post it.
    h.wait_message(APPROVALS, "Echo's continue message", |m| {
        m.all_text()
            .contains("_was judged to *continue*_ by jane@example.com.")
    })
    .await;
    h.settle().await;
    assert_eq!(reverb_patches(&h).len(), 1);
    assert_eq!(
        h.reverb
            .metric(
                "reverb_judgments_total",
                &[("decision", "continue"), ("outcome", "recorded")]
            )
            .await,
        1.0
    );
}

/// Orca's `manualJudgmentContinue` notification and the stage event arrive while Reverb reads
/// the stage back after its PATCH; once the click is settled they must not replace its view.
#[tokio::test(flavor = "multi_thread")]
async fn the_clicks_view_outlives_orcas_judged_notification() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    click(&h, &p.message.ts, CONTINUE, JANE).await;
    wait_click_view(&h, &p, JANE).await;
    wait_status(&h, &p.id, "SUCCEEDED").await;
    h.settle().await;
    let message = h
        .slack
        .posted(APPROVALS)
        .into_iter()
        .find(|m| m.ts == p.message.ts)
        .expect("judgment message");
    assert!(
        message.all_text().contains("<@U0JANE0001>"),
        "{message:#?}\n{}",
        h.call_summary()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reject_with_its_confirmation_stops_the_pipeline() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    let buttons = block_buttons(&p.message);
    let reject = buttons
        .iter()
        .find(|b| b["action_id"] == STOP)
        .expect("Reject");
    assert_eq!(reject["confirm"]["confirm"]["text"], "Reject", "asks first");

    click(&h, &p.message.ts, STOP, JANE).await;
    let patches = wait_patches(&h, 1).await;
    assert_deck_patch(
        &patches[0],
        &p,
        json!({"judgmentStatus": "stop", "judgmentInput": null}),
        "jane@example.com",
    );
    let text = wait_click_view(&h, &p, JANE).await;
    assert!(
        text.contains("*Rejected*: judged to *stop* by <@U0JANE0001>"),
        "{text}"
    );
    wait_status(&h, &p.id, "TERMINAL").await;
    h.wait_message("#deploys", "the failure message", |m| {
        m.text == "Pipeline failed for MYAPP"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn approve_with_a_judgment_input_sends_it() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::with_inputs(&["ship", "hold"])).await;
    assert_eq!(
        labels(&block_buttons(&p.message)),
        ["Approve: ship", "Approve: hold", "Reject"]
    );
    click(&h, &p.message.ts, "Approve: hold", JANE).await;
    let patches = wait_patches(&h, 1).await;
    assert_deck_patch(
        &patches[0],
        &p,
        json!({"judgmentStatus": "continue", "judgmentInput": "hold"}),
        "jane@example.com",
    );
    let text = wait_click_view(&h, &p, JANE).await;
    assert!(text.contains("Option: *hold*"), "{text}");
    wait_status(&h, &p.id, "SUCCEEDED").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attachments_style_buttons_record_the_judgment_too() {
    let h = Harness::start(Setup {
        interactive: true,
        ..Setup::style("attachments")
    })
    .await;
    let id = h
        .orca
        .start_sample_pipeline_with(SamplePipeline::with_inputs(&["ship", "hold"]))
        .await;
    let message = h
        .wait_message(APPROVALS, "the judgment message with buttons", |m| {
            attachment(m)
                .get("actions")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        })
        .await;
    click(&h, &message.ts, "Approve: ship", JANE).await;
    let patches = wait_patches(&h, 1).await;
    assert_eq!(patches[0].execution_id, id);
    assert_eq!(
        patches[0].body,
        json!({"judgmentStatus": "continue", "judgmentInput": "ship"})
    );
    wait_status(&h, &id, "SUCCEEDED").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_double_click_patches_once_and_tells_the_clicker() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    let first = build(&h, &p.message.ts, CONTINUE, JANE);
    let second = build(&h, &p.message.ts, CONTINUE, JANE);
    assert_eq!(send(&h, &first).await.status(), 200);
    assert_eq!(send(&h, &second).await.status(), 200);
    h.wait_ephemeral(APPROVALS, JANE, |t| t.contains("already"))
        .await;
    wait_click_view(&h, &p, JANE).await;
    wait_status(&h, &p.id, "SUCCEEDED").await;
    h.settle().await;
    assert_eq!(reverb_patches(&h).len(), 1, "{:#?}", h.orca.patches());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_clicks_by_two_people_patch_once() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    let jane = build(&h, &p.message.ts, CONTINUE, JANE);
    let john = build(&h, &p.message.ts, CONTINUE, JOHN);
    let (a, b) = tokio::join!(send(&h, &jane), send(&h, &john));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));

    let patches = wait_patches(&h, 1).await;
    let winner = patches[0].user.clone().expect("a user");
    let (loser_id, winner_id) = match winner.as_str() {
        "jane@example.com" => (JOHN, JANE),
        "john@doe.com" => (JANE, JOHN),
        other => panic!("unexpected judge {other}"),
    };
    let told = h
        .wait_ephemeral(APPROVALS, loser_id, |t| t.contains("already"))
        .await;
    assert!(told.text.contains("already"), "{told:#?}");
    wait_click_view(&h, &p, winner_id).await;
    wait_status(&h, &p.id, "SUCCEEDED").await;
    h.settle().await;
    assert_eq!(reverb_patches(&h).len(), 1, "{:#?}", h.orca.patches());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_click_after_a_judgment_in_deck_does_not_patch() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    let late = build(&h, &p.message.ts, STOP, JANE);
    h.orca
        .judge(&p.id, Judgment::Continue, "john@doe.com", None)
        .expect("judged in Deck");
    wait_status(&h, &p.id, "SUCCEEDED").await;

    assert_eq!(send(&h, &late).await.status(), 200);
    let told = h
        .wait_ephemeral(APPROVALS, JANE, |t| t.contains("already judged"))
        .await;
    assert!(told.text.contains("john@doe.com"), "{told:#?}");
    let resolved = wait_resolved(&h, &p, "john@doe.com").await;
    assert!(resolved.all_text().contains("continue"), "{resolved:#?}");
    h.settle().await;
    assert!(reverb_patches(&h).is_empty(), "{:#?}", h.orca.patches());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthorised_judgment_is_reported_and_the_buttons_stay() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    click(&h, &p.message.ts, CONTINUE, MALLORY).await;
    let told = h
        .wait_ephemeral(APPROVALS, MALLORY, |t| t.contains("release-managers"))
        .await;
    assert!(told.text.contains("not in a role"), "{told:#?}");
    let patches = reverb_patches(&h);
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].user.as_deref(), Some("mallory@example.com"));
    let stage = h.orca.stage(&p.id, "2").expect("stage");
    assert_eq!(stage["status"], "RUNNING", "Orca reverted it");
    assert_eq!(stage["context"]["judgmentStatus"], "");
    let message = h
        .slack
        .posted(APPROVALS)
        .into_iter()
        .find(|m| m.ts == p.message.ts)
        .expect("judgment message");
    assert_eq!(message.edit_count, 0);
    assert_eq!(labels(&block_buttons(&message)), ["Approve", "Reject"]);

    click(&h, &p.message.ts, CONTINUE, JANE).await;
    let patches = wait_patches(&h, 2).await;
    assert_eq!(patches[1].user.as_deref(), Some("jane@example.com"));
    wait_click_view(&h, &p, JANE).await;
    wait_status(&h, &p.id, "SUCCEEDED").await;
    assert_eq!(
        h.reverb
            .metric(
                "reverb_judgments_total",
                &[("decision", "continue"), ("outcome", "reverted")]
            )
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_click_while_orca_is_down_is_recorded_once_it_is_back() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    h.orca.set_down(true);
    click(&h, &p.message.ts, CONTINUE, JANE).await;
    eventually(
        WAIT,
        h.waiting_for("Reverb to find Orca down and retry"),
        || {
            let logs = h.reverb.logs();
            let retried = logs.lines().any(|l| {
                l.contains("call failed; retrying")
                    && l.contains("call=\"orca\"")
                    && l.contains("reason=unreachable")
            });
            ready(retried.then_some(()))
        },
    )
    .await;
    assert!(reverb_patches(&h).is_empty());
    h.orca.set_down(false);
    let patches = wait_patches(&h, 1).await;
    assert_deck_patch(
        &patches[0],
        &p,
        json!({"judgmentStatus": "continue", "judgmentInput": null}),
        "jane@example.com",
    );
    wait_click_view(&h, &p, JANE).await;
    wait_status(&h, &p.id, "SUCCEEDED").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_judgment_made_in_deck_updates_the_slack_message() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    h.orca
        .judge(&p.id, Judgment::Stop, "john@doe.com", None)
        .expect("judged in Deck");
    let resolved = wait_resolved(&h, &p, "john@doe.com").await;
    assert!(
        resolved.all_text().contains("*Rejected*: judged to *stop*"),
        "{resolved:#?}"
    );
    wait_status(&h, &p.id, "TERMINAL").await;
    h.settle().await;
    assert!(reverb_patches(&h).is_empty());
}

async fn assert_unauthorised(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 401, "{what}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{what}"
    );
    let body: Value = response.json().await.expect("JSON error");
    assert_eq!(body["status"], 401, "{what}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_stale_and_unsigned_callbacks_are_refused() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    let ts = p.message.ts.clone();
    let request = ClickRequest::new(APPROVALS, &ts, CONTINUE, JANE);

    let forged = h
        .slack
        .build_click(&request.clone().signed_with("not-the-signing-secret"))
        .expect("click");
    assert_unauthorised(send(&h, &forged).await, "wrong secret").await;

    let stale = h
        .slack
        .build_click(&request.clone().at_timestamp(now_secs() - 301))
        .expect("click");
    assert_unauthorised(send(&h, &stale).await, "5 minutes old").await;
    let future = h
        .slack
        .build_click(&request.clone().at_timestamp(now_secs() + 301))
        .expect("click");
    assert_unauthorised(send(&h, &future).await, "5 minutes ahead").await;

    let good = build(&h, &ts, CONTINUE, JANE);
    assert_unauthorised(
        post_callback(&h, &good.body, Some(good.timestamp), None, &[]).await,
        "no signature",
    )
    .await;
    assert_unauthorised(
        post_callback(&h, &good.body, None, Some(&good.signature), &[]).await,
        "no timestamp",
    )
    .await;
    assert_unauthorised(
        post_callback(
            &h,
            &format!("{}x", good.body),
            Some(good.timestamp),
            Some(&good.signature),
            &[],
        )
        .await,
        "a body changed after signing",
    )
    .await;

    // Other sources are not registered; callbacks are form posts.
    let response = h
        .reverb
        .http
        .post(h.reverb.url("/notifications/callbacks/teams"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", good.timestamp.to_string())
        .header("X-Slack-Signature", &good.signature)
        .body(good.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("JSON 404");
    assert_eq!(body["status"], 404);
    let response = h
        .reverb
        .http
        .post(h.reverb.url(CALLBACK_PATH))
        .header("content-type", "application/json")
        .header("X-Slack-Request-Timestamp", good.timestamp.to_string())
        .header("X-Slack-Signature", &good.signature)
        .body(json!({"payload": good.payload}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.expect("JSON 415");
    assert_eq!(body["status"], 415);

    assert!(reverb_patches(&h).is_empty(), "{:#?}", h.orca.patches());
    // A genuine click with a spoofed X-SPINNAKER-USER (anyone can send it through Gate) still
    // judges as the clicker: the only PATCH is jane's.
    let response = post_callback(
        &h,
        &good.body,
        Some(good.timestamp),
        Some(&good.signature),
        &[("X-SPINNAKER-USER", "admin")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let patches = wait_patches(&h, 1).await;
    assert_deck_patch(
        &patches[0],
        &p,
        json!({"judgmentStatus": "continue", "judgmentInput": null}),
        "jane@example.com",
    );
    wait_status(&h, &p.id, "SUCCEEDED").await;
    h.settle().await;
    assert_eq!(reverb_patches(&h).len(), 1);
    assert!(
        h.reverb
            .metric("reverb_callbacks_total", &[("outcome", "bad_signature")])
            .await
            >= 4.0
    );
    assert!(
        h.reverb
            .metric("reverb_callbacks_total", &[("outcome", "stale_timestamp")])
            .await
            >= 2.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_relayed_by_gate_is_accepted() {
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    let click = build(&h, &p.message.ts, CONTINUE, JANE);
    // Gate (Spring) rebuilds the form from the parsed parameters with Java's URLEncoder: `*` is
    // left literal where Slack sent `%2A`. Slack's signature covers Slack's own encoding.
    let encoded = click.body.strip_prefix("payload=").expect("payload field");
    let relayed = format!("payload={}", java_url_encode(&form_decode(encoded)));
    assert_ne!(relayed, click.body);
    assert!(
        relayed.contains('*'),
        "the payload has bold text to re-encode"
    );
    assert_eq!(relayed.replace('*', "%2A"), click.body, "only `*` differs");
    let response = post_callback(
        &h,
        &relayed,
        Some(click.timestamp),
        Some(&click.signature),
        &[(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )],
    )
    .await;
    assert_eq!(response.status(), 200, "logs:\n{}", h.reverb.logs());
    let patches = wait_patches(&h, 1).await;
    assert_eq!(patches[0].user.as_deref(), Some("jane@example.com"));
    wait_status(&h, &p.id, "SUCCEEDED").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keel_buttons_round_trip_like_echo() {
    let h = interactive().await;
    let notification = slackops::fixture("keel/notification-interactive");
    let (status, _) = h.notify(&notification).await;
    assert_eq!(status, 200);
    let message = h.wait_posted("#my-team", 1).await.remove(0);
    let original_text = attachment(&message)["text"]
        .as_str()
        .expect("text")
        .to_owned();

    let response = h
        .slack
        .click("#my-team", &message.ts, "Approve", JANE)
        .await
        .expect("click");
    assert_eq!(response.status(), 200);

    let keel = &h.keel;
    let request = eventually(WAIT, h.waiting_for("Keel's callback"), || {
        ready(
            keel.requests_to("/notifications/callback")
                .into_iter()
                .next(),
        )
    })
    .await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("x-spinnaker-user"), Some("jane@example.com"));
    assert!(
        request
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let body = request.body_json().expect("JSON callback");
    assert_eq!(body["serviceId"], "keel");
    assert_eq!(body["messageId"], "01DYNYK94DE4901K9P802DB4ZT");
    assert_eq!(body["user"], "jane@example.com");
    let action = &body["actionPerformed"];
    assert_eq!(action["type"], "button");
    assert_eq!(action["name"], "manual-judgement");
    assert_eq!(action["value"], "OVERRIDE_PASS");

    let ts = message.ts.clone();
    let rewritten = h
        .wait_message("#my-team", "Echo's rewrite through response_url", |m| {
            m.ts == ts && m.edit_count > 0
        })
        .await;
    let attachment = attachment(&rewritten);
    assert_eq!(
        attachment["text"],
        format!("{original_text}\n\nUser <@U0JANE0001> clicked the *Approve* action.").as_str()
    );
    assert!(attachment.get("actions").is_none(), "{attachment:#?}");
    assert_eq!(h.slack.calls_to("response_url").len(), 1);
    assert_eq!(keel.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_for_a_service_without_a_base_url_is_400() {
    let h = Harness::start(Setup {
        keel: false,
        ..Setup::interactive()
    })
    .await;
    let (status, _) = h
        .notify(&slackops::fixture("keel/notification-interactive"))
        .await;
    assert_eq!(status, 200);
    let message = h.wait_posted("#my-team", 1).await.remove(0);
    let response = h
        .slack
        .click("#my-team", &message.ts, "Approve", JANE)
        .await
        .expect("click");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON 400");
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("keel")),
        "{body}"
    );
    assert!(h.keel.requests().is_empty());
}

/// `target/sdk-venv` with slack-sdk installed (created on first use).
fn sdk_python() -> PathBuf {
    const VERSION: &str = "3.48.0";
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let venv = target.join("sdk-venv");
    let python = venv.join("bin/python");
    let check = format!("import slack_sdk.version as v; assert v.__version__ == '{VERSION}'");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", &check])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return python;
    }
    let run = |cmd: &mut Command, what: &str| {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
        assert!(
            out.status.success(),
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "creating the venv for Slack's SDK (python3 -m venv)",
    );
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("slack-sdk=={VERSION}")),
        "installing slack-sdk into target/sdk-venv",
    );
    assert!(
        ready(&python),
        "slack-sdk {VERSION} is not importable after install"
    );
    python
}

/// Slack's Python SDK signs `body` at `timestamp`.
fn sdk_signature(python: &Path, timestamp: i64, body: &str) -> String {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/slack_sdk_signature.py");
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the SDK script");
    let input = json!({"secret": SIGNING_SECRET, "timestamp": timestamp, "body": body});
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to the SDK script");
    let out = child.wait_with_output().expect("SDK script output");
    assert!(
        out.status.success(),
        "slack_sdk_signature.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn callbacks_signed_by_slacks_own_sdk_are_accepted() {
    let python = tokio::task::spawn_blocking(sdk_python)
        .await
        .expect("venv setup");
    let h = interactive().await;
    let p = start_pipeline(&h, SamplePipeline::default()).await;
    let click = build(&h, &p.message.ts, CONTINUE, JANE);
    let timestamp = now_secs();
    let (body, altered) = (click.body.clone(), format!("{}&x=1", click.body));
    let signature = {
        let python = python.clone();
        let body = body.clone();
        tokio::task::spawn_blocking(move || sdk_signature(&python, timestamp, &body))
            .await
            .expect("SDK signature")
    };
    assert!(signature.starts_with("v0="), "{signature}");
    // The fake Slack signs exactly as the SDK does.
    assert_eq!(
        signature,
        reverb_sandbox::sign(SIGNING_SECRET, timestamp, body.as_bytes())
    );

    assert_unauthorised(
        post_callback(&h, &altered, Some(timestamp), Some(&signature), &[]).await,
        "altered after signing",
    )
    .await;
    let response = post_callback(&h, &body, Some(timestamp), Some(&signature), &[]).await;
    assert_eq!(response.status(), 200, "logs:\n{}", h.reverb.logs());
    let patches = wait_patches(&h, 1).await;
    assert_eq!(patches[0].user.as_deref(), Some("jane@example.com"));
    wait_status(&h, &p.id, "SUCCEEDED").await;
}
