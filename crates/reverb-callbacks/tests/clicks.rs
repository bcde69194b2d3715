//! Clicks end to end over real HTTP: the sandbox's fake Orca, Slack and Fiat and a recorder for
//! Keel, an in-memory store and the real delivery engine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::time::Duration;

use reverb_callbacks::{ClickOutcome, Decision, callback_service_id};
use reverb_config::IdentityFallback;
use reverb_model::judgment::{
    ButtonRef, Decision as ButtonDecision, InputChoice, LEGACY_CALLBACK_ID, judgment_key,
};
use reverb_sandbox::{Failure, FiatAuthorization, FiatPermissions, FiatUser};
use reverb_store::{JudgmentClaim, Store};
use serde_json::{Value, json};

use support::*;

fn key() -> String {
    judgment_key(EXECUTION_ID, "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_click_sends_decks_patch_as_the_clicker() {
    let h = Harness::start(Options::default()).await;
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    h.record_posted_message();

    let outcome = h
        .handler
        .handle(block_click(
            "U0JANE0001",
            "jane",
            Decision::Continue,
            Some("ship"),
        ))
        .await;
    assert_eq!(outcome, ClickOutcome::Recorded);

    let patches = h.patches();
    assert_eq!(patches.len(), 1);
    let patch = &patches[0];
    assert_eq!(
        (patch.execution_id.as_str(), patch.stage_id.as_str()),
        (EXECUTION_ID, STAGE_ID)
    );
    assert_eq!(
        patch.body,
        json!({"judgmentStatus": "continue", "judgmentInput": "ship"})
    );
    assert_eq!(patch.header("X-SPINNAKER-USER"), Some("jane@example.com"));
    assert_eq!(
        patch
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("X-SPINNAKER-USER"))
            .count(),
        1
    );
    assert!(
        patch
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(h.users_info_calls()[0].arg_str("user"), Some("U0JANE0001"));

    let updates = h.first_updates().await;
    assert_eq!(updates[0]["channel"], CHANNEL_ID);
    assert_eq!(updates[0]["ts"], "1712570401.000300");
    assert_eq!(
        updates[0]["text"],
        "Approve production continue by jane@example.com (input ship) note none"
    );
    let recorded = h.store.judgment_outcome(&key()).unwrap().expect("decided");
    let recorded: Value = serde_json::from_str(&recorded).unwrap();
    assert_eq!(recorded["decision"], "continue");
    assert_eq!(recorded["judged_by"], "jane@example.com");
    assert_eq!(recorded["slack_user_id"], "U0JANE0001");
    assert_eq!(
        recorded["link"],
        format!(
            "https://deck.example.com/#/applications/myapp/executions/details/{EXECUTION_ID}?refId=1"
        )
    );
    assert_eq!(h.judgment_count("continue", "recorded"), 1);
    assert!(
        h.ephemerals().is_empty(),
        "a recorded judgment needs no private note"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_click_by_the_same_person_does_not_patch_again() {
    let h = Harness::start(Options::default()).await;
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    h.record_posted_message();

    let click = block_click("U0JANE0001", "jane", Decision::Stop, None);
    assert_eq!(
        h.handler.handle(click.clone()).await,
        ClickOutcome::Recorded
    );
    assert_eq!(h.handler.handle(click).await, ClickOutcome::AlreadyJudged);

    assert_eq!(h.patches().len(), 1);
    assert_eq!(
        h.patches()[0].body,
        json!({"judgmentStatus": "stop", "judgmentInput": null})
    );
    let ephemerals = h.first_ephemerals().await;
    assert_eq!(ephemerals[0]["channel"], CHANNEL_ID);
    assert_eq!(ephemerals[0]["user"], "U0JANE0001");
    let text = ephemerals[0]["text"].as_str().unwrap();
    assert!(
        text.contains("already judged to *stop* by jane@example.com"),
        "{text}"
    );
    // Both clicks leave the message showing the recorded decision.
    let updates = wait_for("two message updates", || {
        let u = h.updates();
        (u.len() == 2).then_some(u)
    })
    .await;
    assert!(
        texts(&updates)
            .iter()
            .all(|t| t.starts_with("Approve production stop by jane@example.com"))
    );
    assert_eq!(h.judgment_count("stop", "already_judged"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clicks_produce_one_patch() {
    let h = Harness::start(Options::default()).await;
    h.record_posted_message();
    let people = ["U1", "U2", "U3", "U4", "U5", "U6"];
    for (i, id) in people.iter().enumerate() {
        h.slack.add_user(person(
            id,
            &format!("user{i}"),
            Some(&format!("user{i}@example.com")),
        ));
    }
    let clicks: Vec<_> = people
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let handler = h.handler.clone();
            let decision = if i % 2 == 0 {
                Decision::Continue
            } else {
                Decision::Stop
            };
            let click = block_click(id, &format!("user{i}"), decision, None);
            tokio::spawn(async move { handler.handle(click).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for c in clicks {
        outcomes.push(c.await.unwrap());
    }
    assert_eq!(h.patches().len(), 1, "outcomes: {outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == ClickOutcome::Recorded)
            .count(),
        1
    );
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            ClickOutcome::Recorded | ClickOutcome::InProgress | ClickOutcome::AlreadyJudged
        )),
        "{outcomes:?}"
    );
    let winner = h.patches()[0]
        .header("X-SPINNAKER-USER")
        .unwrap()
        .to_string();
    let recorded: Value =
        serde_json::from_str(&h.store.judgment_outcome(&key()).unwrap().unwrap()).unwrap();
    assert_eq!(recorded["judged_by"], winner.as_str());
    // Everyone who lost the race is told privately.
    wait_for("private notes to the other clickers", || {
        (h.ephemerals().len() == 5).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_click_on_a_judged_stage_does_not_patch() {
    let mut execution: Value = serde_json::from_str(EXECUTION_FIXTURE).unwrap();
    let stage = &mut execution["stages"][0];
    stage["status"] = json!("TERMINAL");
    stage["context"]["judgmentStatus"] = json!("stop");
    stage["context"]["judgmentInput"] = json!("hold");
    stage["context"]["lastModifiedBy"] = json!("bob@example.com");
    let h = Harness::with_execution(Options::default(), execution).await;
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    h.record_posted_message();

    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::AlreadyJudged);
    assert!(h.patches().is_empty());
    let updates = h.first_updates().await;
    assert_eq!(
        updates[0]["text"],
        "Approve production stop by bob@example.com (input hold) note already judged by bob@example.com"
    );
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("already judged to *stop* by bob@example.com")
    );
    let recorded: Value =
        serde_json::from_str(&h.store.judgment_outcome(&key()).unwrap().unwrap()).unwrap();
    assert_eq!(recorded["decision"], "stop");
    assert_eq!(h.judgment_count("continue", "already_judged"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_click_on_a_stage_that_ended_says_so() {
    let mut execution: Value = serde_json::from_str(EXECUTION_FIXTURE).unwrap();
    execution["stages"][0]["status"] = json!("CANCELED");
    let h = Harness::with_execution(Options::default(), execution).await;
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    h.record_posted_message();

    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::NotRunning);
    assert!(h.patches().is_empty());
    let updates = h.first_updates().await;
    assert_eq!(
        updates[0]["text"],
        "Approve production none by nobody (input none) note no longer running (CANCELED)"
    );
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("this stage is CANCELED")
    );
    assert_eq!(h.judgment_count("continue", "not_running"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orca_reverting_an_unauthorised_judgment_is_reported_and_releases_the_claim() {
    let h = Harness::start(Options {
        judges: vec!["boss@example.com".to_owned()],
        ..Options::default()
    })
    .await;
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    h.slack
        .add_user(person("U0BOSS0001", "boss", Some("boss@example.com")));
    h.record_posted_message();

    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::Reverted);
    assert_eq!(h.patches().len(), 1);
    assert_eq!(h.stage()["status"], "RUNNING");
    assert_eq!(
        h.store.judgment_outcome(&key()).unwrap(),
        None,
        "claim released"
    );
    let ephemerals = h.first_ephemerals().await;
    let text = ephemerals[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "Orca did not accept your judgment: you are not in a role allowed to judge this stage (allowed roles: release-managers)."
        ),
        "{text}"
    );
    assert_eq!(ephemerals[0]["user"], "U0JANE0001");
    assert_eq!(h.judgment_count("continue", "reverted"), 1);

    // Someone allowed to judge still can.
    let outcome = h
        .handler
        .handle(block_click("U0BOSS0001", "boss", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::Recorded);
    assert_eq!(h.patches().len(), 2);
    let updates = h.first_updates().await;
    assert_eq!(updates.len(), 1, "the revert left the message unchanged");
    assert!(
        updates[0]["text"]
            .as_str()
            .unwrap()
            .contains("continue by boss@example.com")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judgment_is_recorded_once_orca_comes_back() {
    let h = Harness::start(Options::default()).await;
    h.orca.fail_next(3);
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    h.record_posted_message();

    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::Recorded);
    assert!(
        h.orca_gets().len() >= 5,
        "three failed reads, one good, then the read-back"
    );
    assert_eq!(h.patches().len(), 1);
    let updates = h.first_updates().await;
    assert_eq!(
        updates[0]["text"],
        "Approve production continue by jane@example.com (input none) note none"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_on_a_message_reverb_did_not_post_judges_nothing() {
    let h = Harness::start(Options::default()).await;
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    // No recorded message for this judgment: the button is not on Reverb's message.
    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::Forged);
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("not on the message Reverb posted")
    );
    assert!(h.orca.requests().is_empty());
    assert!(h.users_info_calls().is_empty(), "nothing is looked up");
    assert_eq!(h.judgment_count("continue", "forged"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orca_down_for_too_long_releases_the_claim_and_keeps_the_buttons() {
    let h = Harness::start(Options {
        orca_retry_for: Duration::from_millis(600),
        ..Options::default()
    })
    .await;
    h.orca.set_down(true);
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    h.record_posted_message();

    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::OrcaError);
    assert!(h.patches().is_empty());
    assert!(h.orca_gets().len() >= 2, "retried");
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("Orca could not be reached")
    );
    assert!(h.updates().is_empty() && h.response_url_posts().is_empty());
    assert_eq!(
        h.store
            .claim_judgment(&key(), "probe", now_ms(), 60_000)
            .unwrap(),
        JudgmentClaim::Granted,
        "the claim was released"
    );
    assert_eq!(h.judgment_count("continue", "orca_error"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orca_refusing_the_patch_is_reported_with_its_reason() {
    // Orca checks with Fiat (Reverb does not): jane may read the application, not run it.
    let jane = FiatUser::new("jane@example.com")
        .with_roles(&[STAGE_ROLE])
        .with_application("myapp", &[FiatAuthorization::Read]);
    let h = Harness::start(Options {
        orca_fiat: Some(FiatPermissions::new(vec![jane])),
        ..Options::default()
    })
    .await;
    h.record_posted_message();
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));

    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Stop, None))
        .await;
    assert_eq!(outcome, ClickOutcome::OrcaError);
    assert_eq!(h.patches().len(), 1);
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("Orca refused it: you are not allowed to run this application's pipelines")
    );
    assert_eq!(h.store.judgment_outcome(&key()).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orcas_empty_200_without_effect_is_not_taken_for_success() {
    let h = Harness::start(Options {
        readback_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    h.orca.set_lose_patches(true);
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    h.record_posted_message();

    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::OrcaError);
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("Orca answered but did not store it")
    );
    assert!(h.updates().is_empty());
    assert_eq!(h.store.judgment_outcome(&key()).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_stage_can_be_judged_again() {
    let h = Harness::start(Options::default()).await;
    h.record_posted_message();
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    let click = block_click("U0JANE0001", "jane", Decision::Continue, None);
    assert_eq!(
        h.handler.handle(click.clone()).await,
        ClickOutcome::Recorded
    );

    // Deck's "restart stage": status back to RUNNING, judgmentStatus removed.
    h.change_execution(|execution| {
        let stage = &mut execution["stages"][0];
        stage["status"] = json!("RUNNING");
        let context = stage["context"].as_object_mut().unwrap();
        context.remove("judgmentStatus");
        context.remove("lastModifiedBy");
    });
    assert_eq!(h.handler.handle(click).await, ClickOutcome::Recorded);
    assert_eq!(h.patches().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_users_info_refuses_the_click_even_with_the_username_fallback() {
    let h = Harness::start(Options {
        identity_fallback: IdentityFallback::Username,
        ..Options::default()
    })
    .await;
    h.record_posted_message();
    h.slack.fail_next("users.info", 1_000, Failure::Http(500));

    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::NoIdentity);
    assert!(h.patches().is_empty());
    assert!(
        h.users_info_calls().len() > 1,
        "users.info is retried within the click's budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fallback_a_missing_email_refuses_the_click() {
    let h = Harness::start(Options {
        identity_fallback: IdentityFallback::None,
        ..Options::default()
    })
    .await;
    h.record_posted_message();
    h.slack.add_user(person("U0JANE0001", "jane", None));
    h.slack
        .add_user(person("U0BOB00001", "bob", Some("bob@example.com")));

    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::NoIdentity);
    // Bob's lookup is refused for a scope the token lacks.
    h.slack
        .fail_next("users.info", 1, Failure::slack_error("missing_scope"));
    let outcome = h
        .handler
        .handle(block_click("U0BOB00001", "bob", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::NoIdentity);
    assert!(h.patches().is_empty() && h.orca_gets().is_empty());
    let ephemerals = wait_for("two private notes", || {
        let e = h.ephemerals();
        (e.len() == 2).then_some(e)
    })
    .await;
    let by_user = |id: &str| {
        ephemerals
            .iter()
            .find(|e| e["user"] == id)
            .and_then(|e| e["text"].as_str())
            .unwrap()
            .to_string()
    };
    assert!(by_user("U0JANE0001").contains("Slack gives no e-mail address for you"));
    assert!(by_user("U0JANE0001").contains("users:read.email"));
    assert!(by_user("U0BOB00001").contains("add the `users:read` and `users:read.email` scopes"));
    assert_eq!(h.judgment_count("continue", "no_identity"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keel_round_trip_matches_echo() {
    let h = Harness::start(Options::default()).await;
    h.slack
        .add_user(person("USJ9YG2DT", "john.doe", Some("john@doe.com")));
    let click = keel_click();
    assert_eq!(callback_service_id(&click).as_deref(), Some("keel"));

    assert_eq!(h.handler.handle(click).await, ClickOutcome::Relayed);
    let calls = h.keel_callbacks();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].body_json().unwrap(),
        json!({
            "actionPerformed": {"type": "button", "name": "manual-judgement", "value": "OVERRIDE_PASS", "label": null},
            "serviceId": "keel",
            "messageId": "01DYNYK94DE4901K9P802DB4ZT",
            "user": "john@doe.com"
        })
    );
    assert_eq!(calls[0].header("X-SPINNAKER-USER"), Some("john@doe.com"));
    assert!(
        calls[0]
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );

    let posts = wait_for("the response_url rewrite", || {
        let p = h.response_url_posts();
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(
        posts[0].path,
        "/actions/T00000000/0123456789/abcdefgh1234567"
    );
    let body = &posts[0].args;
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["text"],
        "Manual approval required to deploy *myapp*\n\nUser <@USJ9YG2DT> clicked the *Approve* action."
    );
    assert!(attachment.get("actions").is_none());
    assert_eq!(attachment["callback_id"], "keel:01DYNYK94DE4901K9P802DB4ZT");
    assert_eq!(body["replace_original"], true);
    assert!(h.patches().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keel_callback_is_not_relayed_without_a_verified_identity() {
    // USJ9YG2DT is not in the fake Slack's workspace: users.info answers `user_not_found`.
    let h = Harness::start(Options::default()).await;

    assert_eq!(
        h.handler.handle(keel_click()).await,
        ClickOutcome::NoIdentity
    );
    assert!(h.keel_callbacks().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_to_an_unconfigured_service_tells_the_clicker() {
    let h = Harness::start(Options::default()).await;
    let mut payload: Value = serde_json::from_str(INTERACTIVE_FIXTURE).unwrap();
    payload["callback_id"] = json!("swabbie:123");
    let click = receive(&sign_payload(&payload));
    assert_eq!(callback_service_id(&click).as_deref(), Some("swabbie"));

    assert_eq!(h.handler.handle(click).await, ClickOutcome::RelayFailed);
    assert!(h.keel.requests().is_empty());
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("`swabbie.baseUrl`")
    );
    assert_eq!(ephemerals[0]["user"], "USJ9YG2DT");
    assert!(h.response_url_posts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_on_other_block_kit_buttons_are_ignored() {
    let h = Harness::start(Options::default()).await;
    let payload: Value = serde_json::from_str(BLOCK_ACTIONS_FIXTURE).unwrap();
    let click = receive(&sign_payload(&payload));
    assert_eq!(callback_service_id(&click), None);
    assert_eq!(h.handler.handle(click).await, ClickOutcome::Ignored);
    assert!(h.orca.requests().is_empty());
    assert!(h.users_info_calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_attachment_judgment_buttons_work_too() {
    let h = Harness::start(Options::default()).await;
    h.slack
        .add_user(person("USJ9YG2DT", "john.doe", Some("john@doe.com")));
    let mut payload: Value = serde_json::from_str(INTERACTIVE_FIXTURE).unwrap();
    payload["callback_id"] = json!(LEGACY_CALLBACK_ID);
    payload["actions"][0]["name"] = json!("judgment.stop");
    payload["actions"][0]["value"] = json!(minted_value(Decision::Stop, Some("hold")));
    payload["channel"]["id"] = json!(CHANNEL_ID);
    payload["message_ts"] = json!("1712570401.000300");
    h.record_posted_message();
    let click = receive(&sign_payload(&payload));
    assert_eq!(callback_service_id(&click), None);

    assert_eq!(h.handler.handle(click).await, ClickOutcome::Recorded);
    let patches = h.patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].body,
        json!({"judgmentStatus": "stop", "judgmentInput": "hold"})
    );
    assert_eq!(patches[0].header("X-SPINNAKER-USER"), Some("john@doe.com"));
    assert!(h.keel.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keel_callback_is_retried_while_keel_is_down() {
    let h = Harness::start(Options::default()).await;
    h.slack
        .add_user(person("USJ9YG2DT", "john.doe", Some("john@doe.com")));
    h.keel.fail_next(2, 503);

    assert_eq!(h.handler.handle(keel_click()).await, ClickOutcome::Relayed);
    assert_eq!(h.keel_callbacks().len(), 3);
    wait_for("the response_url rewrite", || {
        (!h.response_url_posts().is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fiat_down_means_no_judgment_and_the_clicker_is_told() {
    let h = Harness::start(Options {
        fiat: true,
        orca_retry_for: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let fiat = h.fiat.as_ref().unwrap();
    fiat.set_down(true);
    h.record_posted_message();
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::FiatError);
    assert!(h.patches().is_empty(), "never judged without the check");
    let asked = fiat
        .requests_for("jane@example.com")
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert!(asked > 1, "Fiat is asked again before giving up");
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("Fiat could not be reached")
    );
    // The claim is released: once Fiat answers, the same judgment can be made.
    assert_eq!(h.store.judgment_outcome(&key()).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fiat_unknown_user_is_refused_before_orca() {
    let h = Harness::start(Options {
        fiat: true,
        ..Options::default()
    })
    .await;
    // Fiat answers 404 for a user it does not know.
    assert!(h.fiat.as_ref().unwrap().remove_user("jane@example.com"));
    h.record_posted_message();
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::NotAuthorized);
    assert!(h.patches().is_empty());
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("does not know the user jane@example.com")
    );
}

fn fixture_reference(application: &str, input: Option<(usize, &str)>) -> ButtonRef {
    ButtonRef {
        decision: ButtonDecision::Continue,
        application: application.into(),
        execution_id: EXECUTION_ID.into(),
        stage_ref_id: "1".into(),
        input: input.map(|(index, text)| InputChoice::new(index, text)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_naming_another_application_than_orcas_judges_nothing() {
    let h = Harness::start(Options::default()).await;
    h.record_posted_message();
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    let click = block_click_on("U0JANE0001", "jane", &fixture_reference("payments", None));
    assert_eq!(h.handler.handle(click).await, ClickOutcome::Forged);
    assert!(h.patches().is_empty());
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("does not match the execution")
    );
    assert_eq!(
        h.store.judgment_outcome(&key()).unwrap(),
        None,
        "claim released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_that_changed_since_the_message_was_posted_judges_nothing() {
    let h = Harness::start(Options::default()).await;
    h.record_posted_message();
    h.slack
        .add_user(person("U0JANE0001", "jane", Some("jane@example.com")));
    // Position 1 of the fixture's inputs is "ship"; the button showed another text there.
    let stale = fixture_reference("myapp", Some((1, "ship it all")));
    let click = block_click_on("U0JANE0001", "jane", &stale);
    assert_eq!(h.handler.handle(click).await, ClickOutcome::NotRunning);
    assert!(h.patches().is_empty());
    let ephemerals = h.first_ephemerals().await;
    assert!(
        ephemerals[0]["text"]
            .as_str()
            .unwrap()
            .contains("judgment options changed")
    );
    // The same position with the text Orca lists is recorded with that text.
    let current = fixture_reference("myapp", Some((1, "ship")));
    let click = block_click_on("U0JANE0001", "jane", &current);
    assert_eq!(h.handler.handle(click).await, ClickOutcome::Recorded);
    assert_eq!(h.patches()[0].body["judgmentInput"], "ship");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_username_fallback_judges_a_verified_user_without_an_email() {
    let h = Harness::start(Options {
        identity_fallback: IdentityFallback::Username,
        ..Options::default()
    })
    .await;
    h.record_posted_message();
    h.slack.add_user(person("U0JANE0001", "jane", None));
    let outcome = h
        .handler
        .handle(block_click("U0JANE0001", "jane", Decision::Continue, None))
        .await;
    assert_eq!(outcome, ClickOutcome::Recorded);
    assert_eq!(h.patches()[0].header("X-SPINNAKER-USER"), Some("jane"));
    assert_eq!(
        h.patches()[0].header("X-SPINNAKER-ACCOUNTS"),
        None,
        "Fiat is off"
    );
}
