//! Approvals you can trust, against the real binary: each attack of docs/security.md, with the
//! number of PATCHes Orca receives (zero where nothing may be judged, exactly one where a
//! judgment must be recorded).

use reverb_e2e::eventually;
use reverb_sandbox::{ClickRequest, Failure, FiatFailure, SamplePipeline, SlackStoredMessage};
use serde_json::{Value, json};

use crate::slackops::{self, Harness, Setup, block_buttons};

const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

const APPROVALS: &str = "#deploy-approvals";
const CALLBACK_PATH: &str = "/notifications/callbacks/slack";
const JANE: &str = "U0JANE0001";
const JOHN: &str = "U0JOHN0001";
const MALLORY: &str = "U0MALLORY1";
const CONTINUE: &str = "reverb.judgment.continue";

struct Pipeline {
    id: String,
    message: SlackStoredMessage,
}

async fn start_pipeline(h: &Harness) -> Pipeline {
    let id = h
        .orca
        .start_sample_pipeline_with(SamplePipeline::default())
        .await;
    let message = h
        .wait_message(APPROVALS, "the judgment message with buttons", |m| {
            !block_buttons(m).is_empty() && m.all_text().contains(&id)
        })
        .await;
    Pipeline { id, message }
}

fn setup(judgments: &str) -> Setup {
    Setup {
        judgments: judgments.to_owned(),
        ..Setup::interactive()
    }
}

fn with_fiat() -> Setup {
    Setup {
        fiat: true,
        ..Setup::interactive()
    }
}

/// Send a click as Slack would and expect Reverb's immediate 200.
async fn send_click(h: &Harness, request: ClickRequest) {
    let click = h.slack.build_click(&request).expect("click built");
    let status = post_signed(h, &click).await;
    assert_eq!(status, 200, "logs:\n{}", h.reverb.logs());
}

async fn post_signed(h: &Harness, click: &reverb_sandbox::SignedInteraction) -> u16 {
    h.reverb
        .http
        .post(h.reverb.url(CALLBACK_PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", click.timestamp.to_string())
        .header("X-Slack-Signature", &click.signature)
        .body(click.body.clone())
        .send()
        .await
        .expect("callback request")
        .status()
        .as_u16()
}

fn approve(p: &Pipeline, user: &str) -> ClickRequest {
    ClickRequest::new(APPROVALS, &p.message.ts, CONTINUE, user)
}

fn reverb_patches(h: &Harness) -> Vec<reverb_sandbox::OrcaPatch> {
    h.orca
        .patches()
        .into_iter()
        .filter(|p| !p.via_deck)
        .collect()
}

/// The private note Reverb sends the clicker, once it contains `needle`.
async fn told(h: &Harness, user: &str, needle: &str) -> String {
    h.wait_ephemeral(APPROVALS, user, |text| text.contains(needle))
        .await
        .all_text()
}

/// Wait until the click ended with `outcome` (the judgments counter says so).
async fn wait_outcome(h: &Harness, outcome: &str) {
    eventually(WAIT, &format!("a click that ended {outcome}"), || async {
        let count = h
            .reverb
            .metric(
                "reverb_judgments_total",
                &[("decision", "continue"), ("outcome", outcome)],
            )
            .await;
        (count >= 1.0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_cannot_make_reverb_judgment_buttons() {
    let h = Harness::start(Setup::interactive()).await;
    for service in ["reverb", "Reverb", "reverb:judgment"] {
        let forged = json!({
            "notificationType": "SLACK",
            "to": ["deploy-approvals"],
            "source": {"application": "payments"},
            "additionalContext": {"body": "Please acknowledge"},
            "interactiveActions": {
                "callbackServiceId": service,
                "callbackMessageId": "judgment",
                "actions": [{"type": "button", "name": "judgment.continue", "label": "Acknowledge",
                             "value": "{\"a\":\"payments\",\"e\":\"E\",\"s\":\"1\",\"d\":\"continue\"}"}]
            }
        });
        let (status, body) = h.notify(&forged).await;
        assert_eq!(status, 400, "{body}");
        let error: Value = serde_json::from_str(&body).expect("a JSON error");
        assert!(
            error["message"]
                .as_str()
                .unwrap_or_default()
                .contains("interactiveActions.callbackServiceId"),
            "{error}"
        );
    }
    assert!(h.slack.posted(APPROVALS).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_button_value_judges_nothing() {
    let h = Harness::start(Setup::interactive()).await;
    let p = start_pipeline(&h).await;
    // The old, unauthenticated value format, naming the real execution.
    let forged = format!(r#"{{"a":"myapp","e":"{}","s":"2"}}"#, p.id);
    send_click(&h, approve(&p, JANE).with_value(forged)).await;
    let note = told(&h, JANE, "Nothing was recorded").await;
    assert!(note.contains("not a judgment reference"), "{note}");
    // A minted value with one character changed.
    let real = block_buttons(&p.message)[0]["value"]
        .as_str()
        .expect("value")
        .to_owned();
    let tampered = real.replacen("rj1:c:", "rj1:s:", 1);
    send_click(&h, approve(&p, JOHN).with_value(tampered)).await;
    let note = told(&h, JOHN, "Nothing was recorded").await;
    assert!(note.contains("not issued by this Reverb"), "{note}");
    assert!(reverb_patches(&h).is_empty());
    assert!(
        h.slack.calls_to("users.info").is_empty(),
        "nobody was looked up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_button_on_another_message_judges_nothing() {
    let h = Harness::start(Setup::interactive()).await;
    let first = start_pipeline(&h).await;
    let second = start_pipeline(&h).await;
    // The first judgment's Approve, presented as a click on the second judgment's message.
    let value = block_buttons(&first.message)[0]["value"]
        .as_str()
        .expect("value")
        .to_owned();
    send_click(
        &h,
        approve(&second, JANE)
            .with_value(value)
            .claiming_message(APPROVALS, &second.message.ts),
    )
    .await;
    let note = told(&h, JANE, "Nothing was recorded").await;
    assert!(note.contains("not on the message Reverb posted"), "{note}");
    // A message some caller posted in another channel, carrying a copied real value.
    let (status, _) = h
        .notify(&json!({"notificationType": "SLACK", "to": ["general"],
                        "additionalContext": {"body": "hello"}}))
        .await;
    assert_eq!(status, 200);
    let other = h.wait_posted("#general", 1).await.remove(0);
    send_click(
        &h,
        approve(&first, JOHN).claiming_message("#general", &other.ts),
    )
    .await;
    wait_outcome(&h, "forged").await;
    assert!(reverb_patches(&h).is_empty());
    // The genuine click on the genuine message still works.
    send_click(&h, approve(&first, JANE)).await;
    eventually(WAIT, "Reverb's PATCH", || async {
        (reverb_patches(&h).len() == 1).then_some(())
    })
    .await;
    assert_eq!(reverb_patches(&h)[0].execution_id, first.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_fails_closed() {
    let h = Harness::start(Setup::interactive()).await;
    let p = start_pipeline(&h).await;
    let cases = [
        ("U0NOEMAIL1", "e-mail"),
        ("U0EXTERN01", "another organisation"),
        ("U0GUEST001", "guests may not judge"),
        ("U0SGUEST01", "guests may not judge"),
        ("U0GONE0001", "deactivated"),
        ("U0BOT00001", "bots and apps"),
        ("U0UNICOD01", "plain ASCII"),
    ];
    for (user, needle) in cases {
        send_click(&h, approve(&p, user)).await;
        let note = told(&h, user, "not recorded").await;
        assert!(note.contains(needle), "{user}: {note}");
    }
    // A click signed for another workspace.
    send_click(&h, approve(&p, JANE).from_team("T0EVIL0001")).await;
    let note = told(&h, JANE, "not recorded").await;
    assert!(
        note.contains("another than") || note.contains("other than"),
        "{note}"
    );
    assert!(reverb_patches(&h).is_empty(), "{:#?}", reverb_patches(&h));
}

#[tokio::test(flavor = "multi_thread")]
async fn users_info_is_retried_through_rate_limits_and_emails_are_normalised() {
    let h = Harness::start(Setup::interactive()).await;
    let p = start_pipeline(&h).await;
    h.slack.fail_next("users.info", 2, Failure::rate_limited());
    send_click(&h, approve(&p, "U0WEIRD001")).await;
    let patch = eventually(WAIT, "Reverb's PATCH", || async {
        reverb_patches(&h).into_iter().next()
    })
    .await;
    assert_eq!(patch.user.as_deref(), Some("jane.doe@example.com"));
    assert_eq!(h.slack.calls_to("users.info").len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_click_does_nothing() {
    let h = Harness::start(Setup::interactive()).await;
    let p = start_pipeline(&h).await;
    let click = h.slack.build_click(&approve(&p, JANE)).expect("click");
    for _ in 0..5 {
        assert_eq!(post_signed(&h, &click).await, 200);
    }
    eventually(WAIT, "the judgment recorded", || async {
        (h.reverb
            .metric(
                "reverb_judgments_total",
                &[("decision", "continue"), ("outcome", "recorded")],
            )
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    let replays = h
        .reverb
        .metric("reverb_callbacks_total", &[("outcome", "replay")])
        .await;
    assert_eq!(replays, 4.0, "{}", h.reverb.logs());
    assert_eq!(reverb_patches(&h).len(), 1);
    assert_eq!(h.slack.calls_to("users.info").len(), 1);

    // Keel: three copies of one click, one relay.
    let (status, _) = h
        .notify(&slackops::fixture("keel/notification-interactive"))
        .await;
    assert_eq!(status, 200);
    let message = h.wait_posted("#my-team", 1).await.remove(0);
    let keel_click = h
        .slack
        .build_click(&ClickRequest::new("#my-team", &message.ts, "Approve", JANE))
        .expect("click");
    for _ in 0..3 {
        assert_eq!(post_signed(&h, &keel_click).await, 200);
    }
    eventually(WAIT, "Keel's callback", || async {
        (!h.keel.requests_to("/notifications/callback").is_empty()).then_some(())
    })
    .await;
    eventually(WAIT, "the response_url rewrite", || async {
        (!h.slack.calls_to("response_url").is_empty()).then_some(())
    })
    .await;
    assert_eq!(h.keel.requests_to("/notifications/callback").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_click_accepted_before_a_crash_is_judged_once_after_the_restart() {
    let mut h = Harness::start(Setup::interactive()).await;
    let p = start_pipeline(&h).await;
    // Orca is slow: the click is stored and acknowledged, and still waiting for Orca when the
    // process dies.
    h.orca.set_delay(std::time::Duration::from_secs(30));
    send_click(&h, approve(&p, JANE)).await;
    h.crash_and_restart().await;
    assert!(reverb_patches(&h).is_empty());
    h.orca.set_delay(std::time::Duration::ZERO);
    let patch = eventually(WAIT, "the PATCH of the resumed click", || async {
        reverb_patches(&h).into_iter().next()
    })
    .await;
    assert_eq!(patch.user.as_deref(), Some("jane@example.com"));
    let ts = p.message.ts.clone();
    h.wait_message(APPROVALS, "the message to show the decision", |m| {
        m.ts == ts && m.edit_count > 0 && block_buttons(m).is_empty()
    })
    .await;
    assert_eq!(reverb_patches(&h).len(), 1);
    // Nobody is told "already being judged" by a claim the dead process held.
    let later = start_pipeline(&h).await;
    send_click(&h, approve(&later, JOHN)).await;
    eventually(WAIT, "the second PATCH", || async {
        (reverb_patches(&h).len() == 2).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fiat_decides_who_may_judge_and_the_patch_carries_the_judges_accounts() {
    let h = Harness::start(with_fiat()).await;
    let p = start_pipeline(&h).await;

    send_click(&h, approve(&p, "U0VIEWER01")).await;
    let note = told(&h, "U0VIEWER01", "not recorded").await;
    assert!(note.contains("EXECUTE"), "{note}");

    send_click(&h, approve(&p, MALLORY)).await;
    let note = told(&h, MALLORY, "not recorded").await;
    assert!(note.contains("release-managers"), "{note}");
    assert!(
        reverb_patches(&h).is_empty(),
        "refused before Orca is touched"
    );

    send_click(&h, approve(&p, JANE)).await;
    let patch = eventually(WAIT, "Reverb's PATCH", || async {
        reverb_patches(&h).into_iter().next()
    })
    .await;
    assert_eq!(patch.user.as_deref(), Some("jane@example.com"));
    assert_eq!(patch.accounts.as_deref(), Some("prod-aws,staging-aws"));
    assert_eq!(patch.status, 200);
    assert_eq!(reverb_patches(&h).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_passes_and_a_fiat_hiccup_is_retried() {
    let h = Harness::start(with_fiat()).await;
    let fiat = h.fiat.as_ref().expect("fake Fiat");
    let p = start_pipeline(&h).await;
    fiat.fail_next(2, FiatFailure::Status(503));
    send_click(&h, approve(&p, "U0ADMIN001")).await;
    let patch = eventually(WAIT, "Reverb's PATCH", || async {
        reverb_patches(&h).into_iter().next()
    })
    .await;
    assert_eq!(patch.user.as_deref(), Some("admin@example.com"));
    assert!(fiat.request_count("admin@example.com") >= 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn spinnaker_users_that_are_not_emails() {
    let users = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(users.path(), "U0JOHN0001: jdoe\n").expect("users file");
    let judgments = format!(
        "    spinnakerUser: localPart\n    usersFile: {}\n",
        users.path().display()
    );
    let h = Harness::start(setup(&judgments)).await;
    let first = start_pipeline(&h).await;
    send_click(&h, approve(&first, JANE)).await;
    let second = start_pipeline(&h).await;
    send_click(&h, approve(&second, JOHN)).await;
    let patches = eventually(WAIT, "two PATCHes", || async {
        let p = reverb_patches(&h);
        (p.len() == 2).then_some(p)
    })
    .await;
    let user_of = |execution: &str| {
        patches
            .iter()
            .find(|p| p.execution_id == execution)
            .and_then(|p| p.user.clone())
    };
    assert_eq!(user_of(&first.id).as_deref(), Some("jane"));
    assert_eq!(user_of(&second.id).as_deref(), Some("jdoe"));
}

#[test]
fn a_bad_users_file_stops_the_start_with_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let users = dir.path().join("users.yml");
    std::fs::write(&users, "U0JANE0001: jane\nnot-a-slack-id: x\n").expect("users file");
    std::fs::write(
        dir.path().join("echo.yml"),
        format!(
            "reverb:\n  judgments:\n    usersFile: {}\n",
            users.display()
        ),
    )
    .expect("config");
    let out = reverb_e2e::run_reverb(&["--config-dir", &dir.path().display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:", users.display())),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_the_email_scope_is_reported_and_the_clicker_told_why() {
    let h = Harness::start(Setup::interactive()).await;
    h.slack.set_scopes(&["chat:write", "users:read"]);
    // Reverb read the scopes at start, before they changed: restart to read them again.
    let mut h = h;
    h.restart().await;
    let health: Value = eventually(WAIT, "the Slack app check in /health", || async {
        let body: Value = h
            .reverb
            .http
            .get(h.reverb.url("/health"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        body["details"].get("slackApp").is_some().then_some(body)
    })
    .await;
    assert_eq!(
        health["details"]["slackApp"]["missingScopes"],
        json!(["users:read.email"])
    );
    assert!(h.reverb.logs().contains("users:read.email (disables"));
    let config_dir = h.reverb.config.path().display().to_string();
    let out = reverb_e2e::run_reverb(&["--config-dir", &config_dir, "config"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("# slack app token: workspace T00000000; missing users:read.email"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reverb.judgments.identityFallback = none"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reverb.judgments.spinnakerUser = email"),
        "{stdout}"
    );
    assert!(stdout.contains("services.fiat.enabled = false"), "{stdout}");
    let p = start_pipeline(&h).await;
    send_click(&h, approve(&p, JANE)).await;
    let note = told(&h, JANE, "not recorded").await;
    assert!(note.contains("add the `users:read.email` scope"), "{note}");
    assert!(reverb_patches(&h).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn buttons_stay_short_with_25_long_judgment_inputs() {
    let h = Harness::start(Setup::interactive()).await;
    let inputs: Vec<String> = (1..=25)
        .map(|i| {
            format!("option {i} ")
                .repeat(200)
                .chars()
                .take(2_000)
                .collect()
        })
        .collect();
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let id = h
        .orca
        .start_sample_pipeline_with(SamplePipeline::with_inputs(&refs))
        .await;
    let message = h
        .wait_message(APPROVALS, "the judgment message with buttons", |m| {
            !block_buttons(m).is_empty() && m.all_text().contains(&id)
        })
        .await;
    let buttons = block_buttons(&message);
    assert_eq!(buttons.len(), 25, "24 Approve buttons and Reject");
    for button in &buttons {
        let value = button["value"].as_str().expect("value");
        assert!(value.len() < 200, "{} characters", value.len());
    }
    let last = buttons[23]["action_id"]
        .as_str()
        .expect("action id")
        .to_owned();
    send_click(&h, ClickRequest::new(APPROVALS, &message.ts, &last, JANE)).await;
    let patch = eventually(WAIT, "Reverb's PATCH", || async {
        reverb_patches(&h).into_iter().next()
    })
    .await;
    assert_eq!(patch.body["judgmentStatus"], "continue");
    assert_eq!(patch.body["judgmentInput"], inputs[23].as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_may_let_guests_and_external_users_judge() {
    let h = Harness::start(setup(
        "    allowGuests: true\n    allowExternalUsers: true\n",
    ))
    .await;
    let first = start_pipeline(&h).await;
    send_click(&h, approve(&first, "U0GUEST001")).await;
    let second = start_pipeline(&h).await;
    send_click(&h, approve(&second, "U0EXTERN01")).await;
    let patches = eventually(WAIT, "two PATCHes", || async {
        let p = reverb_patches(&h);
        (p.len() == 2).then_some(p)
    })
    .await;
    let mut users: Vec<String> = patches.iter().filter_map(|p| p.user.clone()).collect();
    users.sort();
    assert_eq!(users, ["extern@other.example", "guest@example.com"]);
}
