//! Rendering tests: what the pages show, and that nothing a message carries escapes as markup.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::directory::Directory;
use super::orca_view::executions;
use super::slack_view::{ChannelView, sidebar, timeline};
use crate::slack::{MessageOrigin, SlackChannel, SlackStoredMessage, SlackUser};

fn directory() -> Directory {
    let mut bot = SlackUser::new("U0REVERB01", "reverb", "Reverb", None);
    bot.is_bot = true;
    Directory::new(
        vec![
            SlackUser::new("U0JANE0001", "jane", "Jane Doe", Some("jane@example.com")),
            SlackUser::new("U0MALLORY1", "mallory", "Mallory", None),
            bot,
        ],
        vec![
            SlackChannel::public("C0DEPLOY01", "deploy-approvals"),
            SlackChannel::public("C0DEPLOYS01", "deploys"),
        ],
    )
}

fn message(ts: &str, text: &str) -> SlackStoredMessage {
    SlackStoredMessage {
        channel: "C0DEPLOY01".to_owned(),
        ts: ts.to_owned(),
        thread_ts: None,
        text: text.to_owned(),
        blocks: None,
        attachments: None,
        username: None,
        reply_broadcast: false,
        edit_count: 0,
        origin: MessageOrigin::PostMessage,
        visible_to: None,
        args: json!({}),
    }
}

/// Reverb's judgment message: Block Kit inside one coloured attachment (templates/layout.tera).
fn judgment_message(ts: &str) -> SlackStoredMessage {
    let value = r#"{"a":"myapp","e":"01HEXEC","s":"2"}"#;
    let mut message = message(ts, "myapp: Approve production is awaiting manual judgment");
    message.attachments = Some(json!([{
        "color": "#2f80ed",
        "fallback": "awaiting judgment",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Approve production* for <https://deck/#/applications/myapp|myapp>\nrequested by <@U0JANE0001>"}},
            {"type": "actions", "block_id": "reverb.judgment", "elements": [
                {"type": "button", "action_id": "reverb.judgment.continue", "text": {"type": "plain_text", "text": "Approve", "emoji": true}, "value": value, "style": "primary"},
                {"type": "button", "action_id": "reverb.judgment.stop", "text": {"type": "plain_text", "text": "Reject", "emoji": true}, "value": value, "style": "danger",
                 "confirm": {"title": {"type": "plain_text", "text": "Reject?"}, "text": {"type": "plain_text", "text": "Reject \"Approve production\" in deploy-prod? The stage will be judged to stop."},
                             "confirm": {"type": "plain_text", "text": "Reject"}, "deny": {"type": "plain_text", "text": "Cancel"}, "style": "danger"}}
            ]},
            {"type": "context", "elements": [{"type": "image", "image_url": "https://example.com/logo.png", "alt_text": "Spinnaker"}, {"type": "mrkdwn", "text": "Spinnaker"}]}
        ]
    }]));
    message
}

fn render(
    messages: &[SlackStoredMessage],
    ephemerals: &[SlackStoredMessage],
    viewer: &str,
) -> String {
    let directory = directory();
    let channel = SlackChannel::public("C0DEPLOY01", "deploy-approvals");
    let viewer = directory.viewer(Some(viewer)).expect("a viewer").clone();
    timeline(&ChannelView {
        channel: &channel,
        messages,
        ephemerals,
        viewer: &viewer,
        directory: &directory,
    })
}

#[test]
fn judgment_buttons_carry_their_click_address_and_confirm_dialog() {
    let html = render(&[judgment_message("1712570401.000100")], &[], "jane");
    assert!(
        html.contains(r#"data-action="reverb.judgment.continue""#),
        "{html}"
    );
    assert!(
        html.contains(r#"data-action="reverb.judgment.stop""#),
        "{html}"
    );
    assert!(html.contains(r#"data-ts="1712570401.000100""#), "{html}");
    assert!(html.contains(r#"class="sk-btn primary""#), "{html}");
    assert!(html.contains(r#"class="sk-btn danger""#), "{html}");
    assert!(html.contains(r#"data-confirm-ok="Reject""#), "{html}");
    assert!(
        html.contains(r#"data-confirm-text="Reject &quot;Approve production&quot; in deploy-prod? The stage will be judged to stop.""#),
        "{html}"
    );
    assert!(html.contains("border-left-color: #2f80ed"), "{html}");
    assert!(html.contains("<b>Approve production</b>"), "{html}");
    assert!(html.contains(">@jane</span>"), "{html}");
    // The top-level text is shown when there are no top-level blocks, as Slack does.
    assert!(html.contains("is awaiting manual judgment"), "{html}");
    // Images are never fetched.
    assert!(!html.contains("logo.png"), "{html}");
}

#[test]
fn legacy_attachment_buttons_with_one_value_are_told_apart() {
    // Keel-style: both buttons share name and value; only the label singles each out.
    let mut legacy = message("1712570402.000100", "Keel needs a decision");
    legacy.attachments = Some(json!([{
        "title": "Approve & deploy", "text": "*keel* wants to ship", "color": "good", "callback_id": "keel:1",
        "fields": [{"title": "Env", "value": "`prod`", "short": true}],
        "actions": [
            {"type": "button", "name": "judgment", "text": "Approve", "value": "same", "style": "primary"},
            {"type": "button", "name": "judgment", "text": "Reject", "value": "same", "style": "danger",
             "confirm": {"title": "Reject?", "text": "Really?", "ok_text": "Yes, reject", "dismiss_text": "No"}}
        ],
        "footer": "Spinnaker", "ts": 1_712_570_402
    }]));
    let html = render(&[legacy], &[], "jane");
    assert!(html.contains(r#"data-action="same""#), "{html}");
    assert!(html.contains(r#"data-action="Reject""#), "{html}");
    assert!(html.contains(r#"data-confirm-ok="Yes, reject""#), "{html}");
    assert!(html.contains("border-left-color: #2eb67d"), "{html}");
    assert!(html.contains("Approve &amp; deploy"), "{html}");
    assert!(html.contains("<code>prod</code>"), "{html}");
    assert!(html.contains(r#"class="att-field short""#), "{html}");
}

#[test]
fn edits_threads_and_ephemeral_messages() {
    let mut parent = message("1712570401.000100", "Deploy started");
    parent.edit_count = 1;
    let mut reply = message("1712570401.000200", "Stage *Build* complete");
    reply.thread_ts = Some(parent.ts.clone());
    let mut ephemeral = message("1712570401.000300", "Only mallory may see this");
    ephemeral.visible_to = Some("U0MALLORY1".to_owned());
    ephemeral.origin = MessageOrigin::PostEphemeral;
    let messages = [parent, reply];

    let for_jane = render(&messages, std::slice::from_ref(&ephemeral), "jane");
    assert!(for_jane.contains("(edited)"), "{for_jane}");
    assert!(for_jane.contains("1 reply"), "{for_jane}");
    let thread_at = for_jane.find(r#"class="thread""#).expect("a thread");
    let reply_at = for_jane
        .find("Stage <b>Build</b> complete")
        .expect("the reply");
    assert!(
        reply_at > thread_at,
        "the reply sits inside its thread: {for_jane}"
    );
    assert!(
        !for_jane.contains("Only mallory may see this"),
        "{for_jane}"
    );

    let for_mallory = render(&messages, &[ephemeral], "U0MALLORY1");
    assert!(
        for_mallory.contains("Only mallory may see this"),
        "{for_mallory}"
    );
    assert!(for_mallory.contains("Only visible to you"), "{for_mallory}");
}

#[test]
fn nothing_from_a_message_becomes_markup() {
    let mut hostile = message("1712570401.000100", "<script>alert(1)</script>");
    hostile.username = Some(r#""><img src=x onerror=alert(1)>"#.to_owned());
    hostile.blocks = Some(json!([
        {"type": "header", "text": {"type": "plain_text", "text": "<b>header</b>"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "<javascript:alert(1)|click me> </div><script>x</script>"},
         "accessory": {"type": "button", "action_id": "a\"b", "text": {"type": "plain_text", "text": "</button><script>y</script>"}, "url": "javascript:alert(2)"}},
        {"type": "actions", "elements": [{"type": "static_select", "action_id": "pick", "placeholder": {"type": "plain_text", "text": "<i>pick</i>"},
          "options": [{"text": {"type": "plain_text", "text": "<u>one</u>"}, "value": "\"><script>z</script>"}]}]},
        {"type": "<svg onload=alert(3)>"}
    ]));
    hostile.attachments = Some(json!([{
        "color": "red;background:url(javascript:alert(4))", "title": "<script>t</script>",
        "title_link": "javascript:alert(5)", "text": "<img src=x>",
        "actions": [{"type": "button", "name": "n", "text": "<script>q</script>", "value": "v",
                     "confirm": {"title": "\"'<>", "text": "<script>c</script>"}}]
    }]));
    let html = render(&[hostile], &[], "jane");
    for forbidden in [
        "<script",
        "<img",
        "<svg",
        "<b>header",
        "<i>pick",
        "<u>one",
        "javascript:",
        "onerror=alert(1)>",
    ] {
        assert!(!html.contains(forbidden), "{forbidden} leaked: {html}");
    }
    assert!(html.contains("&lt;b&gt;header&lt;/b&gt;"), "{html}");
    assert!(html.contains(r#"data-action="a&quot;b""#), "{html}");
    assert!(
        html.contains(r#"data-confirm-title="&quot;&#39;&lt;&gt;""#),
        "{html}"
    );
    assert!(html.contains("border-left-color: #dddddd"), "{html}");
}

#[test]
fn sidebar_lists_channels_with_counts_and_names_dms_by_user() {
    let directory = directory();
    let mut dm = SlackChannel::public("D0JANE0001", "directmessage");
    dm.is_im = true;
    dm.user = Some("U0JANE0001".to_owned());
    let mut evil = SlackChannel::public("C0EVIL0001", "<script>");
    evil.is_archived = true;
    let counts = vec![
        (SlackChannel::public("C0DEPLOY01", "deploy-approvals"), 2),
        (evil, 0),
        (dm, 1),
    ];
    let html = sidebar(&directory, &counts, "C0DEPLOY01");
    assert!(
        html.contains(r#"<a class="chan current" href="/channels/C0DEPLOY01""#),
        "{html}"
    );
    assert!(html.contains(r#"<span class="count">2</span>"#), "{html}");
    assert!(html.contains("@jane"), "{html}");
    assert!(html.contains("#&lt;script&gt;"), "{html}");
    assert!(html.contains("archived"), "{html}");
}

fn roles() -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "release-managers".to_owned(),
        vec!["jane@example.com".to_owned()],
    )])
}

/// Build → Manual Judgment (inputs ship/hold, role release-managers) → Deploy, as the sample.
fn sample_execution(application: &str) -> Value {
    let stage = |ref_id: &str, kind: &str, name: &str, context: Value| {
        json!({"id": format!("STAGE{ref_id}"), "refId": ref_id, "type": kind, "name": name,
               "status": "NOT_STARTED", "context": context})
    };
    json!({
        "id": "01HEXEC", "application": application, "name": "deploy-prod", "status": "RUNNING",
        "startTime": 1_712_570_401_000_i64, "endTime": null, "trigger": {"user": "jane@example.com"},
        "stages": [
            stage("1", "jenkins", "Build", json!({})),
            stage("2", "manualJudgment", "Approve production", json!({
                "instructions": "Check the canary <b>first</b>",
                "judgmentInputs": [{"value": "ship"}, {"value": "hold"}],
                "selectedStageRoles": ["release-managers"]})),
            stage("3", "deploy", "Deploy to prod", json!({})),
        ]
    })
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    if let Some(slot) = value.pointer_mut(pointer) {
        *slot = new;
    }
}

#[test]
fn orca_page_shows_stages_and_a_judge_form_for_a_running_judgment() {
    let mut execution = sample_execution("<b>app</b>");
    set(&mut execution, "/stages/0/status", json!("SUCCEEDED"));
    set(&mut execution, "/stages/1/status", json!("RUNNING"));
    let html = executions(&[execution.clone()], &roles());
    assert!(html.contains(r#"data-execution="01HEXEC""#), "{html}");
    assert!(
        html.contains(r#"data-ref="1" data-type="jenkins" data-status="SUCCEEDED""#),
        "{html}"
    );
    assert!(
        html.contains(r#"data-type="manualJudgment" data-status="RUNNING""#),
        "{html}"
    );
    assert!(html.contains(r#"data-decision="continue""#), "{html}");
    assert!(html.contains(r#"data-decision="stop""#), "{html}");
    assert!(
        html.contains(r#"<option value="ship">ship</option>"#),
        "{html}"
    );
    assert!(
        html.contains("release-managers (jane@example.com)"),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;app&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>app</b>"), "{html}");
    assert!(
        html.contains("Check the canary &lt;b&gt;first&lt;/b&gt;"),
        "{html}"
    );

    // Judged and finished: no form any more, the decision is shown.
    set(&mut execution, "/stages/1/status", json!("SUCCEEDED"));
    if let Some(context) = execution
        .pointer_mut("/stages/1/context")
        .and_then(Value::as_object_mut)
    {
        context.insert("judgmentStatus".into(), json!("continue"));
        context.insert("lastModifiedBy".into(), json!("jane@example.com"));
    }
    set(&mut execution, "/status", json!("SUCCEEDED"));
    let html = executions(&[execution], &roles());
    assert!(!html.contains("data-decision"), "{html}");
    assert!(
        html.contains("judged <b>continue</b> by jane@example.com"),
        "{html}"
    );
    assert!(html.contains(r#"data-status="SUCCEEDED""#), "{html}");
}

#[test]
fn a_reverted_judgment_is_pointed_out() {
    let mut execution = sample_execution("myapp");
    set(&mut execution, "/stages/1/status", json!("RUNNING"));
    if let Some(context) = execution
        .pointer_mut("/stages/1/context")
        .and_then(Value::as_object_mut)
    {
        context.insert("judgmentStatus".into(), json!(""));
        context.insert("lastModifiedBy".into(), json!("mallory@example.com"));
    }
    let html = executions(&[execution], &roles());
    assert!(
        html.contains("judgment by mallory@example.com reverted"),
        "{html}"
    );
    assert!(html.contains(r#"data-decision="continue""#), "{html}");
}

#[test]
fn a_crowded_channel_shows_its_newest_messages() {
    let messages: Vec<SlackStoredMessage> = (0..205)
        .map(|n| {
            message(
                &format!("1712570401.{n:06}"),
                &format!("message number {n}."),
            )
        })
        .collect();
    let html = render(&messages, &[], "jane");
    assert!(html.contains("5 older messages are not shown."), "{html}");
    assert!(!html.contains("message number 4."), "{html}");
    assert!(html.contains("message number 5."), "{html}");
    assert!(html.contains("message number 204."), "{html}");
}
